"""Stand-in holiday arrangements for years the State Council has not published yet.

TEST DATA ONLY, never a real notice: the statutory festival days of the year (lunar dates
from lunar-python) plus, for each festival day that falls on a weekend or on another
festival's day, the next free weekday after that festival as its make-up day (补假), and
no weekend working days (no 调休). That keeps the holiday law
(services/routing/domain/statutory_holidays.py), so routing accepts it; real deployments
load the published notice (PUT /v1/admin/calendar/{year}).
"""

from __future__ import annotations

from datetime import date, timedelta

from services.routing.domain.statutory_holidays import shortfalls, statutory_days


def lawful_stand_in(year: int) -> tuple[list[date], list[date]]:
    """(holidays, workdays) of a lawful, invented arrangement for `year`."""
    holidays: set[date] = set()
    for days in statutory_days(year).values():
        owed = 0
        for day in days:
            if day.weekday() >= 5 or day in holidays:
                owed += 1
            holidays.add(day)
        make_up = max(days)
        while owed:
            make_up += timedelta(days=1)
            if make_up.weekday() < 5 and make_up not in holidays and make_up.year == year:
                holidays.add(make_up)
                owed -= 1
    problems = shortfalls(year, holidays, [])
    assert not problems, [p.message for p in problems]
    return sorted(holidays), []
