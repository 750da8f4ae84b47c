"""The SLA clock through the complaint's lifecycle (docs/rules.md#deadlines, #escalation).

- A supplement request pauses the clock; the supplement restarts counting from its day
  (reply deadline, and the acceptance deadline while not yet accepted).
- Acceptance is recorded against its own target (`acceptance_late`).
- Not accepted, transferred, settled on the spot, replied: the clock stops (`outcome`).
- An approved extension adds working days to the current reply deadline.
- A dispute restarts the clock for a re-review with the case type's reply target; a case
  intake flags (reopened twice or more) goes to the hospital's leadership, or to the
  bureau's supervisors when the hospital names no leader.
- A ladder level the scan reached (complaint.sla_warning, .overdue, .escalated, routing's
  own events coming back) is recorded on the clock, which plans its next point
  (`reached`; sla_state.py).
- Re-routing (office) and delegation (absence) make a new decision with a new revision;
  recusal (回避) holds for both, and the department loads follow the handler.

Each step is a pure decision on the clock (a `Decision`: its update and the events it
causes); adapters/clocks.py writes it with its events in one write, once per event id
(`applied_events`, shared/records.py). An event for a clock not yet started is retried.

A deadline the calendar cannot count (its year is not loaded) never stops a step: the clock
records it as pending with the year it waits for, the deadline change says so, and
`recounted` counts it when the bureau loads that year (calendar_loading.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from services.routing.adapters.clocks import OPEN, PAUSED, STOPPED, ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.deadline import Counted, DeadlineRule, count
from services.routing.domain.escalation_ladder import recipients
from services.routing.service import (
    HospitalRulebook,
    Refusals,
    deadline_fields,
    deadlines,
    ignore_refusals,
    reroute_decision,
)
from services.routing.sla_state import aware, record_step, state_of
from shared.consumer import PermanentFailure
from shared.contracts import (
    CHINA,
    CaseType,
    ComplaintEscalated,
    DeadlineChanged,
    Envelope,
    EventPayload,
    LadderLevel,
    LadderStep,
    Person,
)
from shared.records import Changed, Decide, Decision

SUPPLEMENT_REASON = "材料补齐，自补齐之日起重新计算"
RE_REVIEW_REASON = "投诉人对处理结果有异议，重新核实"
CALENDAR_LOADED = "{year}年法定节假日安排已载入"


class ClockNotStarted(LookupError):
    """Transient: the complaint's first routing decision has not been stored yet."""


# How long an event waits for its complaint's clock to be stored by this process before it
# goes back to the queue: as long as the consumer pauses before requeueing it.
START_WAIT_SECONDS = 1.0


def setting(fields: dict[str, Any], events: Sequence[EventPayload] = ()) -> Decision:
    """A decision that sets `fields` on the clock and causes `events`."""
    return Decision({"$set": fields}, events)


def leaves_waiting(decision: Decision | None) -> bool:
    """The decision leaves a deadline waiting for the calendar (a refusal, counted once)."""
    return bool(decision and (decision.update.get("$set") or {}).get("deadline_pending"))


class Decided:
    """`decide`, remembering the decision it made last: the one written, since the clock
    is written right after it is decided (shared/records.py)."""

    def __init__(self, decide: Decide) -> None:
        self._decide = decide
        self.decision: Decision | None = None

    def __call__(self, clock: dict[str, Any]) -> Decision | None:
        self.decision = self._decide(clock)
        return self.decision


async def apply(
    envelope: Envelope,
    decide: Decide,
    *,
    clocks: ClockStore,
    refused: Refusals = ignore_refusals,
) -> Changed:
    """Run `decide` on the clock once per event; its fields and events are one write. A
    decision that leaves the deadline waiting for the calendar is counted once, after its
    write (`refused`)."""
    decided = Decided(decide)
    complaint_id, event_id = envelope.complaint_id, str(envelope.event_id)
    changed = await clocks.change(complaint_id, decided, once_per=event_id)
    if changed is None and await clocks.started(complaint_id, within=START_WAIT_SECONDS):
        # complaint.received starts the clock, and an event published right after it (an
        # acceptance at registration) may be consumed first: it waits for the start here.
        changed = await clocks.change(complaint_id, decided, once_per=event_id)
    if changed is None:
        # Not started here in time: retry; after the delivery limit it is parked (routing
        # never saw, or parked, the complaint itself).
        raise ClockNotStarted(f"no SLA clock yet for complaint {complaint_id}")
    if changed.changed and leaves_waiting(decided.decision):
        refused(envelope.type)
    return changed


def deadline_changed(
    rule: DeadlineRule,
    counted: Counted,
    *,
    previous_due_at: datetime | None,
    working_days: int,
    reason: str | None = None,
) -> DeadlineChanged:
    """The reply deadline routing now gives: a date, or the year it waits for."""
    return DeadlineChanged(
        due_at=counted.due_at,
        deadline_pending_year=counted.reply_pending_year,
        previous_due_at=previous_due_at,
        working_days=working_days,
        reason=reason or rule.reason,
    )


def _pending_rule(clock: dict[str, Any]) -> DeadlineRule | None:
    pending = clock.get("deadline_pending")
    return DeadlineRule.from_document(pending["rule"]) if pending else None


def paused(payload: Any, *, recorded_at: datetime) -> Decide:
    """The clock stops running until the supplement arrives. A request recorded before a
    supplement already applied (consumed out of order) changes nothing. The order is
    intake's order of recording (`recorded_at`, the envelope's time), not the supplement's
    own date: a backlog may date a supplement before the request was entered."""

    def decide(clock: dict[str, Any]) -> Decision | None:
        if clock["status"] != OPEN:
            return None
        supplemented = clock.get("supplement_recorded_at") or clock.get("supplemented_at")
        if supplemented is not None and supplemented >= recorded_at:
            return None
        return setting({"status": PAUSED, "paused_at": payload.at})

    return decide


def _counted_again(
    clock: dict[str, Any],
    at: datetime,
    rules: Any,
    calendar: WorkingCalendar,
    *,
    reason: str,
    acceptance: bool,
) -> tuple[dict[str, Any], DeadlineChanged]:
    """The case type's deadlines counted afresh from `at` (the supplement's day, the
    dispute's), as the clock's fields, and the event that tells of the new reply deadline."""
    case_type = CaseType(clock.get("case_type", CaseType.INVESTIGATION))
    rule, counted = deadlines(
        at,
        case_type,
        rules,
        calendar,
        reason=reason,
        acceptance=acceptance,
        previous_due_at=clock.get("due_at"),
    )
    changed = deadline_changed(
        rule, counted, previous_due_at=clock.get("due_at"), working_days=rule.working_days
    )
    return deadline_fields(rule, counted), changed


def restarted_from_supplement(
    payload: Any, rules: Any, calendar: WorkingCalendar, *, recorded_at: datetime
) -> Decide:
    """Counting starts again from the day the supplement arrived (docs/rules.md#deadlines D5):
    the reply deadline, and the acceptance deadline while the case is not yet accepted
    (待补齐所需材料后受理, 某市人民医院《投诉处理制度》3)."""

    def decide(clock: dict[str, Any]) -> Decision | None:
        if clock["status"] == STOPPED:
            return None
        counted, changed = _counted_again(
            clock,
            payload.at,
            rules,
            calendar,
            reason=SUPPLEMENT_REASON,
            acceptance=not clock.get("accepted_at"),
        )
        fields = {
            "status": OPEN,
            **counted,
            "supplemented_at": payload.at,
            "supplement_recorded_at": recorded_at,
            "overdue": False,
        }
        return setting(fields, [changed])

    return decide


def accepted(payload: Any) -> Decide:
    def decide(clock: dict[str, Any]) -> Decision:
        target = clock.get("acceptance_due_at")
        late = bool(target and payload.at > target)
        return setting({"accepted_at": payload.at, "acceptance_late": late})

    return decide


def stopped(payload: Any, outcome: str) -> Decide:
    """The clock stops; a deadline still waiting for the calendar is no longer needed."""

    def decide(clock: dict[str, Any]) -> Decision | None:
        if clock["status"] == STOPPED:
            return None
        at = getattr(payload, "at", None) or getattr(payload, "replied_at", None)
        fields = {"status": STOPPED, "stopped_at": at, "outcome": outcome}
        if clock.get("deadline_pending"):
            fields["deadline_pending"] = None
        return setting(fields)

    return decide


def extended(payload: Any, calendar: WorkingCalendar) -> Decide:
    """An approved extension adds working days after the current reply deadline; when that
    deadline itself still waits for the calendar, the extension waits with it."""

    def decide(clock: dict[str, Any]) -> Decision | None:
        if clock["status"] == STOPPED:
            return None
        waiting = _pending_rule(clock)
        if waiting is not None and waiting.reply:
            rule = waiting.extended(payload.working_days, reason=payload.reason)
        else:
            due_day = clock["due_at"].astimezone(CHINA).date()
            extension = {
                "reason": payload.reason,
                "after": due_day,
                "extra_working_days": payload.working_days,
                "reply": True,
                "previous_due_at": clock["due_at"],
            }
            # An urgent case whose acceptance deadline still waits keeps waiting for it.
            rule = (
                replace(waiting, **extension) if waiting is not None else DeadlineRule(**extension)
            )
        counted = count(rule, calendar)
        changed = deadline_changed(
            rule,
            counted,
            previous_due_at=clock.get("due_at") or rule.previous_due_at,
            working_days=payload.working_days,
        )
        fields = {
            **deadline_fields(rule, counted),
            "overdue": False,
            "extended_days": int(clock.get("extended_days", 0)) + payload.working_days,
        }
        return setting(fields, [changed])

    return decide


def reopened(
    payload: Any,
    rules: Any,
    calendar: WorkingCalendar,
    leaders: list[Person],
    *,
    department_label: Callable[[str], str] = str,
) -> Decide:
    """Re-review (重新核实) gets a fresh reply deadline, the case type's, counted from the
    dispute, and a new round of the ladder; a case flagged by intake (reopened twice or
    more) enters it at leadership (docs/rules.md#escalation E2)."""

    def decide(clock: dict[str, Any]) -> Decision:
        counted, changed = _counted_again(
            clock, payload.at, rules, calendar, reason=RE_REVIEW_REASON, acceptance=False
        )
        events: list[EventPayload] = [changed]
        if payload.flagged:
            department = clock.get("department")
            events.append(
                ComplaintEscalated(
                    case_number=payload.case_number,
                    level=LadderLevel.LEADERSHIP,
                    # Not the dispute text itself: a complainant may have written their name.
                    reason=f"投诉第{payload.reopen_count}次被申请复核",
                    department=department,
                    department_label=department_label(department) if department else None,
                    recipients=leaders,
                )
            )
        fields = {
            "status": OPEN,
            **counted,
            "reopened_at": payload.at,
            "overdue": False,
            "reopen_count": payload.reopen_count,
            "flagged": payload.flagged,
        }
        return setting(fields, events)

    return decide


def recounted(year: int, calendar: WorkingCalendar) -> Decide:
    """The bureau loaded `year`: count the deadline that waited for it and tell intake the
    date (or the later year it now waits for). A clock not waiting for `year`, or still
    waiting for it (this process has not loaded it yet), is left as it is."""

    def decide(clock: dict[str, Any]) -> Decision | None:
        pending = clock.get("deadline_pending")
        if clock["status"] == STOPPED or not pending or pending.get("year") != year:
            return None
        rule = DeadlineRule.from_document(pending["rule"])
        counted = count(rule, calendar)
        if counted.waits_for == year:
            return None
        events: list[EventPayload] = []
        if rule.reply:
            events.append(
                deadline_changed(
                    rule,
                    counted,
                    previous_due_at=rule.previous_due_at,
                    working_days=rule.reply_working_days,
                    reason=f"{CALENDAR_LOADED.format(year=year)}，{rule.reason}",
                )
            )
        fields = {**deadline_fields(rule, counted), "overdue": False}
        acceptance, accepted_at = fields.get("acceptance_due_at"), clock.get("accepted_at")
        if acceptance is not None and accepted_at is not None:
            # Accepted while its target was still waiting: judged now against the target.
            fields["acceptance_late"] = accepted_at > acceptance
        return setting(fields, events)

    return decide


async def recount(
    complaint_id: str,
    *,
    year: int,
    calendar: WorkingCalendar,
    clocks: ClockStore,
    refused: Refusals = ignore_refusals,
) -> bool:
    """Count one clock's waiting deadline now that `year` is loaded: one write of the clock
    with its deadline change (outbox); True when it was counted (a date, or a later year to
    wait for). Idempotent: a clock no longer waiting for `year` is not touched, so a
    recount cut short is simply run again."""
    decided = Decided(recounted(year, calendar))
    changed = await clocks.change(complaint_id, decided)
    if changed is None or not changed.changed:
        return False
    if leaves_waiting(decided.decision):
        refused("recount")
    return True


async def leadership_of(region: RegionStore, hospital_id: str) -> list[Person]:
    """The hospital's leaders; the bureau's supervisors if it has none (the ladder's
    recipients of `leadership`, domain/escalation_ladder.py)."""
    return recipients(
        LadderLevel.LEADERSHIP,
        hospital=await region.hospital(hospital_id),
        department=None,
        handler_id=None,
        supervisors=await region.supervisors(),
    )


def reached(step: LadderStep) -> Decide:
    """The scan told of a level (its event came back to routing): recorded on the clock,
    whose next point is then planned (sla_state.py). A level of an earlier round changes
    only what belongs to the case (an acceptance deadline or urgent climb told)."""

    def decide(clock: dict[str, Any]) -> Decision | None:
        sla = state_of(clock)
        recorded = record_step(sla, step, action_due_at=aware(clock.get("action_due_at")))
        return None if recorded == sla else setting({"sla": recorded})

    return decide


async def rerouted(
    envelope: Envelope,
    payload: Any,
    *,
    clocks: ClockStore,
    rulebook: HospitalRulebook,
) -> None:
    routing = await rulebook.of(envelope.hospital_id)
    if payload.department not in {d.code for d in routing.hospital.departments}:
        raise PermanentFailure(
            f"department {payload.department} is not in hospital {envelope.hospital_id}"
        )
    load = await clocks.open_cases_by_handler(envelope.hospital_id, payload.department)

    def decide(clock: dict[str, Any]) -> Decision:
        routed, fields = reroute_decision(
            clock,
            routing,
            department=payload.department,
            reason=payload.reason,
            open_cases=load,
            target_staff_id=payload.target_staff_id,
        )
        return setting(fields, [routed])

    await apply(envelope, decide, clocks=clocks)


async def delegate(
    clock: dict[str, Any],
    *,
    delegate_to: str,
    reason: str,
    clocks: ClockStore,
    rulebook: HospitalRulebook,
) -> bool:
    """Hand one open case of an absent handler to a colleague (委托), as a new decision.
    Skipped when the case has meanwhile closed or changed hands (a repeated request)."""
    routing = await rulebook.of(clock["hospital_id"])
    load = await clocks.open_cases_by_handler(clock["hospital_id"], clock["department"])
    at = datetime.now(UTC)

    def decide(current: dict[str, Any]) -> Decision | None:
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
        delegation = {
            "from": current.get("handler_id"),
            "to": fields["handler_id"],
            "asked": delegate_to,
            "reason": reason,
            "at": at,
            "revision": fields["revision"],
        }
        return Decision({"$set": fields, "$push": {"delegations": delegation}}, [routed])

    changed = await clocks.change(clock["_id"], decide)
    return changed is not None and changed.changed
