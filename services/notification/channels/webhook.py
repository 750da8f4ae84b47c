"""A hospital system's endpoint, signed as Standard Webhooks (standardwebhooks.com)
specifies: headers `webhook-id` (the same for every attempt of one delivery, so the
receiver drops a repeat), `webhook-timestamp` (seconds, this attempt) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the base64
part of a `whsec_` secret. Any receiver library of the standard verifies it.

The body is `{"type": <event type>, "timestamp": …, "data": {…}}`: the notice's audience,
level, subject and short text, and the facts its template was filled with (a staff
notice's: never the complainant's identity or words). Because of `webhook-id`, an attempt
whose outcome is unknown is simply sent again."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from services.notification.channels.http import HttpClient, status_result
from services.notification.delivery_policy import SENT, FailureKind, SendFailure, SendResult
from services.notification.domain.contacts import Address, webhook_key
from services.notification.domain.messages import Message
from shared.contracts import DeliveryChannel


def webhook_id(delivery_id: str) -> str:
    return "msg_" + hashlib.sha256(delivery_id.encode()).hexdigest()[:32]


def webhook_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_body(message: Message, *, delivery_id: str) -> bytes:
    payload = {
        "type": message.event_type,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {
            "notice_id": webhook_id(delivery_id),
            "audience": message.role.value,
            "level": message.level,
            "subject": message.subject,
            "text": message.short,
            "facts": dict(message.facts),
        },
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class SignedWebhook:
    code = DeliveryChannel.WEBHOOK
    resend_after_unknown = True  # same webhook-id

    def __init__(self, *, timeout: float = 5.0) -> None:
        self._http = HttpClient(timeout=timeout)

    def send(self, message: Message, address: Address, *, delivery_id: str) -> SendResult:
        if not address.secret:
            return SendResult(SendFailure(FailureKind.PERMANENT, "credentials_rejected"))
        body = webhook_body(message, delivery_id=delivery_id)
        message_id, timestamp = webhook_id(delivery_id), int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhook_signature(address.secret, message_id, timestamp, body),
        }
        response = self._http.post(address.to, content=body, headers=headers)
        if isinstance(response, SendFailure):
            return SendResult(response)
        return status_result(response) or SENT

    def close(self) -> None:
        self._http.close()
