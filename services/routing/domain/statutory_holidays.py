"""The law a year's holiday arrangement must keep, so that a bogus year cannot be loaded.

国务院《全国年节及纪念日放假办法》 gives every citizen these rest days (全体公民放假的节日):

| in force  | 元旦 | 春节               | 清明 | 劳动节  | 端午 | 中秋 | 国庆      | days |
|-----------|------|--------------------|------|---------|------|------|-----------|------|
| 2000–2007 | 1.1  | 初一至初三         | —    | 5.1–5.3 | —    | —    | 10.1–10.3 | 10   |
| 2008–2024 | 1.1  | 初一至初三         | 清明 | 5.1     | 五.五 | 八.十五 | 10.1–10.3 | 11 |
| 2025–     | 1.1  | 除夕、初一至初三   | 清明 | 5.1–5.2 | 五.五 | 八.十五 | 10.1–10.3 | 13 |

(the 1999 text, the 2007 amendment in force from 2008, the 2024 amendment in force from
2025). A festival day that falls on a weekend is made up on a working day (适逢星期六、星期日，
应当在工作日补假), and the yearly notice moves weekend days around (调休) to join the days
into longer breaks. So a year's arrangement is lawful when:

1. every statutory day is a rest day: a listed holiday, or a weekend day not made a working
   day (a Qingming on a Sunday need not be listed);
2. the year grants at least the law's days, counted net: weekday holidays minus weekend
   days worked. December working days are not counted: no festival falls in November or
   December, so they make up for the next year's New Year (2011-12-31 was worked for
   2012-01-02 and 2012-01-03). Two festivals on one day still grant two days (2020-10-01).

A year short of days names the breaks that are short. A break is a run of consecutive rest
days holding statutory days (Mid-Autumn joined to National Day is one break of 3 + 1); the
make-up day for a festival on a weekend may be given in another break (2015's Mid-Autumn on
a Sunday was made up in National Day's), so only the year's total is the law's test.

Checked against every year the chinese-calendar package knows (2004–2026): all pass, and
dropping a holiday that a break needs names that break's festivals. Pure: dates in, findings
out. Lunar dates and the Qingming solar term come from lunar-python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from lunar_python import Lunar, Solar

from shared.contracts import LabelledEnum


class Festival(LabelledEnum):
    NEW_YEAR = "new_year", "元旦"
    SPRING_FESTIVAL = "spring_festival", "春节"
    QINGMING = "qingming", "清明节"
    LABOUR_DAY = "labour_day", "劳动节"
    DRAGON_BOAT = "dragon_boat", "端午节"
    MID_AUTUMN = "mid_autumn", "中秋节"
    NATIONAL_DAY = "national_day", "国庆节"


FIRST_LAW_YEAR = 2000  # the 1999 text applies from 2000 on
NEIGHBOURS = 14  # days between two breaks whose make-up working days cannot be told apart


def _solar(day: Solar) -> date:
    return date(day.getYear(), day.getMonth(), day.getDay())


def _lunar(year: int, month: int, day: int) -> date:
    return _solar(Lunar.fromYmd(year, month, day).getSolar())


def statutory_days(year: int) -> dict[Festival, tuple[date, ...]]:
    """The days the law grants in `year`, by festival, as the version in force that year
    gives them (a lunar festival's day is the solar date it falls on in `year`)."""
    if year < FIRST_LAW_YEAR:
        raise ValueError(f"year: the holiday law is checked from {FIRST_LAW_YEAR} on")
    new_year_day = _lunar(year, 1, 1)
    spring = [new_year_day + timedelta(days=n) for n in range(3)]
    national = tuple(date(year, 10, d) for d in (1, 2, 3))
    if year < 2008:
        return {
            Festival.NEW_YEAR: (date(year, 1, 1),),
            Festival.SPRING_FESTIVAL: tuple(spring),
            Festival.LABOUR_DAY: tuple(date(year, 5, d) for d in (1, 2, 3)),
            Festival.NATIONAL_DAY: national,
        }
    qingming = _solar(Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"])
    if year >= 2025:
        spring.insert(0, new_year_day - timedelta(days=1))  # 除夕, the eve
    labour = (date(year, 5, 1), date(year, 5, 2)) if year >= 2025 else (date(year, 5, 1),)
    return {
        Festival.NEW_YEAR: (date(year, 1, 1),),
        Festival.SPRING_FESTIVAL: tuple(spring),
        Festival.QINGMING: (qingming,),
        Festival.LABOUR_DAY: labour,
        Festival.DRAGON_BOAT: (_lunar(year, 5, 5),),
        Festival.MID_AUTUMN: (_lunar(year, 8, 15),),
        Festival.NATIONAL_DAY: national,
    }


def statutory_total(year: int) -> int:
    """Days the law grants in `year`: 10, 11 from 2008, 13 from 2025."""
    return sum(len(days) for days in statutory_days(year).values())


@dataclass(frozen=True)
class Shortfall:
    """Why an arrangement breaks the law: which festivals, and what is wrong."""

    festivals: tuple[Festival, ...]
    message: str

    @property
    def label(self) -> str:
        return "、".join(f.label for f in self.festivals)


@dataclass(frozen=True)
class _Break:
    first: date
    last: date
    festivals: tuple[Festival, ...]
    granted: int  # the law's days in this break

    def distance(self, day: date) -> int:
        if day < self.first:
            return (self.first - day).days
        return max(0, (day - self.last).days)


def shortfalls(year: int, holidays: Iterable[date], workdays: Iterable[date]) -> list[Shortfall]:
    """Everything wrong with `year`'s arrangement (empty when it keeps the law).

    `holidays` are the listed rest days, `workdays` the weekend days made working days."""
    rest_days, worked = frozenset(holidays), frozenset(workdays)

    def is_rest(day: date) -> bool:
        return day in rest_days or (day.weekday() >= 5 and day not in worked)

    law = statutory_days(year)
    found: list[Shortfall] = []
    for festival, days in law.items():
        missing = [d for d in days if d.year == year and not is_rest(d)]
        if missing:
            found.append(
                Shortfall(
                    (festival,),
                    f"{festival.label} {', '.join(map(str, missing))} "
                    "must be a rest day (a holiday, or a weekend day not worked)",
                )
            )
    weekday_holidays = sorted(d for d in rest_days if d.weekday() < 5 and d.year == year)
    counted_workdays = sorted(d for d in worked if d.weekday() >= 5 and d.month != 12)
    granted = statutory_total(year)
    net = len(weekday_holidays) - len(counted_workdays)
    if net < granted:
        short = _short_breaks(_breaks(year, law, is_rest), weekday_holidays, counted_workdays)
        festivals = tuple(dict.fromkeys(f for b in short for f in b.festivals)) or tuple(
            dict.fromkeys(f for s in found for f in s.festivals)
        )
        labels = "、".join(f.label for f in festivals)
        found.append(
            Shortfall(
                festivals,
                f"{labels}: {year} grants {net} net rest days (weekday holidays minus weekend "
                f"days worked, December's excepted); the law grants {granted}",
            )
        )
    return found


def _short_breaks(
    breaks: list[_Break], weekday_holidays: list[date], workdays: list[date]
) -> list[_Break]:
    """The breaks to name when the year is short. Each break has the law's days to give and
    its weekday holidays to give them with (a holiday outside every break counts for the
    nearest one); what a break has to spare pays for weekend working days and for breaks
    whose weekend festival day was made up elsewhere, nearest first. Whatever is left
    unpaid names the break it belongs to (a working day: the nearest break) and the nearest
    break that had days to spare."""
    if not breaks:
        return []

    def nearest(day: date) -> _Break:
        return min(breaks, key=lambda b: (b.distance(day), b.first))

    balance = {b: -b.granted for b in breaks}
    for day in weekday_holidays:
        balance[nearest(day)] += 1
    spare = {b: n for b, n in balance.items() if n > 0}
    # (where the need is, which break needs it): a working day, or a break owing days
    needs = [(day, nearest(day)) for day in workdays]
    needs += [(b.first, b) for b, n in balance.items() for _ in range(-n)]
    offers = sorted(
        ((b.distance(at), i, b) for i, (at, _) in enumerate(needs) for b in spare),
        key=lambda o: (o[0], o[1], o[2].first),
    )
    givers = list(spare)
    paid: set[int] = set()
    for _, i, b in offers:
        if i not in paid and spare[b] > 0:
            spare[b] -= 1
            paid.add(i)
    named: list[_Break] = []
    for i, (at, owner) in enumerate(needs):
        if i not in paid:
            named.append(owner)
            if givers:  # the break that would have paid, had it kept its days
                named.append(min(givers, key=lambda b: (b.distance(at), b.first)))
    # Breaks close together (Mid-Autumn a few days before National Day) share their
    # working days: which of them is short cannot be told apart, so both are named.
    near = [b for b in breaks for n in named if b.distance(n.first) <= NEIGHBOURS]
    near += [b for b in breaks for n in named if b.distance(n.last) <= NEIGHBOURS]
    return sorted(dict.fromkeys([*named, *near]), key=lambda b: b.first)


def _breaks(
    year: int, law: dict[Festival, tuple[date, ...]], is_rest: Callable[[date], bool]
) -> list[_Break]:
    """Runs of consecutive rest days, within `year`, that hold statutory days."""
    owner: dict[date, list[Festival]] = {}
    for festival, days in law.items():
        for day in days:
            if day.year == year:
                owner.setdefault(day, []).append(festival)
    runs: list[_Break] = []
    seen: set[date] = set()
    for day in sorted(owner):
        if day in seen or not is_rest(day):
            continue
        first = last = day
        while first - timedelta(days=1) >= date(year, 1, 1) and is_rest(first - timedelta(days=1)):
            first -= timedelta(days=1)
        while last + timedelta(days=1) <= date(year, 12, 31) and is_rest(last + timedelta(days=1)):
            last += timedelta(days=1)
        inside = [d for d in sorted(owner) if first <= d <= last]
        seen.update(inside)
        festivals = tuple(dict.fromkeys(f for d in inside for f in owner[d]))
        granted = sum(len(owner[d]) for d in inside)
        runs.append(_Break(first, last, festivals, granted))
    return runs
