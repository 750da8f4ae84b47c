"""The SLA state every clock carries, planned again at each change of the clock, in the
same write (adapters/clocks.py wraps every decision with `planned`):

    sla: {round, reached, floor, acceptance_told, action_told,   what the case has reached
          points, waits_for,                                     the schedule ahead
          seq, listed: {slot, key}}                              where the scan finds it

- `round` grows with each new reply deadline: a decision that tells intake of one
  (complaint.deadline_changed: a supplement restart, an extension, a re-review, a deadline
  the calendar finally counts) starts a round, and `reached` starts empty.
- `reached` records the levels of this round. The scan publishes a level
  (services/routing/sla_scan.py) and routing records it when its own event comes back
  (lifecycle.py `reached`); a level routing publishes itself (urgent, major and group
  cases, a second dispute) is recorded in the write that publishes it, and raises the
  `floor` the case stays above. The acceptance deadline and an urgent case's climb by hours
  belong to the case, not to a round: told once (`acceptance_told`, `action_told`).
- `points` is the schedule (domain/sla_points.py); the clock is listed in the scan's index
  under `listed` (adapters/sla_slots.py) with a copy of what the scan needs to tell its
  points without reading the clock: the entry. `seq` grows with every new plan and names
  the entry, so the scan, which removes the entries it handled by key, never removes a
  newer one.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from services.routing.adapters.clocks import OPEN
from services.routing.adapters.sla_slots import late_slot, recheck_slot, shard_of, time_slot
from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.escalation_ladder import (
    ESCALATIONS,
    RANK,
    EscalationLadder,
)
from services.routing.domain.sla_points import (
    ClockFacts,
    ReplyWindow,
    Schedule,
    SlaPoint,
    schedule,
)
from shared.contracts import DeadlineChanged, EventPayload, LadderLevel, LadderStep, Priority
from shared.records import Decide, Decision

EMPTY: dict[str, Any] = {
    "round": 0,
    "reached": [],
    "floor": None,
    "acceptance_told": None,
    "action_told": [],
    "points": [],
    "waits_for": None,
    "seq": 0,
    "listed": None,
}


def aware(moment: datetime | None) -> datetime | None:
    """A stored instant as an aware UTC datetime at MongoDB's precision (milliseconds), so
    a plan read back compares equal to the same plan made again."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def state_of(clock: dict[str, Any]) -> dict[str, Any]:
    return {**EMPTY, **(clock.get("sla") or {})}


def _window(clock: dict[str, Any]) -> ReplyWindow | None:
    window = clock.get("reply_window") or {}
    if window.get("since") is not None:
        return ReplyWindow(since=aware(window["since"]))
    if window.get("after"):
        return ReplyWindow(after=date.fromisoformat(window["after"]))
    day = clock.get("counting_day")  # clocks planned before rounds had windows
    return ReplyWindow(after=date.fromisoformat(day)) if day else None


def facts_of(clock: dict[str, Any], sla: dict[str, Any]) -> ClockFacts:
    floor = sla.get("floor")
    return ClockFacts(
        running=clock.get("status") == OPEN,
        urgent=clock.get("priority") == Priority.URGENT,
        accepted=bool(clock.get("accepted_at")),
        acceptance_due_at=aware(clock.get("acceptance_due_at")),
        due_at=aware(clock.get("due_at")),
        action_due_at=aware(clock.get("action_due_at")),
        window=_window(clock),
        reached=frozenset(LadderLevel(level) for level in sla["reached"]),
        floor=LadderLevel(floor) if floor else None,
        acceptance_told=aware(sla.get("acceptance_told")),
        action_told=frozenset(LadderLevel(level) for level in sla["action_told"]),
    )


def by_hours(step: LadderStep, action_due_at: datetime | None) -> bool:
    """The step is an urgent case's climb by hours (its action deadline, and the bureau
    hours after it), told once per case."""
    if step.level == LadderLevel.ACTION_DUE:
        return True
    return (
        step.level == LadderLevel.BUREAU
        and step.overdue_working_days == 0
        and step.due_at is not None
        and action_due_at is not None
        and aware(step.due_at) == aware(action_due_at)
    )


def record_step(
    sla: dict[str, Any], step: LadderStep, *, action_due_at: datetime | None
) -> dict[str, Any]:
    """`sla` with `step` recorded as reached (a copy; unchanged if it was)."""
    recorded = copy.deepcopy(sla)
    level = LadderLevel(step.level)
    if level is LadderLevel.ACCEPTANCE_DUE and step.due_at is not None:
        recorded["acceptance_told"] = aware(step.due_at)
    if by_hours(step, action_due_at) and level not in recorded["action_told"]:
        recorded["action_told"].append(level.value)
    if step.round == recorded["round"] and level not in recorded["reached"]:
        recorded["reached"].append(level.value)
    floor = recorded.get("floor")
    entered = level in ESCALATIONS and step.due_at is None  # at once, about no deadline
    if entered and (floor is None or RANK[level] > RANK[LadderLevel(floor)]):
        recorded["floor"] = level.value
    return recorded


def point_document(point: SlaPoint) -> str:
    """A point as stored: one string, "level|at|about|days|by hours", times in UTC to the
    millisecond as BSON keeps them. The scan reads some 10,000 entries of five points each
    in a busy minute, and FerretDB decodes a string at a fraction of the cost of a document
    with two dates (0.5 s against 0.9 s for 10,000 entries here)."""
    moment, deadline = aware(point.at), aware(point.about)
    assert moment is not None and deadline is not None
    return "|".join(
        (
            point.level.value,
            moment.astimezone(UTC).isoformat(timespec="milliseconds"),
            deadline.astimezone(UTC).isoformat(timespec="milliseconds"),
            str(point.overdue_working_days),
            "1" if point.by_hours else "0",
        )
    )


def point_of(stored: str | dict[str, Any]) -> SlaPoint:
    """A stored point: the string above, or the small document earlier versions stored."""
    if isinstance(stored, str):
        level, moment, deadline, days, hours = stored.split("|")
        return SlaPoint(
            at=datetime.fromisoformat(moment),
            level=LadderLevel(level),
            about=datetime.fromisoformat(deadline),
            overdue_working_days=int(days),
            by_hours=hours == "1",
        )
    at, about = aware(stored["at"]), aware(stored["ab"])
    assert at is not None and about is not None  # stored by point_document
    return SlaPoint(
        at=at,
        level=LadderLevel(stored["l"]),
        about=about,
        overdue_working_days=int(stored["d"]),
        by_hours=bool(stored["h"]),
    )


def entry_of(clock: dict[str, Any], sla: dict[str, Any]) -> dict[str, Any]:
    """What the scan reads instead of the clock: enough to tell its points (the event's
    facts; recipients are found from the region copy when told)."""
    return {
        "id": clock["_id"],
        "h": clock["hospital_id"],
        "n": clock.get("case_number"),
        "r": sla["round"],
        "d": clock.get("department"),
        "hd": clock.get("handler_id"),
        "u": clock.get("priority") == Priority.URGENT,
        "p": sla["points"],
    }


def slot_for(complaint_id: str, planned: Schedule, now: datetime) -> str | None:
    """Where the scan finds the clock: the minute of its next point; the late slots when
    that has passed already; the recheck slots of the year a later step waits for."""
    shard = shard_of(complaint_id)
    first = planned.next
    if first is not None:
        return time_slot(first.at, shard) if first.at > now else late_slot(shard)
    if planned.waits_for is not None:
        return recheck_slot(planned.waits_for, shard)
    return None


@dataclass(frozen=True)
class Listing:
    slot: str
    key: str


def listing_of(clock: dict[str, Any] | None) -> Listing | None:
    listed = ((clock or {}).get("sla") or {}).get("listed")
    return Listing(listed["slot"], listed["key"]) if listed else None


def _stamped(event: EventPayload, round_: int) -> EventPayload:
    if isinstance(event, LadderStep) and event.round != round_:
        return event.model_copy(update={"round": round_})
    return event


def planned_state(
    clock: dict[str, Any],
    decision: Decision | None,
    *,
    ladder: EscalationLadder,
    calendar: WorkingCalendar,
    now: datetime,
) -> tuple[dict[str, Any], list[EventPayload]]:
    """The clock's SLA state after `decision` (None: as it is), and the decision's events
    with the ladder steps among them stamped with the round they belong to."""
    sets = (decision.update.get("$set") or {}) if decision else {}
    after = {**clock, **sets}
    before = state_of(clock)
    sla = copy.deepcopy(state_of(after))
    events = list(decision.events) if decision else []
    if any(isinstance(event, DeadlineChanged) for event in events):
        sla["round"] += 1
        sla["reached"] = []
    action_due_at = aware(after.get("action_due_at"))
    for n, event in enumerate(events):
        if isinstance(event, LadderStep):
            events[n] = stamped = _stamped(event, sla["round"])
            assert isinstance(stamped, LadderStep)
            sla = record_step(sla, stamped, action_due_at=action_due_at)
    planned = schedule(facts_of(after, sla), ladder, calendar)
    sla["points"] = [point_document(p) for p in planned.points]
    sla["waits_for"] = planned.waits_for
    slot = slot_for(clock.get("_id") or after["_id"], planned, now)
    unchanged = (
        clock.get("sla") is not None
        and {**sla, "seq": 0, "listed": None} == {**before, "seq": 0, "listed": None}
        and entry_of(after, sla) == entry_of(clock, before)
        and (before["listed"] or {}).get("slot") == slot
    )
    if unchanged:
        return before, events
    seq = before["seq"] + 1
    sla["seq"] = seq
    sla["listed"] = {"slot": slot, "key": f"{after['_id']}~{seq}"} if slot else None
    return sla, events


def planned(
    decide: Decide, *, ladder: EscalationLadder, calendar: WorkingCalendar, now: datetime
) -> Decide:
    """`decide`, with the clock's SLA state planned again in the same write; no write
    when neither the decision nor the plan changes anything."""

    def decide_and_plan(clock: dict[str, Any]) -> Decision | None:
        decision = decide(clock)
        sla, events = planned_state(clock, decision, ladder=ladder, calendar=calendar, now=now)
        if decision is None and sla == state_of(clock) and clock.get("sla") is not None:
            return None
        base = decision or Decision()
        update = {**base.update, "$set": {**(base.update.get("$set") or {}), "sla": sla}}
        return Decision(update, events)

    return decide_and_plan


class SlaPlanner:
    """What a change of a clock needs to plan its SLA state: the hospital's ladder (`ladders`,
    from its routing rules), the official calendar and the platform's time (`now`: tests
    move it, shared/clock.py)."""

    def __init__(
        self,
        *,
        ladders: Callable[[str], Awaitable[EscalationLadder]],
        calendar: WorkingCalendar,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ladders = ladders
        self.calendar = calendar
        self.now = now

    async def ladder(self, hospital_id: str) -> EscalationLadder:
        return await self._ladders(hospital_id)

    def planned(self, decide: Decide, *, ladder: EscalationLadder, now: datetime) -> Decide:
        return planned(decide, ladder=ladder, calendar=self.calendar, now=now)

    def listing(self, clock: dict[str, Any]) -> Listing | None:
        return listing_of(clock)

    def entry(self, clock: dict[str, Any]) -> dict[str, Any]:
        return entry_of(clock, state_of(clock))

    def first_plan(
        self,
        clock: dict[str, Any],
        events: Sequence[EventPayload],
        *,
        ladder: EscalationLadder,
        now: datetime,
    ) -> tuple[dict[str, Any], list[EventPayload]]:
        """The SLA state of a clock about to start, and its events with their rounds."""
        return planned_state(
            clock, Decision({}, events), ladder=ladder, calendar=self.calendar, now=now
        )
