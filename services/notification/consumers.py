"""Which events notification reacts to: every one of them goes through the same path
(notices_for decides who is told), so the table only names the types."""

from __future__ import annotations

from services.notification import service
from services.notification.adapters.deliveries import DeliveryLog
from services.notification.adapters.mailer import SmtpMailer
from services.notification.settings import NotificationSettings
from shared.consumer import Handler
from shared.contracts import Envelope, EventPayload
from shared.runtime import ServiceRuntime

NOTIFIED = (
    "complaint.assigned",
    "complaint.replied",
    "complaint.supplement_requested",
    "complaint.not_accepted",
    "complaint.transferred",
    "complaint.extended",
    "complaint.escalated",
)


def handlers(
    *,
    runtime: ServiceRuntime,
    deliveries: DeliveryLog,
    mailer: SmtpMailer,
    settings: NotificationSettings,
) -> dict[str, Handler]:
    async def on_event(envelope: Envelope, payload: EventPayload) -> None:
        # The relay is looked up per message: it exists only once the runtime has started.
        await service.notify(
            envelope,
            payload,
            tracking_url=settings.tracking_url,
            deliveries=deliveries,
            mailer=mailer,
            relay=runtime.relay_for(deliveries.collection),
        )

    return dict.fromkeys(NOTIFIED, on_event)
