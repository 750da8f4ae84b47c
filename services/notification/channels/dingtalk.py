"""DingTalk (钉钉) group robot with 加签 security: each request carries `timestamp` (ms) and
`sign` = URL-encoded base64 of HMAC-SHA256 keyed by the robot's secret over
"timestamp\\nsecret", added to the robot's URL (which holds its access token). DingTalk
refuses a timestamp more than an hour from its clock (errcode 310000, as for a bad sign)
and more than 20 messages a minute (130101).

Like WeCom's, the robot keeps no message id: an unknown outcome is not resent blindly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import urlencode

from services.notification.channels.http import HttpClient, coded_result
from services.notification.delivery_policy import (
    DINGTALK_CODES,
    FailureKind,
    SendFailure,
    SendResult,
)
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message
from shared.contracts import DeliveryChannel


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), before URL encoding."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    query = urlencode({"timestamp": str(timestamp_ms), "sign": dingtalk_sign(secret, timestamp_ms)})
    return f"{url}{'&' if '?' in url else '?'}{query}"


def dingtalk_body(message: Message) -> dict[str, object]:
    return {"msgtype": "markdown", "markdown": {"title": message.subject, "text": message.short}}


class DingTalkRobot:
    code = DeliveryChannel.DINGTALK
    resend_after_unknown = False

    def __init__(self, *, timeout: float = 5.0) -> None:
        self._http = HttpClient(timeout=timeout)

    def send(self, message: Message, address: Address, *, delivery_id: str) -> SendResult:
        if not message.short:
            return SendResult(SendFailure(FailureKind.PERMANENT, "not_for_channel"))
        if not address.secret:
            return SendResult(SendFailure(FailureKind.PERMANENT, "credentials_rejected"))
        url = signed_url(address.to, address.secret, int(time.time() * 1000))
        response = self._http.post(url, json=dingtalk_body(message))
        return coded_result(
            response, field="errcode", success=0, message_field="errmsg", codes=DINGTALK_CODES
        )

    def close(self) -> None:
        self._http.close()
