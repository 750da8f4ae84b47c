"""Which events intake reacts to, and with which command."""

from __future__ import annotations

from collections.abc import Callable

from services.intake.delivery_problems import record_delivery_failure
from services.intake.service import IntakePorts, apply_deadline_change, apply_routing
from shared.consumer import Handler


def handlers(*, ports: Callable[[], IntakePorts]) -> dict[str, Handler]:
    """`ports` is called per message, so building the table touches nothing."""

    async def on_routed(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await apply_routing(envelope, payload, ports=ports())

    async def on_deadline_changed(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await apply_deadline_change(envelope, payload, ports=ports())

    async def on_notification_failed(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await record_delivery_failure(envelope, payload, ports=ports())

    return {
        "complaint.routed": on_routed,
        "complaint.deadline_changed": on_deadline_changed,
        "notification.failed": on_notification_failed,
    }
