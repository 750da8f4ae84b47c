"""The official working-day calendar: statutory holidays and make-up working days (调休).

docs/rules.md#calendar: working days follow the official Chinese calendar, and the bureau can
load and correct it. Built on the chinese-calendar package, which encodes the State
Council's yearly holiday notices. A year the package does not know is *not covered*:
guessing weekends-only would silently set wrong deadlines around the next Spring Festival,
so callers get CalendarNotCovered until the bureau loads that year's notice as a
CalendarCorrection (the deadline then waits: deadline.py; refusals are counted once
per deadline by routing, not here, where one deadline asks several questions).

Working days are precomputed once as a sorted list of ordinals, so every question is a set
lookup or a bisect, never a day-by-day walk: the SLA scan asks for every open clock.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from chinese_calendar import constants as official


class CalendarNotCovered(Exception):
    """A day in a year whose official arrangement is unknown; the answer would be a guess."""

    def __init__(self, day: date) -> None:
        super().__init__(
            f"{day.isoformat()} is not covered: the official holiday arrangement for "
            f"{day.year} is not loaded"
        )
        self.day = day


@dataclass(frozen=True)
class CalendarCorrection:
    """One year's arrangement as the State Council published it, loaded by the bureau when
    the package lags behind (or is wrong). It replaces the package's data for `year`.

    `holidays`: rest days (weekday holidays; weekend ones may be listed too).
    `workdays`: weekend days made working days (调休). Any iterable of dates is accepted.
    """

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


def _official_arrangement() -> dict[int, tuple[set[date], set[date]]]:
    years: dict[int, tuple[set[date], set[date]]] = {}
    for day in official.holidays:
        years.setdefault(day.year, (set(), set()))[0].add(day)
    for day in official.workdays:
        years.setdefault(day.year, (set(), set()))[1].add(day)
    return years


class WorkingCalendar:
    """Answers working-day questions for every covered year, refusing uncovered ones."""

    def __init__(self, corrections: Iterable[CalendarCorrection] = ()) -> None:
        arrangement = _official_arrangement()
        corrected: set[int] = set()
        for correction in corrections:
            if correction.year in corrected:
                raise ValueError(f"corrections: {correction.year} is given twice")
            corrected.add(correction.year)
            arrangement[correction.year] = (set(correction.holidays), set(correction.workdays))
        ordinals: list[int] = []
        for year in sorted(arrangement):
            rest, extra = arrangement[year]
            day, end = date(year, 1, 1), date(year, 12, 31)
            while day <= end:
                if day in extra or (day.weekday() < 5 and day not in rest):
                    ordinals.append(day.toordinal())
                day += timedelta(days=1)
        self._years = frozenset(arrangement)
        self._first_year, self._last_year = min(self._years), max(self._years)
        self._working = ordinals
        self._working_set = frozenset(ordinals)
        self.corrections: tuple[CalendarCorrection, ...] = tuple(corrections)

    def reload(self, corrections: Iterable[CalendarCorrection]) -> None:
        """Replace the bureau's corrections in place (validated first, so a bad set leaves
        the calendar as it was); everyone holding this calendar sees the new years."""
        fresh = WorkingCalendar(corrections)
        self.__dict__.update(fresh.__dict__)

    def covers(self, day: date) -> bool:
        return day.year in self._years

    def covered_until(self) -> date:
        """Last day of the contiguous run of covered years starting at the earliest one."""
        year = self._first_year
        while year + 1 in self._years:
            year += 1
        return date(year, 12, 31)

    def _require(self, first: date, last: date | None = None) -> None:
        """Every year from `first` to `last` must be covered: none may be skipped over."""
        for year in range(first.year, (last or first).year + 1):
            if year not in self._years:
                raise CalendarNotCovered(first if year == first.year else date(year, 1, 1))

    def _working_at(self, index: int) -> date:
        if index >= len(self._working):
            raise CalendarNotCovered(date(self._last_year + 1, 1, 1))
        return date.fromordinal(self._working[index])

    def is_working_day(self, day: date) -> bool:
        if day.year not in self._years:
            raise CalendarNotCovered(day)
        return day.toordinal() in self._working_set

    def first_working_day_on_or_after(self, day: date) -> date:
        self._require(day)
        found = self._working_at(bisect_left(self._working, day.toordinal()))
        self._require(day, found)
        return found

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        self._require(day)
        found = self._working_at(bisect_right(self._working, day.toordinal()))
        self._require(day, found)
        return found

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day strictly after `day`: the start day never counts (期间开始之日
        不计算在内). n = 0 means the first working day on or after `day` (a same-day deadline
        that falls on a rest day moves to the next working day)."""
        if n < 0:
            raise ValueError("n: must be zero or positive")
        if n == 0:
            return self.first_working_day_on_or_after(day)
        self._require(day)
        found = self._working_at(bisect_right(self._working, day.toordinal()) + n - 1)
        self._require(day, found)
        return found

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many have passed since `start` by `end`."""
        if end <= start:
            return 0
        self._require(start, end)
        return bisect_right(self._working, end.toordinal()) - bisect_right(
            self._working, start.toordinal()
        )
