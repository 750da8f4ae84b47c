"""When a staff notice may arrive: a notice that is not urgent waits for office hours of a
working day instead of waking someone at midnight or on a holiday (a frequent complaint
about the anchors); an urgent one goes at once (docs/rules.md#escalation E13).

Working days are the official calendar's, from the chinese-calendar package (built from the
State Council's holiday notices). A year it does not know yet counts Monday to Friday: a
notice is delayed by a holiday it could not foresee, never lost. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar

from shared.contracts import CHINA


@dataclass(frozen=True)
class StaffHours:
    """The hours staff notices arrive in, China wall-clock time."""

    opens: time = time(8, 0)
    closes: time = time(17, 30)


STAFF_HOURS = StaffHours()


def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package does not cover yet
        return day.weekday() < 5


def release_at(now: datetime, *, urgent: bool, hours: StaffHours = STAFF_HOURS) -> datetime | None:
    """None: send now. Otherwise the opening of the next office hours (UTC)."""
    if urgent:
        return None
    local = now.astimezone(CHINA)
    day = local.date()
    if is_working_day(day) and hours.opens <= local.time() < hours.closes:
        return None
    if not (is_working_day(day) and local.time() < hours.opens):
        day += timedelta(days=1)
    for _ in range(60):  # the longest holiday is far shorter
        if is_working_day(day):
            break
        day += timedelta(days=1)
    return datetime.combine(day, hours.opens, tzinfo=CHINA).astimezone(UTC)
