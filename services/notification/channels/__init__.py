"""How a notice reaches people: one small interface, one module per channel.

`Channel.send(message, address, delivery_id=...)` makes one attempt and says what it came
to (delivery_policy.SendResult: sent, a failure that may pass, a final failure, or an
unknown outcome). It never retries, waits or records anything: the delivery engine does,
and `resend_after_unknown` tells it whether an attempt whose outcome is unknown may simply
be made again (the receiver drops the copy by the id every attempt carries) or must first be
checked (`Reconciling.was_sent`, for SMS). Every attempt of one delivery passes the same
`delivery_id`: it becomes the e-mail's Message-ID, the webhook's `webhook-id` and the SMS
gateway's OutId.

Channels are synchronous (deliveries run in Celery tasks) and create their network clients
on first use in the process that uses them (a worker forks after import). Signing
timestamps use the real wall clock: the receiver checks them against its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol

from services.notification.channels.dingtalk import DingTalkRobot
from services.notification.channels.email import EmailChannel
from services.notification.channels.sms import AliyunSms
from services.notification.channels.webhook import SignedWebhook
from services.notification.channels.wecom import WeComRobot
from services.notification.delivery_policy import SendResult
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message
from services.notification.settings import NotificationSettings
from shared.contracts import DeliveryChannel


class Channel(Protocol):
    code: DeliveryChannel
    resend_after_unknown: bool

    def send(self, message: Message, address: Address, *, delivery_id: str) -> SendResult: ...

    def close(self) -> None: ...


class Reconciling(Protocol):
    """A channel that can look up whether an attempt with an unknown outcome was accepted."""

    def was_sent(
        self, address: Address, *, delivery_id: str, days: Iterable[date]
    ) -> bool | None: ...


def build_channels(settings: NotificationSettings) -> dict[DeliveryChannel, Channel]:
    """Every channel the settings allow: SMS only with the gateway's credentials."""
    http_timeout = settings.http_timeout_seconds
    channels: dict[DeliveryChannel, Channel] = {
        DeliveryChannel.EMAIL: EmailChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.mail_from,
            timeout=settings.smtp_timeout_seconds,
        ),
        DeliveryChannel.WECOM: WeComRobot(timeout=http_timeout),
        DeliveryChannel.DINGTALK: DingTalkRobot(timeout=http_timeout),
        DeliveryChannel.WEBHOOK: SignedWebhook(timeout=http_timeout),
    }
    if settings.sms_access_key_id:
        channels[DeliveryChannel.SMS] = AliyunSms(
            endpoint=settings.sms_endpoint,
            access_key_id=settings.sms_access_key_id,
            access_key_secret=settings.sms_access_key_secret.get_secret_value(),
            sign_name=settings.sms_sign_name,
            region_id=settings.sms_region_id,
            timeout=settings.sms_timeout_seconds,
        )
    return channels


__all__ = [
    "AliyunSms",
    "Channel",
    "DingTalkRobot",
    "EmailChannel",
    "Reconciling",
    "SignedWebhook",
    "WeComRobot",
    "build_channels",
]
