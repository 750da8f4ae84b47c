"""Applying events to the read models and, once per event, to the metrics."""

from __future__ import annotations

from typing import Any

from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.adapters.report_counters import ReportCounters
from services.reporting.domain.classification import UNROUTED
from services.reporting.domain.facts import change_for, version_of
from services.reporting.metrics import ComplaintMetrics
from shared.contracts import (
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintReplied,
    Envelope,
    EventPayload,
)
from shared.matching import DEV_MATCH_KEY


async def record(
    envelope: Envelope,
    event: EventPayload,
    *,
    facts: ComplaintFacts,
    counters: ReportCounters,
    metrics: ComplaintMetrics,
    match_key: str = DEV_MATCH_KEY,
) -> None:
    """Every event reporting receives: its facts (domain/facts.py), if it has any, then
    the report counters by the difference it made (adapters/report_counters.py, which
    states the window between the two writes), then its metrics. One that records nothing
    is counted by the consumer's own metrics only (huiyin_events_consumed_total)."""
    change = change_for(event, occurred_at=envelope.occurred_at, match_key=match_key)
    if change.records_nothing:
        return
    changed = await facts.apply(
        complaint_id=envelope.complaint_id,
        hospital_id=envelope.hospital_id,
        event_id=str(envelope.event_id),
        version=version_of(envelope.occurred_at),
        change=change,
    )
    if changed is None:
        return
    await counters.move(before=changed.before, after=changed.after)
    count(envelope.hospital_id, event, metrics, facts=changed.after)


def count(
    hospital: str, event: EventPayload, metrics: ComplaintMetrics, *, facts: dict[str, Any]
) -> None:
    """Counters move once per event: the caller calls this only for a newly applied one.
    Response time is labelled by the case's category and priority as its facts know them
    (bounded sets; a reply that overtook routing's decision counts as unrouted)."""
    metrics.track_hospital(hospital)
    if isinstance(event, ComplaintReceived):
        metrics.received.labels(hospital, event.channel).inc()
    elif isinstance(event, ComplaintReplied) and event.round == 0:
        # Only the first answer counts toward response time; re-review replies do not.
        category = facts.get("category") or UNROUTED
        priority = facts.get("priority") or "unknown"
        metrics.response_seconds.labels(category, priority).observe(event.response_seconds)
    elif isinstance(event, ComplaintReopened):
        metrics.reopened.labels(hospital).inc()
    elif isinstance(event, ComplaintClosed):
        metrics.closed.labels(hospital, event.satisfaction).inc()
    elif isinstance(event, ComplaintEscalated):
        metrics.escalations.labels(hospital, event.level).inc()
