"""Reply deadlines in working days (DOMAIN.md "Deadlines"; seeds 001, 002, 004).

Counting starts from receipt (DOMAIN.md): the day of receipt is the counting day and does
not itself count, as in Chinese administrative practice (期间开始之日不计算在内). A
complaint received on Monday with 5 working days is due at the end of the next Monday; one
received on a Saturday or during a holiday is due at the end of the fifth working day after
it. Days are China days: a complaint posted at 23:30 Beijing time is that day's complaint,
whatever the server's clock zone. The deadline is the last second of the due day in China.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from services.routing.domain.calendar import WorkingCalendar

CHINA = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
END_OF_DAY = time(23, 59, 59)


def _china_day(moment: datetime) -> date:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("received_at: must carry a time zone")
    return moment.astimezone(CHINA).date()


def counting_day(received_at: datetime, calendar: WorkingCalendar) -> date:
    """The China day on which the deadline starts counting (the day of receipt)."""
    day = _china_day(received_at)
    calendar.is_working_day(day)  # raises CalendarNotCovered for an unknown year
    return day


def due_day(received_at: datetime, working_days: int, calendar: WorkingCalendar) -> date:
    return calendar.add_working_days(counting_day(received_at, calendar), working_days)


def reply_due_at(received_at: datetime, working_days: int, calendar: WorkingCalendar) -> datetime:
    """The instant (UTC) by which the reply is due: 23:59:59 China time of the due day."""
    day = due_day(received_at, working_days, calendar)
    return datetime.combine(day, END_OF_DAY, tzinfo=CHINA).astimezone(UTC)
