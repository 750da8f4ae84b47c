"""Reply deadlines: the counting day (docs/rules.md#deadlines D3), then N working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.calendar import CalendarCorrection, CalendarNotCovered, WorkingCalendar
from services.routing.domain.deadline import OfficeHours, counting_day, reply_due_at
from shared.contracts import CHINA

CALENDAR = WorkingCalendar()


def china(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHINA)


def end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=CHINA)


@pytest.mark.parametrize(
    ("received", "counting", "due"),
    [
        # An ordinary week (2026-11-23 is a Monday).
        (china(2026, 11, 23, 9, 30), date(2026, 11, 23), date(2026, 11, 30)),
        (china(2026, 11, 20, 16, 0), date(2026, 11, 20), date(2026, 11, 27)),  # Fri, in hours
        (china(2026, 11, 20, 17, 29, 59), date(2026, 11, 20), date(2026, 11, 27)),
        (china(2026, 11, 20, 17, 30), date(2026, 11, 23), date(2026, 11, 30)),  # at closing
        (china(2026, 11, 20, 22, 0), date(2026, 11, 23), date(2026, 11, 30)),  # Fri evening
        (china(2026, 11, 21, 10, 0), date(2026, 11, 23), date(2026, 11, 30)),  # Saturday
        (china(2026, 11, 22, 23, 59), date(2026, 11, 23), date(2026, 11, 30)),  # Sunday night
        (china(2026, 11, 23, 6, 45), date(2026, 11, 23), date(2026, 11, 30)),  # before opening
        (china(2026, 11, 23, 0, 0), date(2026, 11, 23), date(2026, 11, 30)),  # midnight
        # National Day 2026: Oct 1-7 off, Sat Oct 10 worked.
        (china(2026, 10, 3, 11, 0), date(2026, 10, 8), date(2026, 10, 14)),
        (china(2026, 9, 30, 18, 0), date(2026, 10, 8), date(2026, 10, 14)),
        # National Day 2025: Oct 1-8 off, Sun Sep 28 and Sat Oct 11 worked.
        (china(2025, 9, 30, 15, 0), date(2025, 9, 30), date(2025, 10, 14)),
        (china(2025, 9, 30, 18, 0), date(2025, 10, 9), date(2025, 10, 15)),
        (china(2025, 9, 27, 10, 0), date(2025, 9, 28), date(2025, 10, 11)),  # Sat → Sun worked
        (china(2025, 9, 28, 20, 0), date(2025, 9, 29), date(2025, 10, 13)),
        # Spring Festival 2025: Jan 28 - Feb 4 off, Sun Jan 26 and Sat Feb 8 worked.
        (china(2025, 1, 26, 11, 0), date(2025, 1, 26), date(2025, 2, 8)),
        (china(2025, 1, 27, 18, 0), date(2025, 2, 5), date(2025, 2, 11)),  # eve of 除夕, late
        (china(2025, 1, 30, 11, 0), date(2025, 2, 5), date(2025, 2, 11)),  # during the holiday
        # Spring Festival 2026: Feb 15-23 off, Sat Feb 14 and Sat Feb 28 worked.
        (china(2026, 2, 13, 18, 0), date(2026, 2, 14), date(2026, 2, 28)),
        (china(2026, 2, 18, 10, 0), date(2026, 2, 24), date(2026, 3, 2)),
        # Labour Day 2026: May 1-5 off, Sat May 9 worked.
        (china(2026, 4, 30, 20, 0), date(2026, 5, 6), date(2026, 5, 12)),
    ],
)
def test_five_working_days(received: datetime, counting: date, due: date) -> None:
    assert counting_day(received, CALENDAR) == counting
    assert reply_due_at(received, 5, CALENDAR) == end_of(due)


def test_the_due_instant_is_returned_in_utc() -> None:
    due = reply_due_at(china(2026, 11, 23, 9, 30), 5, CALENDAR)
    assert due.utcoffset() == timedelta(0)
    assert due == datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)


def test_the_china_day_decides_not_the_server_clock() -> None:
    # 2026-11-22 17:00 UTC is Monday 01:00 in Beijing: before opening, so Monday.
    received = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
    assert counting_day(received, CALENDAR) == date(2026, 11, 23)
    # 2026-11-23 09:45 UTC is Monday 17:45 in Beijing: after closing, so Tuesday.
    late = datetime(2026, 11, 23, 9, 45, tzinfo=UTC)
    assert counting_day(late, CALENDAR) == date(2026, 11, 24)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo"])
def test_any_time_zone_gives_the_same_answer(zone: str) -> None:
    for received in (china(2026, 11, 20, 17, 45), china(2026, 11, 23, 7, 0)):
        elsewhere = received.astimezone(ZoneInfo(zone))
        assert counting_day(elsewhere, CALENDAR) == counting_day(received, CALENDAR)
        assert reply_due_at(elsewhere, 5, CALENDAR) == reply_due_at(received, 5, CALENDAR)


def test_same_day_deadline() -> None:
    assert reply_due_at(china(2026, 11, 23, 9, 0), 0, CALENDAR) == end_of(date(2026, 11, 23))
    assert reply_due_at(china(2026, 11, 21, 9, 0), 0, CALENDAR) == end_of(date(2026, 11, 23))


def test_a_hospital_with_longer_hours() -> None:
    evening = OfficeHours(opens=time(7, 30), closes=time(20, 0))
    assert counting_day(china(2026, 11, 20, 19, 0), CALENDAR, evening) == date(2026, 11, 20)
    assert reply_due_at(china(2026, 11, 20, 19, 0), 5, CALENDAR, evening) == end_of(
        date(2026, 11, 27)
    )


def test_office_hours_are_validated() -> None:
    with pytest.raises(ValueError, match="open before"):
        OfficeHours(opens=time(18, 0), closes=time(8, 0))
    with pytest.raises(ValueError, match="wall-clock"):
        OfficeHours(closes=time(17, 30, tzinfo=UTC))


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="received_at"):
        counting_day(datetime(2026, 11, 23, 9, 0), CALENDAR)
    with pytest.raises(ValueError, match="received_at"):
        reply_due_at(datetime(2026, 11, 23, 9, 0), 5, CALENDAR)


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError, match="working_days"):
        reply_due_at(china(2026, 11, 23, 9, 0), -1, CALENDAR)


def test_a_deadline_in_an_unknown_year_is_refused() -> None:
    with pytest.raises(CalendarNotCovered) as raised:
        reply_due_at(china(2026, 12, 29, 9, 0), 5, CALENDAR)
    assert raised.value.day.year == 2027
    with pytest.raises(CalendarNotCovered):  # New Year's Eve after closing: counts in 2027
        counting_day(china(2026, 12, 31, 18, 0), CALENDAR)
    with pytest.raises(CalendarNotCovered):
        counting_day(china(2027, 1, 4, 9, 0), CALENDAR)


def test_a_loaded_correction_lets_deadlines_cross_into_the_new_year() -> None:
    calendar = WorkingCalendar([CalendarCorrection(year=2027, holidays={date(2027, 1, 1)})])
    assert counting_day(china(2026, 12, 31, 18, 0), calendar) == date(2027, 1, 4)
    assert reply_due_at(china(2026, 12, 29, 9, 0), 5, calendar) == end_of(date(2027, 1, 6))


received_times = st.datetimes(
    min_value=datetime(2005, 1, 1), max_value=datetime(2026, 10, 31), timezones=st.just(CHINA)
)


@settings(max_examples=200, deadline=None)
@given(received_times, st.integers(min_value=0, max_value=30))
def test_deadline_properties(received: datetime, n: int) -> None:
    counting = counting_day(received, CALENDAR)
    due = reply_due_at(received, n, CALENDAR)
    assert CALENDAR.is_working_day(counting)
    assert counting >= received.date()
    assert CALENDAR.working_days_between(received.date(), counting) <= 1
    assert due > received
    local_due = due.astimezone(CHINA)
    assert local_due.time() == time(23, 59, 59)
    assert CALENDAR.working_days_between(counting, local_due.date()) == n
    # A receipt counts exactly as one made at opening time on its counting day.
    assert due == reply_due_at(datetime.combine(counting, time(8, 0), CHINA), n, CALENDAR)
