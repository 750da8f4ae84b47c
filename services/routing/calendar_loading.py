"""Loading a year's official holiday arrangement, and counting every deadline that waited
for it (issue 9).

A year arrives three ways: `PUT /v1/admin/calendar/{year}` (the bureau; stored with every
earlier version), the calendar file at start (HUIYIN_CALENDAR_FILE), and the years stored
through the API (applied at start, and by every other replica within one watch period).
Each is checked against the law first (domain/statutory_holidays.py): a year that lacks a
festival or grants fewer days than the law is refused, and the version in force stays.

CalendarWatch is one loop per process, woken at once by a load and otherwise every
`calendar_watch_seconds`:
1. apply the stored version of each watched year this process does not have yet;
2. recount every clock the pending index lists for a year the calendar now covers, each in
   one write with its complaint.deadline_changed (lifecycle.recount); a clock no longer
   waiting is skipped, so a pass cut short by a crash is simply finished by the next one;
3. plan again every clock whose ladder waited for a year the calendar now covers (a step
   overdue into a year not loaded yet: listed in that year's recheck slots,
   adapters/sla_slots.py), so its next points are found;
4. refresh the gauge of deadlines waiting for the calendar, by year.
Every read is by `_id`: one document per watched year in each of two small collections,
and that year's recheck slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime

from services.routing import lifecycle
from services.routing.adapters.calendar_store import CalendarStore
from services.routing.adapters.clocks import ClockStore
from services.routing.adapters.sla_slots import recheck_slots
from services.routing.domain.calendar import CalendarCorrection, WorkingCalendar
from services.routing.domain.statutory_holidays import Shortfall, shortfalls
from services.routing.service import Refusals, ignore_refusals

log = logging.getLogger(__name__)


class UnlawfulYear(ValueError):
    """A year's arrangement that breaks the holiday law; `problems` name the festivals."""

    def __init__(self, year: int, problems: list[Shortfall], *, source: str) -> None:
        self.year, self.problems = year, problems
        super().__init__(
            f"{source}: {year} is not a lawful holiday arrangement: "
            + "; ".join(p.message for p in problems)
        )


def check_lawful(corrections: Iterable[CalendarCorrection], *, source: str) -> None:
    """Raise UnlawfulYear for the first year in `corrections` that breaks the law."""
    for correction in corrections:
        problems = shortfalls(correction.year, correction.holidays, correction.workdays)
        if problems:
            raise UnlawfulYear(correction.year, problems, source=source)


def watched_years(calendar: WorkingCalendar, today: date) -> list[int]:
    """The years a deadline can wait for, or a replica can have loaded meanwhile: last
    year to two years past the calendar's end (or past today, if later)."""
    end = max(today.year, calendar.covered_until().year)
    return list(range(today.year - 1, end + 3))


class CalendarWatch:
    def __init__(
        self,
        *,
        calendar: WorkingCalendar,
        store: CalendarStore,
        clocks: ClockStore,
        refused: Refusals = ignore_refusals,
        on_counts: Callable[[dict[int, int]], None] = lambda counts: None,
        seconds: float = 60.0,
    ) -> None:
        self._calendar, self._store, self._clocks = calendar, store, clocks
        self._refused, self._on_counts = refused, on_counts
        self._seconds = seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.applied: dict[int, int] = {}  # year → stored version in force here
        self._unlawful: dict[int, int] = {}  # year → stored version refused (told once)
        self.pending: dict[int, int] = {}  # year → deadlines waiting for it (last pass)
        self.passes = 0

    # --- loading -----------------------------------------------------------------------

    async def apply_stored(self) -> None:
        """At start: every stored year's version in force, over the file's. A stored year
        that breaks the law (loaded before it was checked) is skipped, loudly."""
        lawful: list[CalendarCorrection] = []
        for stored in await self._store.years():
            try:
                check_lawful([stored.correction], source="stored calendar")
            except UnlawfulYear as error:
                log.error("calendar year not applied", extra={"reason": str(error)})
                self._unlawful[stored.correction.year] = stored.version
                continue
            lawful.append(stored.correction)
            self.applied[stored.correction.year] = stored.version
        self._replace(lawful)

    async def load(self, correction: CalendarCorrection, *, by: str) -> int:
        """The bureau loads (or corrects) one year: checked, stored as a new version,
        applied here at once, and the waiting deadlines recounted by the watch."""
        check_lawful([correction], source="holidays")
        version = await self._store.save(correction, by=by)
        self._replace([correction])
        self.applied[correction.year] = version
        self._wake.set()
        return version

    def _replace(self, corrections: list[CalendarCorrection]) -> None:
        years = {c.year for c in corrections}
        kept = [c for c in self._calendar.corrections if c.year not in years]
        self._calendar.reload([*kept, *corrections])

    # --- the loop ----------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="calendar-watch")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:
                log.warning("calendar watch pass failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._seconds)

    async def run_once(self) -> dict[str, int]:
        """One pass (see the module note); returns what it did, for logs and tests."""
        years = watched_years(self._calendar, datetime.now(UTC).date())
        await self._apply_newer(years)
        done = {"resolved": 0, "stale": 0, "failed": 0, "replanned": 0}
        for year in years:
            if self._calendar.covers(date(year, 1, 1)):
                for outcome, n in (await self._recount(year)).items():
                    done[outcome] += n
                done["replanned"] += await self._replan_ladders(year)
        self.pending = await self._clocks.pending.counts(years)
        self._on_counts(self.pending)
        self.passes += 1
        if done["resolved"] or done["failed"] or done["replanned"]:
            log.info("deadlines recounted", extra=done)
        return done

    async def _replan_ladders(self, year: int) -> int:
        """Plan again the clocks whose next step waited for `year`; an entry the clock has
        since left (another change planned it elsewhere) is removed."""
        slots = self._clocks.slots
        if slots is None or self._clocks.planner is None:
            return 0
        replanned = 0
        for slot, entries in (await slots.read(recheck_slots(year))).items():
            for key, entry in entries.items():
                changed = await self._clocks.replan(entry["id"])
                listed = ((changed.after if changed else {}).get("sla") or {}).get("listed")
                if listed != {"slot": slot, "key": key}:
                    await slots.forget(slot, [key])
                replanned += 1
        return replanned

    async def _apply_newer(self, years: list[int]) -> None:
        """Versions stored by another replica (or before a restart) that are not applied."""
        newer: list[CalendarCorrection] = []
        for year in years:
            stored = await self._store.year(year)
            if stored is None or stored.version in (
                self.applied.get(year),
                self._unlawful.get(year),
            ):
                continue
            try:
                check_lawful([stored.correction], source="stored calendar")
            except UnlawfulYear as error:
                log.error("calendar year not applied", extra={"reason": str(error)})
                self._unlawful[year] = stored.version  # told once, not every pass
                continue
            newer.append(stored.correction)
            self.applied[year] = stored.version
        if newer:
            self._replace(newer)

    async def _recount(self, year: int) -> dict[str, int]:
        done = {"resolved": 0, "stale": 0, "failed": 0}
        for complaint_id, entry in (await self._clocks.pending.waiting(year)).items():
            try:
                counted = await lifecycle.recount(
                    complaint_id,
                    year=year,
                    calendar=self._calendar,
                    clocks=self._clocks,
                    refused=self._refused,
                )
                if counted:
                    done["resolved"] += 1
                elif await self._clocks.drop_stale(year, complaint_id, entry):
                    done["stale"] += 1
            except Exception:
                done["failed"] += 1
                log.warning(
                    "recount failed; the next pass retries",
                    extra={"complaint_id": complaint_id, "year": year},
                    exc_info=True,
                )
        return done
