"""The scan's index: which clocks reach a point when, addressed by time slot (MongoDB's
bucket pattern), so that finding the clocks due costs reads of the slots that have passed,
never a query over all clocks (on FerretDB any filter but `_id` reads the whole
collection: ARCHITECTURE.md "Storage").

One document per minute (UTC) and shard, `_id` "202612011559/07", holds an entry per clock
whose next point falls in that minute, under the clock's key (`<complaint id>~<seq>`, a
new key for every plan of the clock: sla_state.py). Two more kinds of document, with
their shards:
- `late/07`: clocks whose next point had already passed when they were planned (a
  re-planned overdue case, an extension whose warning is behind it); every pass reads
  them;
- `recheck/2027/07`: clocks whose next step falls in a year the calendar does not cover
  yet; the calendar watch plans them again once that year is loaded (calendar_loading.py).

Entries are written by routing's clock store only (adapters/clocks.py: removed before a
change of the clock, listed after it); the scan only removes the entries it has handled,
by key, so it never removes a newer plan of the same clock (services/routing/sla_scan.py).
A shard is the complaint id's CRC-32 modulo `SHARDS`: a minute's entries are spread over a
fixed number of small documents, each updated in place (FerretDB rewrites the whole
document at every update, so a day's deadlines must not share one document).

The scan's cursor (`sla_scan`, `_id` "cursor") is the last minute every entry of which has
been handled; a pass reads from the minute after it to now.
"""

from __future__ import annotations

import asyncio
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.bulk_writes import bulk_write_in_chunks

SLOTS = "sla_slots"
SCAN_STATE = "sla_scan"
CURSOR = "cursor"
SHARDS = 16
MINUTE = "%Y%m%d%H%M"


def shard_of(complaint_id: str) -> int:
    return zlib.crc32(complaint_id.encode()) % SHARDS


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(MINUTE)


def moment_of(minute: str) -> datetime:
    return datetime.strptime(minute, MINUTE).replace(tzinfo=UTC)


def time_slot(moment: datetime, shard: int) -> str:
    return f"{minute_of(moment)}/{shard:02d}"


def late_slot(shard: int) -> str:
    return f"late/{shard:02d}"


def recheck_slot(year: int, shard: int) -> str:
    return f"recheck/{year}/{shard:02d}"


def minute_slots(minute: str) -> list[str]:
    return [f"{minute}/{shard:02d}" for shard in range(SHARDS)]


def late_slots() -> list[str]:
    return [late_slot(shard) for shard in range(SHARDS)]


def recheck_slots(year: int) -> list[str]:
    return [recheck_slot(year, shard) for shard in range(SHARDS)]


def minutes_between(first: str, last: str) -> list[str]:
    """Every minute from `first` to `last`, both included (UTC, `MINUTE` format)."""
    start, end = moment_of(first), moment_of(last)
    count = int((end - start).total_seconds() // 60) + 1
    return [minute_of(start + timedelta(minutes=n)) for n in range(max(0, count))]


class SlotIndex:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[SLOTS]
        self.state: AsyncCollection[dict[str, Any]] = db[SCAN_STATE]

    async def add(self, slot: str, key: str, entry: dict[str, Any]) -> None:
        await self.collection.update_one({"_id": slot}, {"$set": {f"e.{key}": entry}}, upsert=True)

    async def remove(self, slot: str, key: str) -> None:
        await self.collection.update_one({"_id": slot}, {"$unset": {f"e.{key}": ""}})

    async def entries(self, slot: str) -> dict[str, dict[str, Any]]:
        document = await self.collection.find_one({"_id": slot})
        return dict((document or {}).get("e") or {})

    async def read(self, slots: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """The entries of each slot that has any, read concurrently by `_id`."""
        found = await asyncio.gather(*(self.entries(slot) for slot in slots))
        return {slot: entries for slot, entries in zip(slots, found, strict=True) if entries}

    async def forget(self, slot: str, keys: list[str]) -> None:
        """Remove handled entries by key (entries listed meanwhile stay)."""
        if keys:
            await self.collection.update_one(
                {"_id": slot}, {"$unset": {f"e.{key}": "" for key in keys}}
            )

    async def drop(self, slot: str) -> None:
        """Delete a slot of a minute long past, all of whose entries were handled."""
        await self.collection.delete_one({"_id": slot})

    async def settle(self, *, drop: list[str], keys: dict[str, list[str]]) -> None:
        """`drop` and `forget` for many slots at once: one delete or update per slot by
        `_id`, sent `STATEMENTS_PER_COMMAND` to a command (a delete by `_id: {$in}` would
        read the whole collection on FerretDB); deletes first, the larger share."""
        requests: list[DeleteOne | UpdateOne] = [DeleteOne({"_id": slot}) for slot in drop]
        requests += [
            UpdateOne({"_id": slot}, {"$unset": {f"e.{key}": "" for key in gone}})
            for slot, gone in keys.items()
            if gone
        ]
        if requests:
            await bulk_write_in_chunks(self.collection, requests, ordered=False)

    async def cursor(self) -> str | None:
        document = await self.state.find_one({"_id": CURSOR})
        return (document or {}).get("through")

    async def set_cursor(self, minute: str) -> None:
        await self.state.update_one({"_id": CURSOR}, {"$set": {"through": minute}}, upsert=True)

    async def ensure_cursor(self, now: datetime, *, margin: timedelta) -> str:
        """The cursor, created just behind `now` if there is none yet: every entry is
        listed at or after the minute it is listed in, so none is ever behind it."""
        start = minute_of(now - margin - timedelta(minutes=1))
        await self.state.update_one(
            {"_id": CURSOR}, {"$setOnInsert": {"through": start}}, upsert=True
        )
        return await self.cursor() or start
