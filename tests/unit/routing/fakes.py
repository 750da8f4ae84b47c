"""In-process stand-ins for routing's stores (the adapters' interfaces), for unit tests
of decisions and the clock's lifecycle without servers."""

from __future__ import annotations

import copy
import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.routing.adapters.clocks import STOPPED, pending_year
from services.routing.admin import read_region
from services.routing.domain.case_rules import RoutingRules
from services.routing.domain.region import Hospital, Region, Supervisor

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
    name = "sla_clocks"


class FakePendingIndex:
    """The pending index (adapters/clocks.py PendingIndex) in a dict of years."""

    def __init__(self) -> None:
        self.years: dict[int, dict[str, dict[str, Any]]] = {}

    async def add(self, year: int, complaint_id: str, hospital_id: str) -> None:
        entry = {"hospital_id": hospital_id, "since": datetime.now(UTC)}
        self.years.setdefault(year, {})[complaint_id] = entry

    async def remove(self, year: int, complaint_id: str) -> None:
        self.years.get(year, {}).pop(complaint_id, None)

    async def waiting(self, year: int) -> dict[str, dict[str, Any]]:
        return dict(self.years.get(year, {}))

    async def counts(self, years: list[int]) -> dict[int, int]:
        return {year: len(self.years.get(year, {})) for year in years}


class FakeClocks:
    """Clocks in a dict; `change` applies `$set` and `$push` like the real store, and keeps
    the pending index in step the same way."""

    def __init__(self) -> None:
        self.clocks: dict[str, dict[str, Any]] = {}
        self.load: dict[str, dict[str, int]] = {}
        self.collection = FakeCollection()
        self.pending = FakePendingIndex()

    async def start(self, document: dict[str, Any]) -> bool:
        if document["_id"] in self.clocks:
            return False
        if (year := pending_year(document)) is not None:
            await self.pending.add(year, document["_id"], document["hospital_id"])
        self.clocks[document["_id"]] = copy.deepcopy(document)
        return True

    async def change(self, complaint_id: str, mutate: Any) -> dict[str, Any] | None:
        current = self.clocks.get(complaint_id)
        if current is None:
            return None
        before = pending_year(current)
        update = mutate(copy.deepcopy(current))
        if update is None:
            return copy.deepcopy(current)
        if pending := update.get("$set", {}).get("deadline_pending"):
            await self.pending.add(pending["year"], complaint_id, current["hospital_id"])
        current.update(copy.deepcopy(update.get("$set", {})))
        for key, value in update.get("$push", {}).items():
            current.setdefault(key, []).append(copy.deepcopy(value))
        if before is not None and before != pending_year(current):
            await self.pending.remove(before, complaint_id)
        return copy.deepcopy(current)

    async def drop_stale(self, year: int, complaint_id: str, since: datetime) -> bool:
        if pending_year(self.clocks.get(complaint_id)) == year:
            return False
        await self.pending.remove(year, complaint_id)
        return True

    async def open_cases_by_handler(self, hospital_id: str, department: str) -> dict[str, int]:
        return dict(self.load.get(f"{hospital_id}:{department}", {}))

    async def open_of_handler(self, hospital_id: str, handler_id: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(c)
            for c in self.clocks.values()
            if c["hospital_id"] == hospital_id
            and c.get("handler_id") == handler_id
            and c["status"] != STOPPED
        ]


class FakeRelay:
    def __init__(self) -> None:
        self.notified: list[Any] = []

    def notify(self, document_id: str, envelopes: list[Any]) -> None:
        self.notified += envelopes
