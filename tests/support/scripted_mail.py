"""A real SMTP server (aiosmtpd) that answers as a test scripts it: refuse a recipient with
a 4xx or 5xx reply, or hold the reply to the message body until the test releases it."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Callable
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.support.mail import MailSink, _Collector

# Given the address and how many times it was offered before, the reply to refuse it
# with ("451 4.3.0 try again later"), or None to accept it.
RecipientScript = Callable[[str, int], str | None]


class _ScriptedCollector(_Collector):
    def __init__(self, script: RecipientScript | None) -> None:
        super().__init__()
        self.script = script
        self.offered: dict[str, int] = {}
        self.hold: threading.Event | None = None
        self.body_arrived = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.lock:
            before = self.offered.get(address, 0)
            self.offered[address] = before + 1
        reply = self.script(address, before) if self.script else None
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        self.body_arrived.set()
        if self.hold is not None:
            await asyncio.to_thread(self.hold.wait, 60)
        return "250 OK"


class ScriptedMailSink(MailSink):
    """MailSink's API (messages, to, wait_for) with a script for recipients and an
    optional hold on the final reply; `offered` counts RCPT commands per address."""

    def __init__(self, port: int, script: RecipientScript | None = None) -> None:
        self.port = port
        self._collector = _ScriptedCollector(script)
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=port)

    @property
    def collector(self) -> _ScriptedCollector:
        return self._collector

    def hold_replies(self) -> threading.Event:
        """From now on the server keeps each message without answering until the returned
        event is set; `collector.body_arrived` tells when a body is in."""
        self._collector.hold = threading.Event()
        self._collector.body_arrived.clear()
        return self._collector.hold

    def offered(self, address: str) -> int:
        with self._collector.lock:
            return self._collector.offered.get(address, 0)

    @property
    def messages(self) -> list[EmailMessage]:
        with self._collector.lock:
            return list(self._collector.messages)
