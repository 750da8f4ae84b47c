"""Which events notification reacts to: the types its queue receives
(shared/topology.py), each through the same path; domain/notices.py's table says who is
told of what, and a received type it does not cover stops the service at start."""

from __future__ import annotations

from services.notification import service
from services.notification.domain.notices import NOTICES
from services.notification.service import DeliveryPorts
from services.notification.settings import NotificationSettings
from shared.consumer import Handler
from shared.contracts import Envelope, EventPayload
from shared.topology import handler_table


def handlers(*, ports: DeliveryPorts, settings: NotificationSettings) -> dict[str, Handler]:
    async def on_event(envelope: Envelope, payload: EventPayload) -> None:
        await service.notify(envelope, payload, tracking_url=settings.tracking_url, ports=ports)

    return handler_table("notification", dict.fromkeys(NOTICES, on_event))
