"""E-mail over SMTP, one attempt per call. smtplib runs in a worker thread so the event
loop never blocks.

An attempt ends at the server's reply to the message body: that reply is the earliest
moment the outcome is known, so `send` returns right then and the polite QUIT runs after,
in the background, where its errors cannot turn an accepted mail into a failure (smtplib's
context manager raises if QUIT gets anything but 221, after the server already has the
message). Every attempt of one delivery carries the same Message-ID, so a mail system can
drop the copy a resend after an unknown outcome may produce.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from email.message import EmailMessage
from email.utils import parseaddr
from typing import TYPE_CHECKING

from services.notification.delivery_policy import SendFailure, classify
from services.notification.domain.messages import Message

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

log = logging.getLogger(__name__)


class SendFailed(Exception):
    """One attempt did not deliver; `failure` says whether trying again can help."""

    def __init__(self, failure: SendFailure) -> None:
        self.failure = failure
        super().__init__(failure.reason)


class _Session(smtplib.SMTP):
    """Knows whether the message body may have reached the server."""

    body_sent = False

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        self.body_sent = True
        return super().data(msg)


def message_id_for(delivery_id: str, sender: str) -> str:
    """The same for every attempt of one delivery: `<{event}.{role}[.{staff}]@{domain}>`."""
    domain = parseaddr(sender)[1].partition("@")[2] or "huiyin"
    return f"<{delivery_id.replace(':', '.')}@{domain}>"


def quit_quietly(session: smtplib.SMTP) -> None:
    try:
        session.quit()
    except (OSError, smtplib.SMTPException):
        session.close()


def compose(message: Message, *, to: str | None, sender: str, message_id: str) -> EmailMessage:
    if not to:
        raise ValueError("the message has no e-mail address")
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = message.subject
    mail["Message-ID"] = message_id
    mail.set_content(message.body, charset="utf-8")
    return mail


def transmit(
    message: Message,
    *,
    to: str | None,
    sender: str,
    message_id: str,
    host: str,
    port: int,
    timeout: float,
) -> smtplib.SMTP:
    """One attempt, blocking; returns the open session once the server accepted the
    message (QUIT is the caller's), raises SendFailed otherwise."""
    try:
        mail = compose(message, to=to, sender=sender, message_id=message_id)
    except Exception as error:
        raise SendFailed(classify(error, body_sent=False)) from error
    session = _Session(timeout=timeout)
    try:
        session.connect(host, port)
        session.send_message(mail)
    except Exception as error:
        session.close()
        raise SendFailed(classify(error, body_sent=session.body_sent)) from error
    return session


class SmtpMailer:
    def __init__(self, *, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._timeout = timeout
        self._closing: set[asyncio.Future[None]] = set()

    def message_id(self, delivery_id: str) -> str:
        return message_id_for(delivery_id, self._sender)

    def _transmit(self, message: Message, message_id: str) -> smtplib.SMTP:
        return transmit(
            message,
            to=message.to,
            sender=self._sender,
            message_id=message_id,
            host=self._host,
            port=self._port,
            timeout=self._timeout,
        )

    async def send(self, message: Message, *, message_id: str) -> None:
        """Returns once the server has accepted the message; raises SendFailed otherwise."""
        session = await asyncio.to_thread(self._transmit, message, message_id)
        closing = asyncio.ensure_future(asyncio.to_thread(quit_quietly, session))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Let the QUITs still under way finish (each bounded by the socket timeout)."""
        if self._closing:
            with contextlib.suppress(Exception):
                await asyncio.wait(set(self._closing), timeout=self._timeout)
