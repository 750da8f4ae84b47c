"""Reply deadlines in working days (docs/rules.md#deadlines D2, D3).

The rule, with its sources:
- Counting starts from receipt, but night, weekend and holiday receipts are handled from
  the next working day (《用户举报和投诉处理制度》:
  夜间、节假日值班期间接到的投诉举报,应于次日或节假日后的第一个工作日办理). So the
  *counting day* is the China day of receipt when that is a working day and the complaint
  arrived before closing time (an early-morning one is handled that same morning); after
  closing, or on a rest day, it is the next working day.
- The counting day itself does not count (期间开始之日不计算在内): the reply is due at the
  end (23:59:59 China time) of the N-th working day after it. N = 0 is a same-day deadline.

Days are China days (shared/contracts/vocabulary.py CHINA) whatever the server's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from services.routing.domain.calendar import WorkingCalendar
from shared.contracts import CHINA

END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class OfficeHours:
    """A hospital's complaint-office hours, China wall-clock time. Only `closes` moves the
    counting day: a receipt before `opens` is handled that morning (docs/rules.md#deadlines D3)."""

    opens: time = time(8, 0)
    closes: time = time(17, 30)

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("office hours: wall-clock times without a time zone")
        if not self.opens < self.closes:
            raise ValueError("office hours: must open before they close")


OFFICE_HOURS = OfficeHours()


def in_china(moment: datetime) -> datetime:
    """`moment` as China wall-clock time; a naive time is ambiguous, so it is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("received_at: must carry a time zone")
    return moment.astimezone(CHINA)


def counting_day(
    received_at: datetime,
    calendar: WorkingCalendar,
    office_hours: OfficeHours = OFFICE_HOURS,
) -> date:
    """The working day the complaint counts as received on (see the module rule)."""
    local = in_china(received_at)
    day = local.date()
    if calendar.is_working_day(day) and local.time() < office_hours.closes:
        return day
    return calendar.next_working_day(day)


def reply_due_at(
    received_at: datetime,
    working_days: int,
    calendar: WorkingCalendar,
    office_hours: OfficeHours = OFFICE_HOURS,
) -> datetime:
    """The instant (UTC) the reply is due: 23:59:59 China time of the `working_days`-th
    working day after the counting day. Raises CalendarNotCovered for an unknown year."""
    if working_days < 0:
        raise ValueError("working_days: must be zero or positive")
    start = counting_day(received_at, calendar, office_hours)
    due = calendar.add_working_days(start, working_days)
    return datetime.combine(due, END_OF_DAY, tzinfo=CHINA).astimezone(UTC)
