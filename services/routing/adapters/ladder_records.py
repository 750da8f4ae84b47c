"""The levels the scan reached, and the ones it has not yet seen the broker confirm.

- `ladder_steps`: one record per level of each round of a case, `_id`
  "<complaint id>:<round>:<level>". Inserting it is the scan's claim on that level: the
  `_id` is unique, so of two scans (or a scan run twice) exactly one inserts it and
  publishes; the other learns the level was reached. It names the batch that publishes its
  event and holds what the event is built from (the slot entry without its points, the
  point, the pass's time), so the event can be built again.
- `ladder_batches`: a scan's list of levels in flight, one small document per chunk of
  claims, `{_id, at, steps: [step ids]}`: written before the claims, deleted once the
  broker confirmed every event the chunk claimed. Only the ids, not the events: FerretDB
  writes and deletes a document at a cost that grows with its size (a chunk's 1,000
  events in one document cost some 0.25 s to insert and 0.4 s to delete; its ids 50 ms
  and 10 ms), and the claims carry the rest at little extra cost. A batch left behind by
  a crash is published by a later pass: each step it lists whose claim names that batch
  is read by `_id` and its event built again and published, under the same event id
  (consumers apply an event id once), then the batch is deleted. A batch written by an
  earlier version, with the events themselves under `events`, is published from those.

So a level's event is published if and only if its claim exists, at least once, and no
other scan publishes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.bulk_writes import insert_new

STEPS = "ladder_steps"
BATCHES = "ladder_batches"
READS_AT_ONCE = 20  # claims a recovering pass reads concurrently


def step_id(complaint_id: str, round_: int, level: str) -> str:
    return f"{complaint_id}:{round_}:{level}"


def event_id_of(step: str) -> UUID:
    """The event of a level is the same event whoever builds it, so a republished batch
    is recognised by its consumers (they apply an event id once)."""
    return uuid5(NAMESPACE_URL, f"huiyin:ladder:{step}")


class LadderRecords:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.steps: AsyncCollection[dict[str, Any]] = db[STEPS]
        self.batches: AsyncCollection[dict[str, Any]] = db[BATCHES]

    async def stage(self, batch: str, steps: list[str], *, now: datetime) -> None:
        """The chunk's levels, listed durably before any of them is claimed."""
        await self.batches.insert_one({"_id": batch, "at": now, "steps": steps})

    async def claim(self, records: list[dict[str, Any]]) -> set[str]:
        """Insert the level records; the ids this call inserted (the others exist)."""
        return await insert_new(self.steps, records)

    async def done(self, batch: str) -> None:
        await self.batches.delete_one({"_id": batch})

    async def left_behind(self, *, before: datetime) -> list[dict[str, Any]]:
        """Batches staged before `before` and never finished (a scan that died): few, in a
        collection that holds only unfinished batches, so this read stays small."""
        cursor = self.batches.find({"at": {"$lt": before}})
        return await cursor.to_list(None)

    async def claimed_by(self, batch: str, steps: Iterable[str]) -> list[dict[str, Any]]:
        """The claims of `steps` that `batch` made (read by `_id`, a few at a time)."""
        owned: list[dict[str, Any]] = []
        wanted = list(steps)
        for start in range(0, len(wanted), READS_AT_ONCE):
            found = await asyncio.gather(
                *(self.steps.find_one({"_id": s}) for s in wanted[start : start + READS_AT_ONCE])
            )
            owned.extend(r for r in found if r is not None and r.get("batch") == batch)
        return owned

    async def reached(self, complaint_id: str, round_: int, level: str) -> dict[str, Any] | None:
        return await self.steps.find_one({"_id": step_id(complaint_id, round_, level)})
