"""Working days from receipt to reply, on the official calendar (statutory holidays and the
weekend days made working days, 调休), for the response-time statistics. Pure.

Routing's WorkingCalendar (services/routing/domain/calendar.py) is pure too, but it is
routing's: services do not import each other, and the corrections the bureau loads live in
routing's database. This reads the same official arrangement (the chinese-calendar
package routing builds on); a year the package does not cover has no answer (None) rather
than a guess, and such replies count in hours only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache

from chinese_calendar import constants as official

from shared.contracts import CHINA


@cache
def _arrangement() -> tuple[frozenset[int], frozenset[date], frozenset[date]]:
    holidays, workdays = frozenset(official.holidays), frozenset(official.workdays)
    return frozenset(day.year for day in holidays | workdays), holidays, workdays


def is_working_day(day: date) -> bool | None:
    years, holidays, workdays = _arrangement()
    if day.year not in years:
        return None
    return day in workdays or (day.weekday() < 5 and day not in holidays)


def working_days_between(start: datetime, end: datetime) -> int | None:
    """Working days in (start's day, end's day], China time: a reply the same day is 0, the
    next working day 1 (the day of receipt does not count, as routing counts deadlines)."""
    first, last = start.astimezone(CHINA).date(), end.astimezone(CHINA).date()
    count, day = 0, first
    while day < last:
        day += timedelta(days=1)
        working = is_working_day(day)
        if working is None:
            return None
        count += working
    if is_working_day(first) is None:
        return None
    return count
