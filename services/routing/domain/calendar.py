"""The official working-day calendar: statutory holidays and make-up working days (调休).

Built on the chinese-calendar package, which encodes the State Council's yearly holiday
notices. A year the package does not know yet is *not covered*: guessing weekends-only
would silently set wrong deadlines around the next Spring Festival, so callers get
CalendarNotCovered until the bureau loads that year's notice as a CalendarCorrection.

Working days are precomputed as sorted ordinals, so each question is a bisect, not a walk:
the SLA scan asks it for every open clock.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from chinese_calendar import constants as official


class CalendarNotCovered(Exception):
    def __init__(self, day: date) -> None:
        super().__init__(
            f"the official holiday arrangement for {day.year} is not loaded "
            f"(asked about {day.isoformat()})"
        )
        self.day = day


@dataclass(frozen=True)
class CalendarCorrection:
    """One year's arrangement as the State Council published it, loaded by the bureau when
    the package lags behind (or to correct it). It replaces the package's data for `year`."""

    year: int
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        stray = sorted(d for d in self.holidays | self.workdays if d.year != self.year)
        if stray:
            raise ValueError(f"dates outside {self.year}: {', '.join(map(str, stray))}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(f"both holiday and working day: {', '.join(map(str, both))}")


def _official_years() -> set[int]:
    return {d.year for d in official.holidays}


class WorkingCalendar:
    def __init__(self, corrections: Iterable[CalendarCorrection] = ()) -> None:
        by_year = {c.year: c for c in corrections}
        years = _official_years() | set(by_year)
        self._first_year, self._last_year = min(years), max(years)
        self._years = years
        ordinals: list[int] = []
        for year in sorted(years):
            if year in by_year:
                rest, extra = by_year[year].holidays, by_year[year].workdays
            else:
                rest = {d for d in official.holidays if d.year == year}
                extra = {d for d in official.workdays if d.year == year}
            day, end = date(year, 1, 1), date(year, 12, 31)
            while day <= end:
                if day in extra or (day.weekday() < 5 and day not in rest):
                    ordinals.append(day.toordinal())
                day += timedelta(days=1)
        self._working = ordinals
        self._working_set = frozenset(ordinals)

    def covers(self, day: date) -> bool:
        return day.year in self._years

    def covered_until(self) -> date:
        """Last day of the contiguous run of covered years that includes the earliest one."""
        year = self._first_year
        while year + 1 in self._years:
            year += 1
        return date(year, 12, 31)

    def _require(self, day: date) -> None:
        if day.year not in self._years:
            raise CalendarNotCovered(day)

    def is_working_day(self, day: date) -> bool:
        self._require(day)
        return day.toordinal() in self._working_set

    def _at_or_after(self, ordinal: int) -> date:
        index = bisect_left(self._working, ordinal)
        if index == len(self._working):
            raise CalendarNotCovered(date(self._last_year + 1, 1, 1))
        found = date.fromordinal(self._working[index])
        for year in range(date.fromordinal(ordinal).year, found.year + 1):
            self._require(date(year, 1, 1))  # no uncovered year may be skipped over
        return found

    def first_working_day_on_or_after(self, day: date) -> date:
        self._require(day)
        return self._at_or_after(day.toordinal())

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        self._require(day)
        return self._at_or_after(day.toordinal() + 1)

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day strictly after `day` (the day itself never counts, as in
        administrative practice); n = 0 means the first working day on or after `day`."""
        if n < 0:
            raise ValueError("n: must be zero or positive")
        self._require(day)
        if n == 0:
            return self.first_working_day_on_or_after(day)
        index = bisect_right(self._working, day.toordinal()) + n - 1
        if index >= len(self._working):
            raise CalendarNotCovered(date(self._last_year + 1, 1, 1))
        found = date.fromordinal(self._working[index])
        for year in range(day.year, found.year + 1):
            self._require(date(year, 1, 1))
        return found

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many have passed since `start` by `end`."""
        if end <= start:
            return 0
        for year in range(start.year, end.year + 1):
            self._require(date(year, 1, 1))
        return bisect_right(self._working, end.toordinal()) - bisect_right(
            self._working, start.toordinal()
        )
