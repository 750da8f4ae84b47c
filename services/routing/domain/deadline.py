"""Reply deadlines in working days: how every deadline is computed (docs/rules.md#deadlines
D2, D3; #calendar K4).

The rule, with its sources:
- Counting starts from receipt, but night, weekend and holiday receipts are handled from
  the next working day (《用户举报和投诉处理制度》:
  夜间、节假日值班期间接到的投诉举报,应于次日或节假日后的第一个工作日办理). So the
  *counting day* is the China day of receipt when that is a working day and the complaint
  arrived before closing time (an early-morning one is handled that same morning); after
  closing, or on a rest day, it is the next working day.
- The counting day itself does not count (期间开始之日不计算在内): the reply is due at the
  end (23:59:59 China time) of the N-th working day after it. N = 0 is a same-day deadline.

One `DeadlineRule` covers every way a reply deadline arises:
- counted from a moment (receipt, supplement, dispute): its counting day, then
  `working_days` working days (or `reply_hours` hours for adverse events, which never need
  the calendar), and the acceptance deadline while it is still needed;
- after a known due day (`after`: an extension of a deadline that was already set);
- plus the working days of every extension approved while it waited (`extra_working_days`):
  n working days after the N-th working day is the (N + n)-th, because the counting day and
  a due day are always working days.

Working days are never guessed for a year whose official arrangement is not loaded
(calendar.py), and a complaint never waits for the calendar either: what `count` cannot
count yet stays in the rule, waiting for one year; when the bureau loads that year the rule
is counted again (issue 9).

Days are China days (shared/contracts/vocabulary.py CHINA) whatever the server's zone.
Pure: a rule and a calendar in, dates out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.routing.domain.calendar import CalendarNotCovered, WorkingCalendar
from shared.contracts import CHINA

END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class OfficeHours:
    """A hospital's complaint-office hours, China wall-clock time. Only `closes` moves the
    counting day: a receipt before `opens` is handled that morning (docs/rules.md#deadlines D3)."""

    opens: time = time(8, 0)
    closes: time = time(17, 30)

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("office hours: wall-clock times without a time zone")
        if not self.opens < self.closes:
            raise ValueError("office hours: must open before they close")


OFFICE_HOURS = OfficeHours()


def in_china(moment: datetime) -> datetime:
    """`moment` as China wall-clock time; a naive time is ambiguous, so it is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("received_at: must carry a time zone")
    return moment.astimezone(CHINA)


def counting_day(
    received_at: datetime,
    calendar: WorkingCalendar,
    office_hours: OfficeHours = OFFICE_HOURS,
) -> date:
    """The working day the complaint counts as received on (see the module rule)."""
    local = in_china(received_at)
    day = local.date()
    if calendar.is_working_day(day) and local.time() < office_hours.closes:
        return day
    return calendar.next_working_day(day)


def reply_due_at(
    received_at: datetime,
    working_days: int,
    calendar: WorkingCalendar,
    office_hours: OfficeHours = OFFICE_HOURS,
) -> datetime:
    """The instant (UTC) the reply is due: 23:59:59 China time of the `working_days`-th
    working day after the counting day. Raises CalendarNotCovered for an unknown year."""
    if working_days < 0:
        raise ValueError("working_days: must be zero or positive")
    start = counting_day(received_at, calendar, office_hours)
    return end_of(calendar.add_working_days(start, working_days))


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
