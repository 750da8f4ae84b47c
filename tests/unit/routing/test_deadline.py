"""Reply deadlines: counting from the China day of receipt, N working days, end of day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from services.routing.domain.calendar import CalendarNotCovered, WorkingCalendar
from services.routing.domain.deadline import counting_day, reply_due_at

CALENDAR = WorkingCalendar()
CHINA = ZoneInfo("Asia/Shanghai")


def china(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHINA)  # type: ignore[misc]


def due_local(received: datetime, days: int = 5) -> datetime:
    return reply_due_at(received, days, CALENDAR).astimezone(CHINA)


def test_ordinary_week_five_working_days_end_of_day() -> None:
    assert due_local(china(2026, 11, 23, 9, 30)) == china(2026, 11, 30, 23, 59, 59)


def test_friday_evening_counts_as_friday() -> None:
    assert counting_day(china(2026, 11, 20, 22, 0), CALENDAR) == date(2026, 11, 20)
    assert due_local(china(2026, 11, 20, 22, 0)) == china(2026, 11, 27, 23, 59, 59)


def test_saturday_receipt_counts_from_monday() -> None:
    assert due_local(china(2026, 11, 21, 10, 0)) == china(2026, 11, 27, 23, 59, 59)


def test_the_china_day_decides_not_the_server_clock() -> None:
    # 2026-11-22 17:00 UTC is Monday 01:00 in Beijing.
    received = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
    assert counting_day(received, CALENDAR) == date(2026, 11, 23)
    assert reply_due_at(received, 5, CALENDAR) == reply_due_at(
        received.astimezone(CHINA), 5, CALENDAR
    )
    assert reply_due_at(received, 5, CALENDAR).tzinfo is not None


def test_across_national_day_and_the_make_up_saturday() -> None:
    assert due_local(china(2025, 9, 30, 15, 0)) == china(2025, 10, 14, 23, 59, 59)


def test_across_spring_festival() -> None:
    # Received the working Sunday before 除夕 2025; holiday 28 Jan – 4 Feb, Sat 8 Feb working.
    assert due_local(china(2025, 1, 26, 11, 0)) == china(2025, 2, 8, 23, 59, 59)
    assert due_local(china(2025, 1, 30, 11, 0)) == china(2025, 2, 10, 23, 59, 59)


def test_received_on_a_holiday() -> None:
    assert due_local(china(2026, 10, 3, 11, 0)) == china(2026, 10, 13, 23, 59, 59)


def test_same_day_deadline() -> None:
    assert due_local(china(2026, 11, 23, 9, 0), 0) == china(2026, 11, 23, 23, 59, 59)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="received_at"):
        counting_day(datetime(2026, 11, 23, 9, 0), CALENDAR)


def test_a_deadline_in_an_unknown_year_is_refused() -> None:
    with pytest.raises(CalendarNotCovered):
        reply_due_at(china(2026, 12, 29, 9, 0), 5, CALENDAR)
