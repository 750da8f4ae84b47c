"""Which events notification reacts to: every one of them goes through the same path
(notices_for decides who is told), so the table only names the types."""

from __future__ import annotations

from collections.abc import Callable

from services.notification import service
from services.notification.service import DeliveryPorts
from services.notification.settings import NotificationSettings
from shared.consumer import Handler
from shared.contracts import Envelope, EventPayload

NOTIFIED = (
    "complaint.assigned",
    "complaint.replied",
    "complaint.supplement_requested",
    "complaint.not_accepted",
    "complaint.transferred",
    "complaint.extended",
    "complaint.deadline_set",
    "complaint.escalated",
)


def handlers(
    *, ports: Callable[[], DeliveryPorts], settings: NotificationSettings
) -> dict[str, Handler]:
    """`ports` is called per message: the outbox relay exists only once the runtime has
    started."""

    async def on_event(envelope: Envelope, payload: EventPayload) -> None:
        await service.notify(envelope, payload, tracking_url=settings.tracking_url, ports=ports())

    return dict.fromkeys(NOTIFIED, on_event)
