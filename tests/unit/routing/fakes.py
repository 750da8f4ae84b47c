"""In-process stand-ins for routing's stores (the adapters' interfaces), for unit tests
of decisions and the clock's lifecycle without servers."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from services.routing.adapters.clocks import STOPPED
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


class FakeClocks:
    """Clocks in a dict; `change` applies `$set` and `$push` like the real store."""

    def __init__(self) -> None:
        self.clocks: dict[str, dict[str, Any]] = {}
        self.load: dict[str, dict[str, int]] = {}
        self.collection = FakeCollection()

    async def start(self, document: dict[str, Any]) -> bool:
        if document["_id"] in self.clocks:
            return False
        self.clocks[document["_id"]] = copy.deepcopy(document)
        return True

    async def change(self, complaint_id: str, mutate: Any) -> dict[str, Any] | None:
        current = self.clocks.get(complaint_id)
        if current is None:
            return None
        update = mutate(copy.deepcopy(current))
        if update is None:
            return copy.deepcopy(current)
        current.update(copy.deepcopy(update.get("$set", {})))
        for key, value in update.get("$push", {}).items():
            current.setdefault(key, []).append(copy.deepcopy(value))
        return copy.deepcopy(current)

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
