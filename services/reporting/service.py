"""Applying events to the read model and the metrics."""

from __future__ import annotations

from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.metrics import ComplaintMetrics
from shared.contracts import (
    ComplaintAssigned,
    ComplaintOverdue,
    ComplaintReceived,
    ComplaintReplied,
    Envelope,
)


async def record_received(
    envelope: Envelope,
    event: ComplaintReceived,
    *,
    facts: ComplaintFacts,
    metrics: ComplaintMetrics,
) -> None:
    applied = await facts.apply(
        complaint_id=envelope.complaint_id,
        hospital_id=envelope.hospital_id,
        event_id=str(envelope.event_id),
        fields={"received_at": event.received_at, "channel": event.channel, "kind": event.kind},
    )
    if applied:
        metrics.track_hospital(envelope.hospital_id)
        metrics.received.labels(envelope.hospital_id, event.channel).inc()


async def record_assigned(
    envelope: Envelope,
    event: ComplaintAssigned,
    *,
    facts: ComplaintFacts,
    metrics: ComplaintMetrics,
) -> None:
    await facts.apply(
        complaint_id=envelope.complaint_id,
        hospital_id=envelope.hospital_id,
        event_id=str(envelope.event_id),
        fields={
            "received_at": event.received_at,
            "category": event.category,
            "department": event.department,
            "due_at": event.due_at,
        },
        status="assigned",
    )


async def record_replied(
    envelope: Envelope, event: ComplaintReplied, *, facts: ComplaintFacts, metrics: ComplaintMetrics
) -> None:
    applied = await facts.apply(
        complaint_id=envelope.complaint_id,
        hospital_id=envelope.hospital_id,
        event_id=str(envelope.event_id),
        fields={
            "received_at": event.received_at,
            "replied_at": event.replied_at,
            "response_seconds": event.response_seconds,
        },
        status="replied",
    )
    if applied:
        metrics.response_seconds.labels(envelope.hospital_id).observe(event.response_seconds)


async def record_overdue(
    envelope: Envelope, event: ComplaintOverdue, *, facts: ComplaintFacts, metrics: ComplaintMetrics
) -> None:
    await facts.apply(
        complaint_id=envelope.complaint_id,
        hospital_id=envelope.hospital_id,
        event_id=str(envelope.event_id),
        fields={"overdue_flagged_at": envelope.occurred_at, "due_at": event.due_at},
    )
