"""The holiday law a loaded year must keep (国务院《全国年节及纪念日放假办法》), checked
against every official year the chinese-calendar package knows: each passes, and breaking
any one of them is refused with the festival named."""

from __future__ import annotations

from datetime import date

import pytest
from chinese_calendar import constants as official
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.statutory_holidays import (
    Festival,
    shortfalls,
    statutory_days,
    statutory_total,
)
from tests.support.calendar_years import lawful_stand_in

HOLIDAYS: dict[int, set[date]] = {}
WORKDAYS: dict[int, set[date]] = {}
for _day in official.holidays:
    HOLIDAYS.setdefault(_day.year, set()).add(_day)
for _day in official.workdays:
    WORKDAYS.setdefault(_day.year, set()).add(_day)
OFFICIAL_YEARS = range(2004, 2027)


def arrangement(year: int) -> tuple[set[date], set[date]]:
    return set(HOLIDAYS[year]), set(WORKDAYS.get(year, set()))


def is_rest(day: date, holidays: set[date], workdays: set[date]) -> bool:
    return day in holidays or (day.weekday() >= 5 and day not in workdays)


def breaks_by_day(year: int) -> dict[date, set[Festival]]:
    """Each rest day of the official year, with the festivals of the run it belongs to."""
    holidays, workdays = arrangement(year)
    owner: dict[date, set[Festival]] = {}
    for festival, days in statutory_days(year).items():
        for day in days:
            run = [day]
            for step in (-1, 1):
                near = day
                while True:
                    near = date.fromordinal(near.toordinal() + step)
                    if near.year != year or not is_rest(near, holidays, workdays):
                        break
                    run.append(near)
            for d in run:
                owner.setdefault(d, set()).add(festival)
    return owner


@pytest.mark.parametrize(
    ("year", "total"), [(2007, 10), (2008, 11), (2016, 11), (2024, 11), (2025, 13), (2027, 13)]
)
def test_the_law_in_force_grants_its_days(year: int, total: int) -> None:
    assert statutory_total(year) == total


def test_the_2025_law_adds_the_eve_and_a_second_labour_day() -> None:
    days = statutory_days(2026)
    assert days[Festival.SPRING_FESTIVAL] == tuple(date(2026, 2, d) for d in (16, 17, 18, 19))
    assert days[Festival.LABOUR_DAY] == (date(2026, 5, 1), date(2026, 5, 2))
    assert days[Festival.QINGMING] == (date(2026, 4, 5),)
    assert days[Festival.DRAGON_BOAT] == (date(2026, 6, 19),)
    assert days[Festival.MID_AUTUMN] == (date(2026, 9, 25),)
    assert statutory_days(2024)[Festival.SPRING_FESTIVAL][0] == date(2024, 2, 10)  # 初一


@pytest.mark.parametrize("year", OFFICIAL_YEARS)
def test_every_official_year_keeps_the_law(year: int) -> None:
    assert shortfalls(year, *arrangement(year)) == []


@pytest.mark.parametrize("year", range(2008, 2027))
def test_dropping_a_weekday_festival_day_names_the_festival(year: int) -> None:
    holidays, workdays = arrangement(year)
    for festival, days in statutory_days(year).items():
        for day in days:
            if day.weekday() >= 5:
                continue  # a weekend festival day is a rest day listed or not
            found = shortfalls(year, holidays - {day}, workdays)
            assert any(festival in s.festivals for s in found), (day, found)
            assert any(festival.label in s.message for s in found)


@pytest.mark.parametrize("year", range(2008, 2027))
def test_dropping_any_holiday_the_year_needs_names_its_festival(year: int) -> None:
    """A year granting exactly the law's days (most years) breaks it with any weekday
    holiday removed; the message names the break the day belonged to."""
    holidays, workdays = arrangement(year)
    owner = breaks_by_day(year)
    tight = sum(1 for d in holidays if d.weekday() < 5) - sum(
        1 for d in workdays if d.weekday() >= 5 and d.month != 12
    ) == statutory_total(year)
    for day in sorted(d for d in holidays if d.weekday() < 5):
        found = shortfalls(year, holidays - {day}, workdays)
        if tight:
            assert found, day
        if found:
            named = {f for s in found for f in s.festivals}
            assert named & owner.get(day, set()), (day, [s.message for s in found])


def test_a_make_up_day_given_in_december_counts_for_the_next_new_year() -> None:
    # 2011-12-31 (Saturday) was worked for 2012-01-02 and 2012-01-03.
    assert date(2011, 12, 31) in WORKDAYS[2011]
    assert shortfalls(2011, *arrangement(2011)) == []


def test_the_bogus_year_of_the_finding_is_refused_festival_by_festival() -> None:
    found = shortfalls(2027, {date(2027, 1, 2)}, set())
    missing = {f for s in found if "must be a rest day" in s.message for f in s.festivals}
    assert missing == {
        Festival.NEW_YEAR,
        Festival.SPRING_FESTIVAL,
        Festival.QINGMING,
        Festival.DRAGON_BOAT,
        Festival.MID_AUTUMN,
        Festival.NATIONAL_DAY,
    }  # Labour Day 2027 (1-2 May) is a weekend: a rest day unlisted
    assert any("the law grants 13" in s.message for s in found)


def test_a_festival_day_made_a_working_day_is_refused() -> None:
    holidays, workdays = lawful_stand_in(2027)
    saturday = date(2027, 5, 1)
    found = shortfalls(2027, set(holidays) - {saturday}, {saturday})  # worked instead
    assert [s.festivals for s in found if "must be a rest day" in s.message] == [
        (Festival.LABOUR_DAY,)
    ]


@settings(max_examples=40, deadline=None)
@given(st.integers(2008, 2100))
def test_the_test_stand_in_years_keep_the_law(year: int) -> None:
    holidays, workdays = lawful_stand_in(year)
    assert shortfalls(year, holidays, workdays) == []
    assert len([d for d in holidays if d.weekday() < 5]) == statutory_total(year)


def test_years_before_the_law_are_not_checked() -> None:
    with pytest.raises(ValueError, match="from 2000"):
        statutory_days(1999)
