"""The levels the scan told, and the chunks it has not yet seen the broker confirm.

- `ladder_told`: which levels were told, in one document per day (real UTC) and shard,
  `_id` "20261201/07", `s`: the levels' marks (`told_mark`: 16 hex digits of the level's
  event id, "<complaint id>:<round>:<level>" hashed; FerretDB rewrites a document at every
  update at a cost that grows with its size, so the marks are kept short). A pass claims
  the levels due in a group of slots with one findAndModify per shard, adding the marks
  with `$addToSet` and reading the document as it was before: the marks not there before
  are the pass's to publish, the others another pass told. A single document's update is
  atomic, so of two passes at once exactly one claims each level, at the cost of 16 small
  writes instead of one insert per level (FerretDB takes some 3,000 inserts a second:
  10,000 levels would cost more than the whole pass may). The previous day's document is
  read as well, once a pass: a told level is recorded on its clock by routing's consumer
  within seconds, after which no plan lists it again, so two days cover the moments in
  which a plan could list a told level once more (a clock changed by an event that was
  queued before the level's).
- `ladder_batches`: a pass's chunk in flight, `{_id, at, staged, slots}`: written before
  its levels are claimed, deleted once the broker confirmed its events. A chunk left
  behind by a pass that died is published by a later pass: the slots it names are read
  again (time slots keep their entries until they are swept a day later; a late slot
  loses an entry only once its level was published, or once routing re-planned the clock
  because its event arrived), the levels due in them at `at` built again, under the same
  event ids (consumers apply an event id once), and published.

So a level's event is published at least once once it is claimed, and, unless a pass died
between claiming and its broker's confirm, by one pass only.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from datetime import date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, DuplicateKeyError, OperationFailure

TOLD = "ladder_told"
BATCHES = "ladder_batches"
TOLD_SHARDS = 16


def step_id(complaint_id: str, round_: int, level: str) -> str:
    return f"{complaint_id}:{round_}:{level}"


def event_id_of(step: str) -> UUID:
    """The event of a level is the same event whoever builds it, so a republished chunk
    is recognised by its consumers (they apply an event id once)."""
    return uuid5(NAMESPACE_URL, f"huiyin:ladder:{step}")


def told_document(day: date, shard: int) -> str:
    return f"{day:%Y%m%d}/{shard:02d}"


def told_mark(step: str) -> str:
    """A level's mark in the told documents: 64 bits of its event id (a collision among a
    day's levels is as likely as none in 10^7 such days)."""
    return event_id_of(step).hex[:16]


def told_shard(step: str) -> int:
    return zlib.crc32(step.encode()) % TOLD_SHARDS


class LadderRecords:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.told: AsyncCollection[dict[str, Any]] = db[TOLD]
        self.batches: AsyncCollection[dict[str, Any]] = db[BATCHES]
        self._earlier: dict[tuple[date, int], set[str]] = {}  # the day before's marks

    async def ensure_collections(self) -> None:
        """Create the collections at start: FerretDB creates a missing one on its first
        write, and 16 claims arriving at once at a missing collection take it most of a
        second (the first pass would pay it)."""
        existing = set(await self.told.database.list_collection_names())
        for collection in (self.told, self.batches):
            if collection.name not in existing:
                with contextlib.suppress(CollectionInvalid, OperationFailure):  # raced
                    await collection.database.create_collection(collection.name)

    async def stage(self, batch: str, slots: list[str], *, at: datetime, staged: datetime) -> None:
        """The chunk's slots, listed durably before any of its levels is claimed: `at`
        the platform's time of the pass, `staged` the real time (when it is left behind)."""
        await self.batches.insert_one({"_id": batch, "at": at, "staged": staged, "slots": slots})

    async def claim(self, steps: list[str], *, today: date) -> set[str]:
        """Claim the levels `steps`; the ones this call claimed (the others were told)."""
        by_shard: dict[int, list[str]] = {}
        for step in dict.fromkeys(steps):
            by_shard.setdefault(told_shard(step), []).append(step)
        claimed = await asyncio.gather(
            *(self._claim_in(shard, listed, today=today) for shard, listed in by_shard.items())
        )
        return set().union(*claimed)

    async def _claim_in(self, shard: int, steps: list[str], *, today: date) -> set[str]:
        earlier = await self._earlier_marks(today, shard)
        marks = {told_mark(step): step for step in steps}
        fresh = [mark for mark in marks if mark not in earlier]
        if not fresh:
            return set()
        for attempt in range(2):
            try:
                before = await self.told.find_one_and_update(
                    {"_id": told_document(today, shard)},
                    {"$addToSet": {"s": {"$each": fresh}}},
                    upsert=True,
                    return_document=ReturnDocument.BEFORE,
                )
            except DuplicateKeyError:  # two first claims of the day at once: the other won
                if attempt:
                    raise
                continue
            told = set((before or {}).get("s", []))
            return {marks[mark] for mark in fresh if mark not in told}
        raise AssertionError("unreachable")

    async def _earlier_marks(self, today: date, shard: int) -> set[str]:
        key = (today, shard)
        if key not in self._earlier:
            document = await self.told.find_one(
                {"_id": told_document(today - timedelta(days=1), shard)}
            )
            self._earlier[key] = set((document or {}).get("s", []))
        return self._earlier[key]

    async def done(self, batch: str) -> None:
        await self.batches.delete_one({"_id": batch})

    async def left_behind(self, *, before: datetime) -> list[dict[str, Any]]:
        """Chunks staged before `before` (real time) and never finished (a pass that died):
        few, in a collection that holds only unfinished chunks, so this read stays small."""
        cursor = self.batches.find({"staged": {"$lt": before}})
        return await cursor.to_list(None)
