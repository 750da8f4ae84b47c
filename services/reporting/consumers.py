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

    lifecycle = bound(service.record_lifecycle)
    return {
        "complaint.received": bound(service.record_received),
        "complaint.routed": lifecycle,
        "complaint.assigned": bound(service.record_assigned),
        "complaint.replied": bound(service.record_replied_round),
        "complaint.overdue": bound(service.record_overdue),
        "complaint.accepted": lifecycle,
        "complaint.supplement_requested": lifecycle,
        "complaint.supplemented": lifecycle,
        "complaint.not_accepted": lifecycle,
        "complaint.transferred": lifecycle,
        "complaint.resolved_on_spot": lifecycle,
        "complaint.reroute_requested": counted_only,
        "complaint.extension_approved": counted_only,
        "complaint.deadline_changed": lifecycle,
        "complaint.extended": lifecycle,
        "complaint.closed": lifecycle,
        "complaint.reopened": lifecycle,
        "complaint.escalated": lifecycle,
        "notification.sent": counted_only,
        "notification.failed": counted_only,
    }
