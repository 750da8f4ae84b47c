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
change of the clock, listed after it; the entries of clocks changed at the same time go in
one command, one statement per slot: shared/group_commit.py FieldWrites); the scan only
removes the entries it has handled, by key, so it never removes a newer plan of the same
clock (services/routing/sla_scan.py).
A shard is the complaint id's CRC-32 modulo `SHARDS`: a minute's entries are spread over a
fixed number of small documents, each updated in place (FerretDB rewrites the whole
document at every update, so a day's deadlines must not share one document).

The minutes that list anything (`sla_minutes`, one document per hour, `_id` "2026120115",
`m`: its minutes that were ever listed): written before the entry itself, so that a pass
reads one document per hour between its cursor and now, then the slots of the minutes
listed there, never the 16 empty slots of every other minute (a day the scan did not run
costs 24 reads to catch up, not 23,040). Writers remember the minutes they listed
(`LISTED_MEMORY`): a minute once listed stays listed until the hour is swept, a day behind
the cursor, and nothing is listed behind the cursor (it goes to the late slots).

The scan's cursor (`sla_scan`, `_id` "cursor") is the last minute every entry of which has
been handled; a pass reads from the minute after it to now. The minutes behind it are
never read again, so their slots are not emptied entry by entry: a later pass deletes them
whole, with their hour, once they are a day behind the cursor (`sweep`; `_id` "swept" is
the last hour swept).
"""

from __future__ import annotations

import asyncio
import zlib
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.bulk_writes import bulk_write_in_chunks
from shared.group_commit import FieldWrites

SLOTS = "sla_slots"
MINUTES = "sla_minutes"
SCAN_STATE = "sla_scan"
CURSOR = "cursor"
SWEPT = "swept"
SHARDS = 16
MINUTE = "%Y%m%d%H%M"
HOUR = "%Y%m%d%H"
LISTED_MEMORY = 4096  # minutes a writer remembers having listed
SWEEP_AFTER = timedelta(days=1)  # how far behind the cursor an hour's slots are deleted


def shard_of(complaint_id: str) -> int:
    return zlib.crc32(complaint_id.encode()) % SHARDS


def minute_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(MINUTE)


def moment_of(minute: str) -> datetime:
    return datetime.strptime(minute, MINUTE).replace(tzinfo=UTC)


def hour_of(minute: str) -> str:
    return minute[:10]


def hours_between(first: str, last: str) -> list[str]:
    """Every hour from `first`'s to `last`'s, both included (minutes or hours, UTC)."""
    start = datetime.strptime(hour_of(first), HOUR).replace(tzinfo=UTC)
    end = datetime.strptime(hour_of(last), HOUR).replace(tzinfo=UTC)
    count = int((end - start).total_seconds() // 3600) + 1
    return [(start + timedelta(hours=n)).strftime(HOUR) for n in range(max(0, count))]


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


def is_time_slot(slot: str) -> bool:
    return slot[:1].isdigit()


class SlotIndex:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[SLOTS]
        self.minutes: AsyncCollection[dict[str, Any]] = db[MINUTES]
        self.state: AsyncCollection[dict[str, Any]] = db[SCAN_STATE]
        self._listed: OrderedDict[str, None] = OrderedDict()
        self._entries = FieldWrites(self.collection)

    async def add(self, slot: str, key: str, entry: dict[str, Any]) -> None:
        if is_time_slot(slot):
            await self.list_minutes([slot.split("/")[0]])
        await self._entries.write([(slot, {"$set": {f"e.{key}": entry}})])

    async def list_minutes(self, minutes: list[str]) -> None:
        """Note `minutes` in their hours' documents (module note), once per writer."""
        fresh = [m for m in dict.fromkeys(minutes) if m not in self._listed]
        by_hour: dict[str, list[str]] = {}
        for minute in fresh:
            by_hour.setdefault(hour_of(minute), []).append(minute)
        for hour, listed in by_hour.items():
            await self.minutes.update_one(
                {"_id": hour}, {"$addToSet": {"m": {"$each": listed}}}, upsert=True
            )
        for minute in fresh:
            self._listed[minute] = None
        while len(self._listed) > LISTED_MEMORY:
            self._listed.popitem(last=False)

    async def listed_minutes(self, first: str, last: str) -> list[str]:
        """The minutes from `first` to `last` that list anything, in order: one read per
        hour, by `_id`."""
        hours = hours_between(first, last)
        found = await asyncio.gather(*(self.minutes.find_one({"_id": h}) for h in hours))
        return sorted(
            minute
            for document in found
            if document
            for minute in document.get("m", [])
            if first <= minute <= last
        )

    async def remove(self, slot: str, key: str) -> None:
        await self._entries.write([(slot, {"$unset": {f"e.{key}": ""}})])

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
        """Forward only: of two passes, the one that read less never moves it back."""
        await self.state.update_one({"_id": CURSOR}, {"$max": {"through": minute}}, upsert=True)

    async def ensure_cursor(self, now: datetime, *, margin: timedelta) -> str:
        """The cursor, created just behind `now` if there is none yet: every entry is
        listed at or after the minute it is listed in, so none is ever behind it."""
        start = minute_of(now - margin - timedelta(minutes=1))
        await self.state.update_one(
            {"_id": CURSOR}, {"$setOnInsert": {"through": start}}, upsert=True
        )
        return await self.cursor() or start

    async def sweep(self, cursor: str, *, hours_at_once: int = 6) -> int:
        """Delete the slots of the hours a day behind `cursor`, with their hour documents,
        at most `hours_at_once` hours a call; how many hours it swept. Their minutes were
        read and handled, and no pass reads behind the cursor."""
        limit = hour_of(minute_of(moment_of(cursor) - SWEEP_AFTER))
        state = await self.state.find_one({"_id": SWEPT})
        if state is None:  # nothing to sweep before the first pass: start from here
            await self.state.update_one(
                {"_id": SWEPT}, {"$setOnInsert": {"through": limit}}, upsert=True
            )
            return 0
        hours = hours_between(state["through"], limit)[1 : hours_at_once + 1]
        for hour in hours:
            document = await self.minutes.find_one({"_id": hour})
            minutes = (document or {}).get("m", [])
            await self.settle(drop=[s for m in minutes for s in minute_slots(m)], keys={})
            await self.minutes.delete_one({"_id": hour})
            await self.state.update_one({"_id": SWEPT}, {"$max": {"through": hour}})
        return len(hours)
