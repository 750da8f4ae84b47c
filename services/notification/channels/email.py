"""E-mail over SMTP, one blocking attempt per call: the mailer's transmit and its reading
of SMTP replies (delivery_policy.classify). Every attempt of one delivery carries the same
Message-ID, so a mail system drops the copy a resend after an unknown outcome may make."""

from __future__ import annotations

from services.notification.adapters.mailer import (
    SendFailed,
    message_id_for,
    quit_quietly,
    transmit,
)
from services.notification.delivery_policy import (
    SENT,
    FailureKind,
    SendFailure,
    SendResult,
)
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message
from shared.contracts import DeliveryChannel


class EmailChannel:
    code = DeliveryChannel.EMAIL
    resend_after_unknown = True  # same Message-ID

    def __init__(self, *, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self._host, self._port, self._sender, self._timeout = host, port, sender, timeout

    def message_id(self, delivery_id: str) -> str:
        return message_id_for(delivery_id, self._sender)

    def send(self, message: Message, address: Address, *, delivery_id: str) -> SendResult:
        if not address.to:
            return SendResult(SendFailure(FailureKind.PERMANENT, "no_address"))
        try:
            session = transmit(
                message,
                to=address.to,
                sender=self._sender,
                message_id=self.message_id(delivery_id),
                host=self._host,
                port=self._port,
                timeout=self._timeout,
            )
        except SendFailed as failed:
            return SendResult(failed.failure)
        # Accepted: the outcome is known; QUIT's errors cannot change it.
        quit_quietly(session)
        return SENT

    def close(self) -> None:
        """Nothing stays open between attempts."""
