"""WeCom (企业微信) group robot: a JSON message POSTed to the robot's webhook URL, whose
`key` parameter is the only credential (WeCom robots sign nothing). The robot replies
`{"errcode": 0, "errmsg": "ok"}`; 45009 means more than 20 messages a minute.

A robot keeps no message id: an attempt whose outcome is unknown may have been posted, and
posting it again may show the group the notice twice, so it is not resent blindly."""

from __future__ import annotations

from services.notification.channels.http import HttpClient, coded_result
from services.notification.delivery_policy import (
    WECOM_CODES,
    FailureKind,
    SendFailure,
    SendResult,
)
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message
from shared.contracts import DeliveryChannel


def wecom_body(message: Message) -> dict[str, object]:
    return {"msgtype": "markdown", "markdown": {"content": message.short}}


class WeComRobot:
    code = DeliveryChannel.WECOM
    resend_after_unknown = False

    def __init__(self, *, timeout: float = 5.0) -> None:
        self._http = HttpClient(timeout=timeout)

    def send(self, message: Message, address: Address, *, delivery_id: str) -> SendResult:
        if not message.short:
            return SendResult(SendFailure(FailureKind.PERMANENT, "not_for_channel"))
        response = self._http.post(address.to, json=wecom_body(message))
        return coded_result(
            response, field="errcode", success=0, message_field="errmsg", codes=WECOM_CODES
        )

    def close(self) -> None:
        self._http.close()
