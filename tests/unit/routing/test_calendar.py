"""The official calendar: statutory holidays, make-up working days, uncovered years."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.calendar import CalendarCorrection, CalendarNotCovered, WorkingCalendar

CALENDAR = WorkingCalendar()
covered_days = st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 10, 31))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 1, 28), False),  # 除夕, Spring Festival 2025
        (date(2025, 2, 4), False),  # last day of the 2025 Spring Festival holiday
        (date(2025, 1, 26), True),  # Sunday made a working day (调休)
        (date(2025, 2, 8), True),  # Saturday made a working day
        (date(2025, 4, 27), True),  # Sunday made a working day for Labour Day
        (date(2025, 5, 1), False),  # Labour Day 2025, May 1-5
        (date(2025, 5, 5), False),  # a Monday inside the Labour Day holiday
        (date(2025, 5, 6), True),
        (date(2025, 9, 28), True),  # Sunday before National Day, made a working day
        (date(2025, 10, 1), False),  # National Day
        (date(2025, 10, 8), False),  # National Day + Mid-Autumn, 8 days off
        (date(2025, 10, 11), True),  # Saturday made a working day
        (date(2025, 10, 12), False),  # an ordinary Sunday
        (date(2026, 2, 16), False),  # Spring Festival 2026
        (date(2026, 2, 14), True),  # Saturday made a working day
        (date(2026, 2, 23), False),  # last day of the 2026 Spring Festival holiday (Monday)
        (date(2026, 2, 28), True),  # Saturday made a working day
        (date(2026, 1, 4), True),  # Sunday made a working day for New Year
        (date(2026, 5, 1), False),  # Labour Day
        (date(2026, 5, 9), True),  # Saturday made a working day
        (date(2026, 10, 10), True),  # Saturday made a working day after National Day
        (date(2026, 11, 23), True),  # an ordinary Monday
        (date(2026, 11, 21), False),  # an ordinary Saturday
    ],
)
def test_official_days(day: date, working: bool) -> None:
    assert CALENDAR.is_working_day(day) is working


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (date(2025, 9, 30), 5, date(2025, 10, 14)),  # across National Day, via Sat 10-11
        (date(2025, 1, 27), 1, date(2025, 2, 5)),  # the day before 除夕 → after the holiday
        (date(2025, 1, 24), 2, date(2025, 1, 27)),  # Fri + Sun(working) + Mon
        (date(2026, 2, 13), 1, date(2026, 2, 14)),  # make-up Saturday counts
        (date(2026, 11, 20), 5, date(2026, 11, 27)),  # ordinary week, Friday to Friday
        (date(2026, 11, 21), 5, date(2026, 11, 27)),  # Saturday: counting from Monday
        (date(2026, 11, 21), 0, date(2026, 11, 23)),  # same-day deadline on a weekend
        (date(2026, 11, 23), 0, date(2026, 11, 23)),
        (date(2025, 4, 30), 1, date(2025, 5, 6)),  # across Labour Day 2025
        (date(2025, 4, 25), 1, date(2025, 4, 27)),  # Friday → the working Sunday
        (date(2026, 2, 13), 6, date(2026, 2, 28)),  # across Spring Festival 2026 to make-up Sat
    ],
)
def test_add_working_days(start: date, n: int, due: date) -> None:
    assert CALENDAR.add_working_days(start, n) == due


def test_next_and_first_working_day() -> None:
    assert CALENDAR.next_working_day(date(2025, 9, 30)) == date(2025, 10, 9)
    assert CALENDAR.first_working_day_on_or_after(date(2025, 10, 9)) == date(2025, 10, 9)
    assert CALENDAR.first_working_day_on_or_after(date(2025, 10, 5)) == date(2025, 10, 9)


def test_working_days_between_counts_the_half_open_interval() -> None:
    assert CALENDAR.working_days_between(date(2025, 9, 30), date(2025, 10, 14)) == 5
    assert CALENDAR.working_days_between(date(2025, 10, 14), date(2025, 9, 30)) == 0
    assert CALENDAR.working_days_between(date(2025, 10, 1), date(2025, 10, 8)) == 0


def test_a_year_without_an_official_notice_is_not_guessed() -> None:
    assert CALENDAR.covered_until() == date(2026, 12, 31)
    assert not CALENDAR.covers(date(2027, 1, 4))
    with pytest.raises(CalendarNotCovered) as raised:
        CALENDAR.is_working_day(date(2027, 1, 4))
    assert raised.value.day == date(2027, 1, 4)
    assert "2027" in str(raised.value)
    with pytest.raises(CalendarNotCovered):  # 5 working days from 28 Dec reach into 2027
        CALENDAR.add_working_days(date(2026, 12, 28), 5)
    with pytest.raises(CalendarNotCovered):
        CALENDAR.working_days_between(date(2026, 12, 1), date(2027, 1, 10))


def test_the_year_end_is_refused_not_guessed() -> None:
    with pytest.raises(CalendarNotCovered) as raised:
        CALENDAR.next_working_day(date(2026, 12, 31))
    assert raised.value.day == date(2027, 1, 1)
    with pytest.raises(CalendarNotCovered):
        CALENDAR.first_working_day_on_or_after(date(2027, 1, 1))
    assert CALENDAR.next_working_day(date(2026, 12, 30)) == date(2026, 12, 31)
    assert CALENDAR.covers(date(2004, 1, 1))
    assert not CALENDAR.covers(date(2003, 12, 31))


def test_a_correction_loaded_by_the_bureau_covers_the_next_year() -> None:
    notice = CalendarCorrection(
        year=2027,
        holidays={date(2027, 1, 1)},
        workdays={date(2027, 1, 2)},  # invented make-up Saturday for the test
    )
    calendar = WorkingCalendar([notice])
    assert calendar.covered_until() == date(2027, 12, 31)
    assert calendar.covers(date(2027, 6, 1))
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2027, 1, 2))
    assert calendar.is_working_day(date(2027, 1, 4))
    assert not calendar.is_working_day(date(2027, 1, 3))
    assert calendar.add_working_days(date(2026, 12, 28), 5) == date(2027, 1, 4)
    assert calendar.next_working_day(date(2026, 12, 31)) == date(2027, 1, 2)
    assert calendar.working_days_between(date(2026, 12, 30), date(2027, 1, 4)) == 3
    # The package's years are untouched.
    assert calendar.is_working_day(date(2026, 2, 14))


def test_a_correction_replaces_the_package_for_its_year() -> None:
    moved = CalendarCorrection(year=2026, holidays={date(2026, 11, 23)})
    calendar = WorkingCalendar([moved])
    assert not calendar.is_working_day(date(2026, 11, 23))
    assert calendar.is_working_day(date(2026, 2, 16))  # the package's holidays are replaced
    assert calendar.covered_until() == date(2026, 12, 31)


def test_a_gap_year_cannot_be_skipped_over() -> None:
    calendar = WorkingCalendar([CalendarCorrection(year=2028)])
    assert calendar.covers(date(2028, 3, 1))
    assert calendar.covered_until() == date(2026, 12, 31)
    with pytest.raises(CalendarNotCovered) as raised:
        calendar.add_working_days(date(2026, 12, 30), 5)
    assert raised.value.day == date(2027, 1, 1)
    with pytest.raises(CalendarNotCovered):
        calendar.working_days_between(date(2026, 12, 1), date(2028, 1, 10))
    with pytest.raises(CalendarNotCovered):
        calendar.next_working_day(date(2026, 12, 31))
    assert calendar.add_working_days(date(2028, 1, 1), 1) == date(2028, 1, 3)


def test_corrections_are_validated() -> None:
    with pytest.raises(ValueError, match="outside 2027"):
        CalendarCorrection(year=2027, holidays={date(2026, 12, 31)})
    with pytest.raises(ValueError, match="both"):
        CalendarCorrection(year=2027, holidays={date(2027, 1, 1)}, workdays={date(2027, 1, 1)})
    with pytest.raises(ValueError, match="twice"):
        WorkingCalendar([CalendarCorrection(year=2027), CalendarCorrection(year=2027)])
    with pytest.raises(ValueError, match="n:"):
        CALENDAR.add_working_days(date(2026, 1, 5), -1)
    assert CalendarCorrection(year=2027, holidays=[date(2027, 1, 1)]).holidays == frozenset(
        {date(2027, 1, 1)}
    )


def test_the_not_covered_message_names_the_day_and_the_year() -> None:
    message = str(CalendarNotCovered(date(2027, 2, 6)))
    assert "2027-02-06" in message
    assert "holiday arrangement for 2027 is not loaded" in message


def test_questions_never_reach_the_package_once_built(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> bool:
        raise AssertionError("the calendar asked chinese_calendar per day")

    calendar = WorkingCalendar()
    for name in ("is_workday", "is_holiday", "get_workdays", "find_workday"):
        monkeypatch.setattr(chinese_calendar, name, refuse)
    assert calendar.add_working_days(date(2025, 9, 30), 5) == date(2025, 10, 14)
    assert calendar.working_days_between(date(2004, 1, 1), date(2026, 12, 31)) > 5000
    assert calendar.is_working_day(date(2025, 10, 11))


@settings(max_examples=200, deadline=None)
@given(covered_days)
def test_agrees_with_the_package_day_by_day(day: date) -> None:
    assert CALENDAR.is_working_day(day) == chinese_calendar.is_workday(day)


@settings(max_examples=200, deadline=None)
@given(covered_days, st.integers(min_value=0, max_value=30))
def test_add_agrees_with_a_naive_walk(day: date, n: int) -> None:
    walked, counted = day, 0
    if n == 0:
        while not chinese_calendar.is_workday(walked):
            walked += timedelta(days=1)
    while counted < n:
        walked += timedelta(days=1)
        counted += chinese_calendar.is_workday(walked)
    assert CALENDAR.add_working_days(day, n) == walked


@settings(max_examples=200, deadline=None)
@given(covered_days, st.integers(min_value=1, max_value=40))
def test_adding_lands_on_a_working_day_and_counts_back(day: date, n: int) -> None:
    due = CALENDAR.add_working_days(day, n)
    assert due > day
    assert CALENDAR.is_working_day(due)
    assert CALENDAR.working_days_between(day, due) == n
    assert CALENDAR.add_working_days(day, n + 1) > due


@settings(max_examples=200, deadline=None)
@given(covered_days, st.integers(min_value=1, max_value=20), st.integers(min_value=1, max_value=20))
def test_adding_composes(day: date, a: int, b: int) -> None:
    assert CALENDAR.add_working_days(CALENDAR.add_working_days(day, a), b) == (
        CALENDAR.add_working_days(day, a + b)
    )


@settings(max_examples=200, deadline=None)
@given(covered_days, covered_days, covered_days)
def test_between_is_additive(a: date, b: date, c: date) -> None:
    a, b, c = sorted((a, b, c))
    assert CALENDAR.working_days_between(a, c) == (
        CALENDAR.working_days_between(a, b) + CALENDAR.working_days_between(b, c)
    )
