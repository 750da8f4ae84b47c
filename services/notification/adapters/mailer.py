"""E-mail over SMTP. smtplib runs in a worker thread so the event loop never blocks."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.notification.domain.messages import Message


class SmtpMailer:
    def __init__(
        self, *, host: str, port: int, sender: str, timeout: float = 10.0, attempts: int = 3
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._timeout = timeout
        self.attempts = attempts

    def _send_now(self, message: Message, message_id: str) -> None:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Message-ID"] = message_id
        mail.set_content(message.body, charset="utf-8")
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.send_message(mail)

    async def send(self, message: Message, *, delivery_id: str) -> int:
        """Send with retries; returns the number of attempts it took."""
        message_id = make_msgid(idstring=delivery_id.replace(":", "."), domain="huiyin")
        attempts = 0
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((OSError, smtplib.SMTPException)),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.2, max=2),
            reraise=True,
        ):
            with attempt:
                attempts += 1
                await asyncio.to_thread(self._send_now, message, message_id)
        return attempts
