"""Reporting listens to everything (complaint.*, notification.*) and applies what it counts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from services.reporting import service
from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.metrics import ComplaintMetrics
from shared.consumer import Handler


def handlers(*, facts: ComplaintFacts, metrics: ComplaintMetrics) -> dict[str, Handler]:
    def bound(function: Callable[..., Awaitable[None]]) -> Handler:
        return partial(function, facts=facts, metrics=metrics)

    async def counted_only(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        """Consumed and counted by the consumer's metrics; no read model yet."""

    return {
        "complaint.received": bound(service.record_received),
        "complaint.assigned": bound(service.record_assigned),
        "complaint.replied": bound(service.record_replied),
        "complaint.overdue": bound(service.record_overdue),
        "complaint.routed": counted_only,
        "notification.sent": counted_only,
        "notification.failed": counted_only,
    }
