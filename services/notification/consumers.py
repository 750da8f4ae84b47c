"""Which events notification reacts to."""

from __future__ import annotations

from services.notification import service
from services.notification.adapters.deliveries import DeliveryLog
from services.notification.adapters.mailer import SmtpMailer
from services.notification.settings import NotificationSettings
from shared.consumer import Handler
from shared.runtime import ServiceRuntime


def handlers(
    *,
    runtime: ServiceRuntime,
    deliveries: DeliveryLog,
    mailer: SmtpMailer,
    settings: NotificationSettings,
) -> dict[str, Handler]:
    def adapters() -> dict[str, object]:
        return {
            "deliveries": deliveries,
            "mailer": mailer,
            "relay": runtime.relay_for(deliveries.collection),
        }

    async def on_assigned(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await service.on_assigned(
            envelope, payload, tracking_url=settings.tracking_url, **adapters()
        )

    async def on_replied(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await service.on_replied(envelope, payload, **adapters())

    async def on_lifecycle(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await service.on_lifecycle(
            envelope, payload, tracking_url=settings.tracking_url, **adapters()
        )

    return {
        "complaint.assigned": on_assigned,
        "complaint.replied": on_replied,
        "complaint.supplement_requested": on_lifecycle,
        "complaint.not_accepted": on_lifecycle,
        "complaint.transferred": on_lifecycle,
        "complaint.extended": on_lifecycle,
        "complaint.escalated": on_lifecycle,
    }
