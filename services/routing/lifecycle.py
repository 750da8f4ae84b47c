"""The SLA clock through the complaint's lifecycle (DOMAIN.md "Deadlines", "Escalation").

- A supplement request pauses the clock; the supplement restarts counting from its day
  (reply deadline, and the acceptance deadline while not yet accepted).
- Acceptance is recorded against its own target (`acceptance_late`).
- Not accepted, transferred, settled on the spot, replied: the clock stops (`outcome`).
- An approved extension adds working days to the current reply deadline.
- A dispute restarts the clock for a re-review with the case type's reply target; a case
  intake flags (reopened twice or more) goes to the hospital's leadership, or to the
  bureau's supervisors when the hospital names no leader with an address.
- Re-routing (office) and delegation (absence) make a new decision with a new revision;
  recusal (回避) holds for both, and the department loads follow the handler.

Each change is one write of the clock with its outgoing events (outbox), idempotent by
event id (`applied_events`); an event for a clock not yet started is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.routing.adapters.clocks import OPEN, PAUSED, STOPPED, ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.domain.calendar import CalendarNotCovered, WorkingCalendar
from services.routing.domain.case_rules import CaseType
from services.routing.domain.deadline import CHINA, END_OF_DAY
from services.routing.domain.region import Role
from services.routing.service import CalendarGap, HospitalRulebook, deadlines, reroute_decision
from shared.consumer import PermanentFailure
from shared.contracts import (
    ComplaintEscalated,
    DeadlineChanged,
    Envelope,
    EventPayload,
    Person,
)
from shared.outbox import OutboxRelay, outbox_fields
from shared.tracing import current_trace_context


class ClockNotStarted(LookupError):
    """Transient: the complaint's first routing decision has not been stored yet."""


Decide = Callable[[dict[str, Any]], tuple[dict[str, Any], list[EventPayload]] | None]


async def apply(
    envelope: Envelope,
    decide: Decide,
    *,
    clocks: ClockStore,
    relay: OutboxRelay,
) -> dict[str, Any] | None:
    """Run `decide` on the clock once per event; write its fields and events together."""
    event_id = str(envelope.event_id)
    produced: list[Envelope] = []

    def mutate(clock: dict[str, Any]) -> dict[str, Any] | None:
        if event_id in clock.get("applied_events", []):
            return None
        decision = decide(clock)
        fields, events = decision if decision else ({}, [])
        envelopes = [
            event.envelope(
                hospital_id=envelope.hospital_id,
                complaint_id=envelope.complaint_id,
                trace_context=current_trace_context(),
            )
            for event in events
        ]
        produced[:] = envelopes
        now = datetime.now(UTC)
        return {
            "$set": {**fields, **outbox_fields(envelopes, now=now)},
            "$push": {"applied_events": event_id},
        }

    clock = await clocks.change(envelope.complaint_id, mutate)
    if clock is None:
        # complaint.received starts the clock, and an event published right after it (an
        # acceptance at registration) may be consumed first: retry; after the delivery
        # limit it is parked (routing never saw, or parked, the complaint itself).
        raise ClockNotStarted(f"no SLA clock yet for complaint {envelope.complaint_id}")
    if produced and str(envelope.event_id) in clock.get("applied_events", []):
        relay.notify(clock["_id"], produced)
    return clock


def _due_after(due_at: datetime, working_days: int, calendar: WorkingCalendar) -> datetime:
    """`working_days` more working days after the current due date (an extension)."""
    day = due_at.astimezone(CHINA).date()
    try:
        moved = calendar.add_working_days(day, working_days)
    except CalendarNotCovered as gap:
        raise CalendarGap(gap) from gap
    return datetime.combine(moved, END_OF_DAY, tzinfo=CHINA).astimezone(UTC)


def paused(payload: Any) -> Decide:
    """The clock stops running until the supplement arrives. A request older than a
    supplement already applied (consumed out of order) changes nothing."""

    def decide(clock: dict[str, Any]):  # type: ignore[no-untyped-def]
        if clock["status"] != OPEN:
            return None
        supplemented = clock.get("supplemented_at")
        if supplemented is not None and supplemented >= payload.at:
            return None
        return {"status": PAUSED, "paused_at": payload.at}, []

    return decide


def restarted_from_supplement(payload: Any, rules: Any, calendar: WorkingCalendar) -> Decide:
    """Counting starts again from the day the supplement arrived (DOMAIN.md "Deadlines"):
    the reply deadline, and the acceptance deadline while the case is not yet accepted
    (待补齐所需材料后受理, seed 001)."""

    def decide(clock: dict[str, Any]):  # type: ignore[no-untyped-def]
        if clock["status"] == STOPPED:
            return None
        case_type = CaseType(clock.get("case_type", CaseType.INVESTIGATION))
        due = deadlines(payload.at, case_type, rules, calendar)
        changed = DeadlineChanged(
            due_at=due["due_at"],
            previous_due_at=clock.get("due_at"),
            working_days=due["working_days"],
            reason="材料补齐，自补齐之日起重新计算",
        )
        fields = {
            "status": OPEN,
            "due_at": due["due_at"],
            "counting_day": due["counting_day"].isoformat(),
            "supplemented_at": payload.at,
            "overdue": False,
        }
        if not clock.get("accepted_at"):
            fields["acceptance_due_at"] = due["acceptance_due_at"]
        return fields, [changed]

    return decide


def accepted(payload: Any) -> Decide:
    def decide(clock: dict[str, Any]):  # type: ignore[no-untyped-def]
        target = clock.get("acceptance_due_at")
        late = bool(target and payload.at > target)
        return {"accepted_at": payload.at, "acceptance_late": late}, []

    return decide


def stopped(payload: Any, outcome: str) -> Decide:
    def decide(clock: dict[str, Any]):  # type: ignore[no-untyped-def]
        if clock["status"] == STOPPED:
            return None
        at = getattr(payload, "at", None) or getattr(payload, "replied_at", None)
        return {"status": STOPPED, "stopped_at": at, "outcome": outcome}, []

    return decide


def extended(payload: Any, calendar: WorkingCalendar) -> Decide:
    def decide(clock: dict[str, Any]):  # type: ignore[no-untyped-def]
        if clock["status"] == STOPPED:
            return None
        due = _due_after(clock["due_at"], payload.working_days, calendar)
        changed = DeadlineChanged(
            due_at=due,
            previous_due_at=clock["due_at"],
            working_days=payload.working_days,
            reason=payload.reason,
        )
        fields = {
            "due_at": due,
            "overdue": False,
            "extended_days": int(clock.get("extended_days", 0)) + payload.working_days,
        }
        return fields, [changed]

    return decide


def reopened(
    payload: Any, rules: Any, calendar: WorkingCalendar, recipients: list[Person]
) -> Decide:
    """Re-review (重新核实) gets a fresh reply deadline, the case type's, counted from the
    dispute; a case flagged by intake (reopened twice or more) goes to leadership."""

    def decide(clock: dict[str, Any]):  # type: ignore[no-untyped-def]
        case_type = CaseType(clock.get("case_type", CaseType.INVESTIGATION))
        target = deadlines(payload.at, case_type, rules, calendar)
        due, working_days = target["due_at"], target["working_days"]
        events: list[EventPayload] = [
            DeadlineChanged(
                due_at=due,
                previous_due_at=clock.get("due_at"),
                working_days=working_days,
                reason="投诉人对处理结果有异议，重新核实",
            )
        ]
        if payload.flagged:
            events.append(
                ComplaintEscalated(
                    case_number=payload.case_number,
                    level="leadership",
                    # Not the dispute text itself: a complainant may have written their name.
                    reason=f"投诉第{payload.reopen_count}次被申请复核",
                    recipients=recipients,
                )
            )
        fields = {
            "status": OPEN,
            "due_at": due,
            "counting_day": target["counting_day"].isoformat(),
            "reopened_at": payload.at,
            "overdue": False,
            "reopen_count": payload.reopen_count,
            "flagged": payload.flagged,
        }
        return fields, events

    return decide


async def leadership_of(region: RegionStore, hospital_id: str) -> list[Person]:
    """The hospital's leaders with an address; the bureau's supervisors if it has none."""
    hospital = await region.hospital(hospital_id)
    leaders = [
        Person(staff_id=m.id, name=m.name, email=m.email)
        for m in (hospital.staff if hospital else [])
        if Role.LEADERSHIP in m.roles and m.email
    ]
    if leaders:
        return leaders
    return [
        Person(staff_id=s.staff_id, name=s.name, email=s.email) for s in await region.supervisors()
    ]


async def rerouted(
    envelope: Envelope,
    payload: Any,
    *,
    clocks: ClockStore,
    rulebook: HospitalRulebook,
    relay: OutboxRelay,
) -> None:
    routing = await rulebook.of(envelope.hospital_id)
    if payload.department not in {d.code for d in routing.hospital.departments}:
        raise PermanentFailure(
            f"department {payload.department} is not in hospital {envelope.hospital_id}"
        )
    load = await clocks.open_cases_by_handler(envelope.hospital_id, payload.department)

    def decide(clock: dict[str, Any]):  # type: ignore[no-untyped-def]
        routed, fields = reroute_decision(
            clock,
            routing,
            department=payload.department,
            reason=payload.reason,
            open_cases=load,
            target_staff_id=payload.target_staff_id,
        )
        return fields, [routed]

    await apply(envelope, decide, clocks=clocks, relay=relay)


async def delegate(
    clock: dict[str, Any],
    *,
    delegate_to: str,
    reason: str,
    clocks: ClockStore,
    rulebook: HospitalRulebook,
    relay: OutboxRelay,
) -> bool:
    """Hand one open case of an absent handler to a colleague (委托), as a new decision.
    Skipped when the case has meanwhile closed or changed hands (a repeated request)."""
    routing = await rulebook.of(clock["hospital_id"])
    load = await clocks.open_cases_by_handler(clock["hospital_id"], clock["department"])
    produced: list[Envelope] = []

    def mutate(current: dict[str, Any]) -> dict[str, Any] | None:
        if current["status"] == STOPPED or current.get("handler_id") != clock.get("handler_id"):
            return None
        if current.get("handler_id") == delegate_to:
            return None
        routed, fields = reroute_decision(
            current,
            routing,
            department=current["department"],
            reason=reason,
            open_cases=load,
            handler_id=delegate_to,
        )
        event = routed.envelope(
            hospital_id=current["hospital_id"],
            complaint_id=current["_id"],
            trace_context=current_trace_context(),
        )
        produced[:] = [event]
        delegation = {
            "from": current.get("handler_id"),
            "to": fields["handler_id"],
            "asked": delegate_to,
            "reason": reason,
            "at": datetime.now(UTC),
            "revision": fields["revision"],
        }
        return {
            "$set": {**fields, **outbox_fields([event], now=datetime.now(UTC))},
            "$push": {"delegations": delegation},
        }

    after = await clocks.change(clock["_id"], mutate)
    if produced and after is not None:
        relay.notify(after["_id"], produced)
        return True
    return False
