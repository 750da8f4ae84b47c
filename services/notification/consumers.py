"""Which events notification reacts to: the types its queue receives
(shared/topology.py); domain/notices.py's table says who is told of what, and a received
type it does not cover stops the service at start. The escalation ladder's steps become
deliveries on every channel of the contact book, made by the Celery worker
(deliveries/dispatch.py); the other notices are e-mailed from here (service.py)."""

from __future__ import annotations

from services.notification import service
from services.notification.deliveries.dispatch import LadderDispatch
from services.notification.domain.notices import NOTICES
from services.notification.service import DeliveryPorts
from services.notification.settings import NotificationSettings
from shared.consumer import Handler
from shared.contracts import (
    ComplaintNotAccepted,
    ComplaintReplied,
    ComplaintTransferred,
    Envelope,
    EventPayload,
    LadderStep,
)
from shared.topology import handler_table

# The case is no longer overdue under anyone: off the supervisors' digests.
SETTLING = (ComplaintReplied, ComplaintNotAccepted, ComplaintTransferred)


def handlers(
    *, ports: DeliveryPorts, settings: NotificationSettings, ladder: LadderDispatch
) -> dict[str, Handler]:
    async def on_event(envelope: Envelope, payload: EventPayload) -> None:
        if isinstance(payload, LadderStep):
            await ladder.dispatch(envelope, payload)
            return
        if isinstance(payload, SETTLING):  # no longer overdue under anyone
            await ladder.digests.settled(envelope)
        await service.notify(
            envelope,
            payload,
            tracking_url=settings.tracking_url,
            case_url=settings.case_url,
            ports=ports,
        )

    return handler_table("notification", dict.fromkeys(NOTICES, on_event))
