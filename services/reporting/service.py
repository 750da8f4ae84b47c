"""Applying events to the read model and the metrics."""

from __future__ import annotations

from typing import Any

from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.metrics import ComplaintMetrics
from shared.contracts import (
    ComplaintAccepted,
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintExtended,
    ComplaintNotAccepted,
    ComplaintOverdue,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintReplied,
    ComplaintResolvedOnSpot,
    ComplaintRouted,
    ComplaintSupplemented,
    ComplaintTransferred,
    DeadlineChanged,
    Envelope,
    SupplementRequested,
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
            "priority": event.priority,
        },
        status="assigned",
    )


async def record_overdue(
    envelope: Envelope, event: ComplaintOverdue, *, facts: ComplaintFacts, metrics: ComplaintMetrics
) -> None:
    await facts.apply(
        complaint_id=envelope.complaint_id,
        hospital_id=envelope.hospital_id,
        event_id=str(envelope.event_id),
        fields={"overdue_flagged_at": envelope.occurred_at, "due_at": event.due_at},
    )


async def record_replied_round(
    envelope: Envelope, event: ComplaintReplied, *, facts: ComplaintFacts, metrics: ComplaintMetrics
) -> None:
    """The reply of a round; only the first answer counts toward response time."""
    applied = await facts.apply(
        complaint_id=envelope.complaint_id,
        hospital_id=envelope.hospital_id,
        event_id=str(envelope.event_id),
        fields={"received_at": event.received_at, "last_replied_at": event.replied_at}
        | (
            {"replied_at": event.replied_at, "response_seconds": event.response_seconds}
            if event.round == 0
            else {}
        ),
        status="replied",
        round_=event.round,
    )
    if applied and event.round == 0:
        metrics.response_seconds.labels(envelope.hospital_id).observe(event.response_seconds)


# What each lifecycle event sets in the facts, and the status it shows (None: no change).
def _lifecycle_facts(event: Any) -> tuple[dict[str, Any], str | None, int, dict[str, Any]]:
    if isinstance(event, ComplaintAccepted):
        return {"accepted_at": event.at}, "accepted", 0, {}
    if isinstance(event, SupplementRequested):
        return {"supplement_requested_at": event.at}, "needs_supplement", 0, {}
    if isinstance(event, ComplaintSupplemented):
        return {"supplemented_at": event.at}, "accepted", 0, {}
    if isinstance(event, ComplaintNotAccepted):
        return {"not_accepted_reason": event.reason, "ended_at": event.at}, "not_accepted", 0, {}
    if isinstance(event, ComplaintTransferred):
        return {"transferred_to": event.to_body, "ended_at": event.at}, "transferred", 0, {}
    if isinstance(event, ComplaintResolvedOnSpot):
        return {"ended_at": event.at}, "resolved_on_spot", 0, {}
    if isinstance(event, ComplaintClosed):
        fields = {
            "satisfaction": event.satisfaction,
            "finding": event.finding,
            "closed_at": event.at,
        }
        return fields, "closed", event.round, {}
    if isinstance(event, ComplaintReopened):
        fields = {"reopen_count": event.reopen_count, "flagged": event.flagged}
        return fields, "reopened", event.reopen_count, {}
    if isinstance(event, ComplaintExtended):
        return {"due_at": event.due_at}, None, 0, {"extension_events": "__event__"}
    if isinstance(event, DeadlineChanged):
        return {"due_at": event.due_at}, None, 0, {}
    if isinstance(event, ComplaintEscalated):
        return {"last_escalation": event.level}, None, 0, {"escalation_events": "__event__"}
    if isinstance(event, ComplaintRouted):
        return {"priority": event.priority, "case_type": event.case_type}, None, 0, {}
    return {}, None, 0, {}


async def record_lifecycle(
    envelope: Envelope, event: Any, *, facts: ComplaintFacts, metrics: ComplaintMetrics
) -> None:
    fields, status, round_, sets = _lifecycle_facts(event)
    event_id = str(envelope.event_id)
    applied = await facts.apply(
        complaint_id=envelope.complaint_id,
        hospital_id=envelope.hospital_id,
        event_id=event_id,
        fields=fields,
        status=status,
        round_=round_,
        add_to_set={key: event_id for key in sets},
    )
    if not applied:
        return
    hospital = envelope.hospital_id
    if isinstance(event, ComplaintReopened):
        metrics.reopened.labels(hospital).inc()
    elif isinstance(event, ComplaintClosed):
        metrics.closed.labels(hospital, event.satisfaction).inc()
    elif isinstance(event, ComplaintEscalated):
        metrics.escalations.labels(hospital, event.level).inc()
