"""The levels the scan reached, and their events until the broker has them.

- `ladder_steps`: one record per level of each round of a case, `_id`
  "<complaint id>:<round>:<level>". Inserting it is the scan's claim on that level: the
  `_id` is unique, so of two scans (or a scan run twice) exactly one inserts it and
  publishes; the other learns the level was reached. It names the batch that publishes its
  event.
- `ladder_batches`: a scan's outbox, one document per chunk of events, written before the
  claims and deleted once the broker confirmed every claimed event in it. A chunk's events
  go in one document rather than one outbox entry per record because clearing 10,000
  entries one update at a time costs FerretDB seconds (ARCHITECTURE.md "Storage"), and
  deleting the batch costs one write. A batch left behind by a crash is published by a
  later pass: each event whose claim names that batch, again under the same event id
  (consumers apply an event id once), then the batch is deleted.

So a level's event is published if and only if its claim exists, at least once, and no
other scan publishes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.contracts import Envelope

STEPS = "ladder_steps"
BATCHES = "ladder_batches"
DUPLICATE_KEY = 11000


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

    async def stage(self, batch: str, envelopes: list[Envelope], *, now: datetime) -> None:
        """The chunk's events, durable before any of them is claimed."""
        await self.batches.insert_one(
            {"_id": batch, "at": now, "events": [e.to_document() for e in envelopes]}
        )

    async def claim(self, records: list[dict[str, Any]]) -> set[str]:
        """Insert the level records; the ids this call inserted (the others exist)."""
        if not records:
            return set()
        try:
            await self.steps.insert_many(records, ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            other = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            if other:
                raise
            taken = {int(e["index"]) for e in errors}
            return {r["_id"] for n, r in enumerate(records) if n not in taken}
        return {r["_id"] for r in records}

    async def done(self, batch: str) -> None:
        await self.batches.delete_one({"_id": batch})

    async def left_behind(self, *, before: datetime) -> list[dict[str, Any]]:
        """Batches staged before `before` and never finished (a scan that died): few, in a
        collection that holds only unfinished batches, so this read stays small."""
        cursor = self.batches.find({"at": {"$lt": before}})
        return await cursor.to_list(None)

    async def claimed_by(self, batch: str, steps: Iterable[str]) -> set[str]:
        """Which of `steps` were claimed by `batch` (read by `_id`, one each)."""
        owned: set[str] = set()
        for step in steps:
            record = await self.steps.find_one({"_id": step}, {"batch": 1})
            if record is not None and record.get("batch") == batch:
                owned.add(step)
        return owned

    async def reached(self, complaint_id: str, round_: int, level: str) -> dict[str, Any] | None:
        return await self.steps.find_one({"_id": step_id(complaint_id, round_, level)})
