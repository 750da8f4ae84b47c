"""Reporting listens to everything (complaint.*, notification.*): each complaint event
goes into the complaint's facts; the rest is counted by the consumer's own metrics."""

from __future__ import annotations

from functools import partial

from services.reporting import service
from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.metrics import ComplaintMetrics
from shared.consumer import Handler
from shared.contracts import Envelope, EventPayload

# Events that change a complaint's facts (domain/facts.py says how).
RECORDED = (
    "complaint.received",
    "complaint.routed",
    "complaint.assigned",
    "complaint.replied",
    "complaint.accepted",
    "complaint.supplement_requested",
    "complaint.supplemented",
    "complaint.not_accepted",
    "complaint.transferred",
    "complaint.resolved_on_spot",
    "complaint.deadline_changed",
    "complaint.extended",
    "complaint.closed",
    "complaint.reopened",
    "complaint.escalated",
    "complaint.overdue",
)
# Requests whose outcome arrives as another event (routed, deadline_changed), and
# deliveries: consumed and counted (huiyin_events_consumed_total), no facts.
COUNTED_ONLY = (
    "complaint.reroute_requested",
    "complaint.extension_approved",
    "complaint.deadline_set",  # its date arrived as complaint.deadline_changed
    "notification.sent",
    "notification.failed",
)


async def _counted_only(envelope: Envelope, payload: EventPayload) -> None:
    """The consumer's metrics have counted it; nothing else to do."""


def handlers(*, facts: ComplaintFacts, metrics: ComplaintMetrics) -> dict[str, Handler]:
    record = partial(service.record, facts=facts, metrics=metrics)
    return dict.fromkeys(RECORDED, record) | dict.fromkeys(COUNTED_ONLY, _counted_only)
