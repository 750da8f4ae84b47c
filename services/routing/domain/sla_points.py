"""A clock's points on the escalation ladder, in working time on the official calendar
(docs/rules.md#escalation E7, E8).

Given a clock's deadlines and what it has reached, `schedule` lists the points still
ahead in this round, in order: the warning (`warning_percent` of the round's working
time), the acceptance deadline, the reply deadline, then the escalation levels at 2, 5
and 10 working days overdue (the ladder's); an urgent case also its action deadline and,
hours after it, the bureau.

- Working time is office hours (08:00-17:30, deadline.py OfficeHours) of working days:
  the warning of a five-working-day deadline falls at the close of the fourth working day,
  of a one-day deadline at 15:36 of that day; always while people are at work, before the
  deadline. A deadline counted in hours (adverse events) has its warning in clock hours.
- The round's working time starts after its counting day, or after the deadline an
  extension extends (`ReplyWindow`). A supplement restart, an extension, a re-review or a
  deadline the calendar finally counts starts a new round (the clock's, sla_state.py): the
  points move with the deadlines, and each level of each round is reached once.
- A case that reached an escalation level is never sent down to a lower one in the same
  round, nor to a level at or below the one it entered at (`floor`: urgent cases enter at
  leadership, major disputes and group complaints at the bureau).
- A paused or stopped clock has no points; a deadline waiting for the calendar has none
  until its date is known; a step in a year the calendar does not cover yet is not
  guessed: the schedule ends there and says which year it waits for (`waits_for`).

Pure: facts, a ladder and the calendar in, points out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from services.routing.domain.calendar import CalendarNotCovered, WorkingCalendar
from services.routing.domain.deadline import OFFICE_HOURS, OfficeHours, end_of
from services.routing.domain.escalation_ladder import ESCALATIONS, RANK, EscalationLadder
from shared.contracts import CHINA, LadderLevel


@dataclass(frozen=True, order=True)
class SlaPoint:
    """A level the clock reaches at `at` (UTC), about the deadline `about`."""

    at: datetime
    rank: int = field(init=False, repr=False)
    level: LadderLevel = field(compare=False)
    about: datetime = field(compare=False)
    overdue_working_days: int = field(default=0, compare=False)
    by_hours: bool = field(default=False, compare=False)  # the urgent climb, once per case

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank", RANK[self.level])


@dataclass(frozen=True)
class ReplyWindow:
    """The working time a round allows: the working days after `after` (the counting day,
    or the due day an extension extends), or the clock hours from `since` (a deadline
    counted in hours)."""

    after: date | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class ClockFacts:
    """What the schedule needs of a clock (sla_state.py reads them from its document)."""

    running: bool  # open: neither paused for a supplement nor stopped
    urgent: bool = False
    accepted: bool = False
    acceptance_due_at: datetime | None = None
    due_at: datetime | None = None  # None while the reply deadline waits for the calendar
    action_due_at: datetime | None = None  # urgent cases
    window: ReplyWindow | None = None
    reached: frozenset[LadderLevel] = frozenset()  # in this round
    floor: LadderLevel | None = None  # the level the case entered the ladder at
    acceptance_told: datetime | None = None  # the acceptance deadline already told of
    action_told: frozenset[LadderLevel] = frozenset()  # the urgent climb already told


@dataclass(frozen=True)
class Schedule:
    points: tuple[SlaPoint, ...] = ()
    waits_for: int | None = None  # a later step needs this year's official calendar

    @property
    def next(self) -> SlaPoint | None:
        return self.points[0] if self.points else None


def warning_at(
    window: ReplyWindow,
    due_at: datetime,
    percent: int,
    calendar: WorkingCalendar,
    office_hours: OfficeHours = OFFICE_HOURS,
) -> datetime | None:
    """The instant `percent` of the round's working time has passed; None for a same-day
    deadline (no working time to warn within). Raises CalendarNotCovered."""
    if window.since is not None:
        return window.since + (due_at - window.since) * percent / 100
    if window.after is None:
        return None
    due_day = due_at.astimezone(CHINA).date()
    total = calendar.working_days_between(window.after, due_day)
    if total == 0:
        return None
    spent = Fraction(total * percent, 100)
    whole = int(spent)
    part = spent - whole
    opens = datetime.combine(date.min, office_hours.opens)
    length = datetime.combine(date.min, office_hours.closes) - opens
    if part == 0:  # exactly `whole` working days: the close of the last of them
        day = calendar.add_working_days(window.after, whole)
        return datetime.combine(day, office_hours.closes, tzinfo=CHINA).astimezone(UTC)
    day = calendar.add_working_days(window.after, whole + 1)
    start = datetime.combine(day, office_hours.opens, tzinfo=CHINA)
    seconds = int(length.total_seconds() * part)
    return (start + timedelta(seconds=seconds)).astimezone(UTC)


def _allowed(level: LadderLevel, facts: ClockFacts) -> bool:
    """Neither reached in this round nor made moot by what was (module note)."""
    if level in facts.reached:
        return False
    if level is LadderLevel.WARNING and LadderLevel.REPLY_DUE in facts.reached:
        return False
    if level in ESCALATIONS:
        if facts.floor is not None and RANK[level] <= RANK[facts.floor]:
            return False
        if any(RANK[other] > RANK[level] for other in facts.reached if other in ESCALATIONS):
            return False
    return True


def schedule(
    facts: ClockFacts,
    ladder: EscalationLadder,
    calendar: WorkingCalendar,
    office_hours: OfficeHours = OFFICE_HOURS,
) -> Schedule:
    """The points still ahead of the clock in this round, earliest first (module note)."""
    if not facts.running:
        return Schedule()
    found: list[SlaPoint] = []
    waits_for: int | None = None

    def add(point: SlaPoint) -> None:
        if _allowed(point.level, facts):
            found.append(point)

    acceptance = facts.acceptance_due_at
    if acceptance is not None and not facts.accepted and facts.acceptance_told != acceptance:
        add(SlaPoint(at=acceptance, level=LadderLevel.ACCEPTANCE_DUE, about=acceptance))
    action = facts.action_due_at
    if facts.urgent and action is not None:
        if LadderLevel.ACTION_DUE not in facts.action_told:
            add(SlaPoint(at=action, level=LadderLevel.ACTION_DUE, about=action, by_hours=True))
        if LadderLevel.BUREAU not in facts.action_told:
            later = action + timedelta(hours=ladder.urgent_bureau_after_hours)
            add(SlaPoint(at=later, level=LadderLevel.BUREAU, about=action, by_hours=True))
    due = facts.due_at
    if due is not None:
        try:
            if facts.window is not None:
                warning = warning_at(
                    facts.window, due, ladder.warning_percent, calendar, office_hours
                )
                if warning is not None:
                    add(SlaPoint(at=warning, level=LadderLevel.WARNING, about=due))
        except CalendarNotCovered as gap:
            waits_for = gap.day.year
        add(SlaPoint(at=due, level=LadderLevel.REPLY_DUE, about=due))
        due_day = due.astimezone(CHINA).date()
        for level, days in ladder.overdue_steps:
            try:
                at = end_of(calendar.add_working_days(due_day, days))
            except CalendarNotCovered as gap:
                waits_for = gap.day.year if waits_for is None else min(waits_for, gap.day.year)
                break
            add(SlaPoint(at=at, level=level, about=due, overdue_working_days=days))
    earliest: dict[LadderLevel, SlaPoint] = {}
    for point in sorted(found):
        earliest.setdefault(point.level, point)
    return Schedule(tuple(sorted(earliest.values())), waits_for)


def to_tell(points: tuple[SlaPoint, ...], now: datetime) -> tuple[SlaPoint, ...]:
    """Of the points that have passed by `now`, those worth telling: a warning is moot once
    the deadline itself has passed, and of several escalation levels only the highest is
    told (it supersedes the lower ones, as it would have a moment later)."""
    passed = [p for p in points if p.at <= now]
    levels = {p.level for p in passed}
    top = max((RANK[p.level] for p in passed if p.level in ESCALATIONS), default=None)
    told: list[SlaPoint] = []
    for point in passed:
        if point.level is LadderLevel.WARNING and LadderLevel.REPLY_DUE in levels:
            continue
        if point.level in ESCALATIONS and top is not None and RANK[point.level] < top:
            continue
        told.append(point)
    return tuple(told)


def _day(moment: datetime) -> str:
    local = moment.astimezone(CHINA)
    return f"{local.year}年{local.month}月{local.day}日"


def _minute(moment: datetime) -> str:
    return f"{_day(moment)}{moment.astimezone(CHINA):%H:%M}"


def reason(point: SlaPoint) -> str:
    """Why the people told are told, in Chinese: the deadline and how far past it; never
    anything the complainant wrote (docs/rules.md#confidentiality Q6)."""
    level, about = point.level, point.about
    if level is LadderLevel.WARNING:
        return f"答复期限{_day(about)}将至，请抓紧办理"
    if level is LadderLevel.ACCEPTANCE_DUE:
        return f"受理期限{_day(about)}已到，尚未决定是否受理"
    if level is LadderLevel.ACTION_DUE:
        return f"紧急投诉处置期限{_minute(about)}已到"
    if level is LadderLevel.REPLY_DUE:
        return f"答复期限{_day(about)}已到，尚未答复"
    if point.by_hours:
        hours = round((point.at - about).total_seconds() / 3600)
        return f"紧急投诉处置期限{_minute(about)}已过{hours}小时"
    return f"答复期限{_day(about)}已过{point.overdue_working_days}个工作日，尚未答复"
