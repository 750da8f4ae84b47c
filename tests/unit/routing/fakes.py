"""In-process stand-ins for what routing's stores write through (shared/records.py's
Records, the pending index, the department loads, the scan's slots), for unit tests of
decisions and the clock's lifecycle without servers: the stores' own bookkeeping, and the
planning of each clock's SLA state, are the real ones."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson

from services.routing.adapters.clocks import (
    CLOCKS,
    STORED,
    ClockStore,
    DepartmentLoad,
    LoadMoves,
    apply_load_moves,
    handler_loads,
)
from services.routing.adapters.sla_slots import SlotIndex, minute_of
from services.routing.admin import read_region
from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.case_rules import RoutingRules
from services.routing.domain.region import Hospital, Region, Supervisor
from services.routing.service import HospitalRulebook
from services.routing.sla_state import SlaPlanner
from shared.contracts import Envelope, EventPayload
from shared.records import APPLIED, Changed, Decide, Decision, envelope_for

REGION_FILE = Path(__file__).resolve().parents[3] / "deploy" / "region.example.yaml"


@functools.cache
def _parsed_region() -> Region:
    return read_region(REGION_FILE)


def example_region() -> Region:
    """A fresh copy of the example region (tests may change it)."""
    return _parsed_region().model_copy(deep=True)


class FakeRegion:
    def __init__(self, region: Region | None = None) -> None:
        self.region = region or example_region()

    async def hospital(self, hospital_id: str) -> Hospital | None:
        return next((h for h in self.region.hospitals if h.id == hospital_id), None)

    async def bureau_rules(self) -> RoutingRules | None:
        return self.region.bureau.rules

    async def supervisors(self) -> list[Supervisor]:
        return list(self.region.bureau.supervisors)


class FakeCollection:
    name = CLOCKS


class FakeRelay:
    def __init__(self) -> None:
        self.notified: list[Envelope] = []

    def notify(self, document_id: str, envelopes: Sequence[Envelope]) -> None:
        self.notified += envelopes


def _as_read(document: dict[str, Any]) -> dict[str, Any]:
    return bson.decode(bson.encode(document), codec_options=STORED)


class FakeRecords:
    """shared/records.py's Records in a dict: `change` reads, decides and applies `$set`,
    `$push` and `$inc` with `once_per` as the real one does; the events go to the relay."""

    def __init__(self, relay: FakeRelay) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.collection = FakeCollection()
        self.relay = relay

    async def get(self, record_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.documents.get(record_id))

    async def insert(
        self, record: dict[str, Any], events: Sequence[EventPayload] = ()
    ) -> Changed | None:
        if record["_id"] in self.documents:
            return None
        self.documents[record["_id"]] = copy.deepcopy(record)
        envelopes = tuple(envelope_for(record, event) for event in events)
        self.relay.notify(record["_id"], envelopes)
        return Changed(before={}, after=copy.deepcopy(record), events=envelopes)

    async def change(
        self,
        record_id: str,
        decide: Decide,
        *,
        once_per: str | None = None,
        current: dict[str, Any] | None = None,
    ) -> Changed | None:
        known = current
        current = self.documents.get(record_id)
        if current is None:
            return None
        before = copy.deepcopy(current)
        if known is not None:  # the caller's copy must be the record as a read returns it
            stored = {k: v for k, v in before.items() if k != "outbox"}
            assert _as_read(known) == _as_read(stored), record_id
        if once_per is not None and once_per in current.get(APPLIED, []):
            return Changed(before=before, after=before)
        decision = decide(copy.deepcopy(current))
        if decision is None and once_per is None:
            return Changed(before=before, after=before)
        decision = decision or Decision()
        update = decision.update
        current.update(copy.deepcopy(update.get("$set", {})))
        for key, value in update.get("$push", {}).items():
            current.setdefault(key, []).append(copy.deepcopy(value))
        for key, n in update.get("$inc", {}).items():
            current[key] = current.get(key, 0) + n
        if once_per is not None:
            current.setdefault(APPLIED, []).append(once_per)
        envelopes = tuple(envelope_for(before, event) for event in decision.events)
        self.relay.notify(record_id, envelopes)
        return Changed(before=before, after=copy.deepcopy(current), events=envelopes)


class FakePendingIndex:
    """The pending index (adapters/clocks.py PendingIndex) in a dict of years."""

    def __init__(self) -> None:
        self.years: dict[int, dict[str, dict[str, Any]]] = {}

    async def add(self, year: int, complaint_id: str, hospital_id: str, *, entry: str) -> None:
        listed = {"hospital_id": hospital_id, "since": datetime.now(UTC), "entry": entry}
        self.years.setdefault(year, {})[complaint_id] = listed

    async def remove(self, year: int, complaint_id: str, *, entry: str | None) -> bool:
        listed = self.years.get(year, {}).get(complaint_id)
        if listed is None or (entry is not None and listed.get("entry") != entry):
            return False
        del self.years[year][complaint_id]
        return True

    async def waiting(self, year: int) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.years.get(year, {}))

    async def counts(self, years: list[int]) -> dict[int, int]:
        return {year: len(self.years.get(year, {})) for year in years}


class FakeLoad(DepartmentLoad):
    """Department loads in a dict; which clock moves which entry is the real rule."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, str]] = {}

    async def write(self, moves: LoadMoves) -> None:
        apply_load_moves(self.documents, moves)

    async def open_cases(self, hospital_id: str, department: str) -> dict[str, int]:
        return handler_loads(self.documents.get(f"{hospital_id}:{department}", {}))


class FakeSlotIndex(SlotIndex):
    """The scan's slots (adapters/sla_slots.py) in a dict: slot → key → entry."""

    def __init__(self) -> None:
        self.slots: dict[str, dict[str, dict[str, Any]]] = {}
        self.through: str | None = None

    async def add(self, slot: str, key: str, entry: dict[str, Any]) -> None:
        self.slots.setdefault(slot, {})[key] = copy.deepcopy(entry)

    async def remove(self, slot: str, key: str) -> None:
        self.slots.get(slot, {}).pop(key, None)

    async def entries(self, slot: str) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.slots.get(slot, {}))

    async def forget(self, slot: str, keys: list[str]) -> None:
        for key in keys:
            self.slots.get(slot, {}).pop(key, None)

    async def list_minutes(self, minutes: list[str]) -> None:
        pass  # listed_minutes below reads the slots themselves

    async def listed_minutes(self, first: str, last: str) -> list[str]:
        return sorted({s.split("/")[0] for s in self.slots if first <= s.split("/")[0] <= last})

    async def settle(self, *, drop: list[str], keys: dict[str, list[str]]) -> None:
        for slot in drop:
            self.slots.pop(slot, None)
        for slot, gone in keys.items():
            await self.forget(slot, gone)

    async def cursor(self) -> str | None:
        return self.through

    async def set_cursor(self, minute: str) -> None:
        self.through = max(minute, self.through or minute)

    async def sweep(self, cursor: str, *, hours_at_once: int = 6) -> int:
        return 0

    async def ensure_cursor(self, now: datetime, *, margin: timedelta) -> str:
        if self.through is None:
            self.through = minute_of(now - margin - timedelta(minutes=1))
        return self.through

    def listed(self, complaint_id: str) -> list[tuple[str, dict[str, Any]]]:
        """Where the clock is listed: (slot, entry) for each of its entries."""
        return [
            (slot, entry)
            for slot, entries in self.slots.items()
            for entry in entries.values()
            if entry["id"] == complaint_id
        ]


def fake_clocks(
    relay: FakeRelay,
    *,
    region: FakeRegion | None = None,
    calendar: WorkingCalendar | None = None,
    now: Callable[[], datetime] | None = None,
) -> ClockStore:
    """The real ClockStore (its index and load bookkeeping) over in-process stand-ins; with
    a `region`, planning each clock's SLA state on `calendar` at the time `now` gives."""
    planner = None
    if region is not None:
        planner = SlaPlanner(
            ladders=HospitalRulebook(region).ladder,
            calendar=calendar or WorkingCalendar(),
            now=now or (lambda: datetime.now(UTC)),
        )
    return ClockStore(
        FakeRecords(relay),
        pending=FakePendingIndex(),
        load=FakeLoad(),
        slots=FakeSlotIndex(),
        planner=planner,
    )


def slots_of(clocks: ClockStore) -> FakeSlotIndex:
    assert isinstance(clocks.slots, FakeSlotIndex)
    return clocks.slots


def documents(clocks: ClockStore) -> dict[str, dict[str, Any]]:
    """The clocks a fake_clocks store holds, by complaint id."""
    records: FakeRecords = clocks.records
    return records.documents
