"""Deadlines that wait for the calendar (docs/rules.md#calendar K4; issue 9).

Working days are never guessed for a year whose official arrangement is not loaded
(calendar.py), and a complaint never waits for the calendar either: routing decides the
department, handler and priority at once, and what it cannot count yet is kept as a
DeadlineRule (how to count it) waiting for one year. When the bureau loads that year the
rule is counted again; a rule that now needs a later year waits for that one.

One rule covers every way a reply deadline arises:
- counted from a moment (receipt, supplement, dispute): its counting day (deadline.py),
  then `working_days` working days (or `reply_hours` hours for adverse events, which never
  need the calendar), and the acceptance deadline while it is still needed;
- after a known due day (`after`: an extension of a deadline that was already set);
- plus the working days of every extension approved while it waited (`extra_working_days`):
  n working days after the N-th working day is the (N + n)-th, because the counting day and
  a due day are always working days.

Pure: a rule and a calendar in, dates out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.routing.domain.calendar import CalendarNotCovered, WorkingCalendar
from services.routing.domain.deadline import END_OF_DAY, counting_day
from shared.contracts import CHINA


def end_of(day: date) -> datetime:
    """A due day as the instant it ends (23:59:59 China time), in UTC."""
    return datetime.combine(day, END_OF_DAY, tzinfo=CHINA).astimezone(UTC)


@dataclass(frozen=True)
class DeadlineRule:
    """How a reply deadline is counted, kept until the calendar can count it."""

    reason: str  # why the deadline is (re)counted: the deadline change's reason
    counted_from: datetime | None = None  # receipt, supplement or dispute
    working_days: int = 0  # reply working days after the counting day
    reply_hours: int | None = None  # or: hours after the moment itself (no calendar needed)
    after: date | None = None  # or: a known due day (China day) to extend
    extra_working_days: int = 0  # extensions approved meanwhile
    acceptance_working_days: int | None = None  # the acceptance deadline is counted too
    reply: bool = True  # False: the reply deadline is known (hours), only acceptance waits
    previous_due_at: datetime | None = None  # the deadline this one replaces, if any

    def __post_init__(self) -> None:
        if self.counted_from is None and self.after is None:
            raise ValueError("a deadline is counted from a moment or after a due day")
        if self.reply_hours is not None and self.counted_from is None:
            raise ValueError("reply_hours: counted from a moment")
        if self.working_days < 0 or self.extra_working_days < 0:
            raise ValueError("working days: must be zero or positive")

    @property
    def reply_working_days(self) -> int:
        """What the deadline change reports: the reply target plus any extension."""
        return self.working_days + self.extra_working_days

    def extended(self, working_days: int, *, reason: str) -> DeadlineRule:
        """The same rule with an approved extension added (it waits as well)."""
        return replace(
            self, extra_working_days=self.extra_working_days + working_days, reason=reason
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "counted_from": self.counted_from,
            "working_days": self.working_days,
            "reply_hours": self.reply_hours,
            "after": self.after.isoformat() if self.after else None,
            "extra_working_days": self.extra_working_days,
            "acceptance_working_days": self.acceptance_working_days,
            "reply": self.reply,
            "previous_due_at": self.previous_due_at,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> DeadlineRule:
        def aware(moment: datetime | None) -> datetime | None:
            if moment is not None and moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)  # BSON dates come back naive, in UTC
            return moment

        after = document.get("after")
        return cls(
            reason=document["reason"],
            counted_from=aware(document.get("counted_from")),
            working_days=int(document.get("working_days", 0)),
            reply_hours=document.get("reply_hours"),
            after=date.fromisoformat(after) if after else None,
            extra_working_days=int(document.get("extra_working_days", 0)),
            acceptance_working_days=document.get("acceptance_working_days"),
            reply=bool(document.get("reply", True)),
            previous_due_at=aware(document.get("previous_due_at")),
        )


@dataclass(frozen=True)
class Counted:
    """What the calendar could count now, and what still waits (`rule`, for `waits_for`)."""

    counting_day: date | None
    acceptance_due_at: datetime | None
    due_at: datetime | None
    waits_for: int | None = None
    rule: DeadlineRule | None = None

    @property
    def reply_pending_year(self) -> int | None:
        """The year the reply deadline waits for (None once it is a date)."""
        return self.waits_for if self.rule is not None and self.rule.reply else None


def count(rule: DeadlineRule, calendar: WorkingCalendar) -> Counted:
    """Count `rule` as far as the calendar allows. What is missing stays in the returned
    rule, waiting for the first year the calendar lacks."""
    due: datetime | None = None
    left = rule
    if rule.reply and rule.after is None and rule.reply_hours is not None:
        assert rule.counted_from is not None  # __post_init__
        due = rule.counted_from.astimezone(UTC) + timedelta(hours=rule.reply_hours)
        left = replace(left, reply=False)
    start: date | None = None
    if rule.counted_from is not None:
        try:
            start = counting_day(rule.counted_from, calendar)
        except CalendarNotCovered as gap:
            return Counted(None, None, due, gap.day.year, left)
    waits_for: int | None = None
    acceptance: datetime | None = None
    if start is not None and rule.acceptance_working_days is not None:
        try:
            acceptance = end_of(calendar.add_working_days(start, rule.acceptance_working_days))
            left = replace(left, acceptance_working_days=None)
        except CalendarNotCovered as gap:
            waits_for = gap.day.year
    if left.reply:
        if rule.after is not None:
            base, days = rule.after, rule.extra_working_days
        else:
            assert start is not None
            base, days = start, rule.working_days + rule.extra_working_days
        try:
            due = end_of(calendar.add_working_days(base, days))
            left = replace(left, reply=False)
        except CalendarNotCovered as gap:
            waits_for = gap.day.year if waits_for is None else min(waits_for, gap.day.year)
    if waits_for is None:
        return Counted(start, acceptance, due)
    return Counted(start, acceptance, due, waits_for, left)
