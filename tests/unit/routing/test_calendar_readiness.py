"""/readyz's calendar check: fails while deadlines set today could fall after the last
covered day, with what to do; a note a little earlier; fine otherwise."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.routing.api.routes import calendar_readiness
from services.routing.domain.calendar import CalendarCorrection, WorkingCalendar

HORIZON = timedelta(days=30)
CALENDAR = WorkingCalendar()
LAST = CALENDAR.covered_until()


def test_well_inside_the_calendar_it_is_ready_without_a_note() -> None:
    assert calendar_readiness(CALENDAR, LAST - timedelta(days=120), HORIZON) is None


def test_near_the_end_it_is_ready_with_a_note() -> None:
    note = calendar_readiness(CALENDAR, LAST - timedelta(days=40), HORIZON)
    assert note is not None and f"PUT /v1/admin/calendar/{LAST.year + 1}" in note


@pytest.mark.parametrize("days_left", [29, 10, 0])
def test_within_the_horizon_it_is_not_ready_and_says_what_to_do(days_left: int) -> None:
    with pytest.raises(LookupError) as failed:
        calendar_readiness(CALENDAR, LAST - timedelta(days=days_left), HORIZON)
    message = str(failed.value)
    assert str(LAST) in message and f"/v1/admin/calendar/{LAST.year + 1}" in message


def test_loading_the_next_year_makes_it_ready_again() -> None:
    calendar = WorkingCalendar()
    today = LAST - timedelta(days=5)
    with pytest.raises(LookupError):
        calendar_readiness(calendar, today, HORIZON)
    calendar.reload([CalendarCorrection(year=LAST.year + 1, holidays={date(LAST.year + 1, 1, 1)})])
    assert calendar_readiness(calendar, today, HORIZON) is None
