"""/readyz's calendar check: a note when the calendar's end is near or deadlines wait for a
year, never a failure (routing does all its work meanwhile, and the admin API that loads
the year must stay reachable); nothing when all is well."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.routing.api.routes import calendar_readiness
from services.routing.domain.calendar import CalendarCorrection, WorkingCalendar

CALENDAR = WorkingCalendar()
LAST = CALENDAR.covered_until()


def test_well_inside_the_calendar_it_is_ready_without_a_note() -> None:
    assert calendar_readiness(CALENDAR, LAST - timedelta(days=120)) is None


@pytest.mark.parametrize("days_left", [44, 29, 10, 0])
def test_near_the_end_it_stays_ready_and_says_what_to_do(days_left: int) -> None:
    note = calendar_readiness(CALENDAR, LAST - timedelta(days=days_left))
    assert note is not None and str(LAST) in note
    assert f"PUT /v1/admin/calendar/{LAST.year + 1}" in note


def test_deadlines_waiting_for_a_year_are_in_the_note() -> None:
    note = calendar_readiness(CALENDAR, LAST - timedelta(days=10), {LAST.year + 1: 3, 2099: 0})
    assert note is not None and f"3 for {LAST.year + 1}" in note and "2099" not in note


def test_loading_the_next_year_removes_the_note() -> None:
    calendar = WorkingCalendar()
    today = LAST - timedelta(days=5)
    assert calendar_readiness(calendar, today) is not None
    calendar.reload([CalendarCorrection(year=LAST.year + 1, holidays={date(LAST.year + 1, 1, 1)})])
    assert calendar_readiness(calendar, today) is None
