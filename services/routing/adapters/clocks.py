"""SLA clocks: one document per complaint, holding routing's decision and its deadline.

The clock document is also the routing decision's idempotency key (its _id is the
complaint id) and carries routing's outbox, so deciding, starting the clock and queueing
complaint.routed are one insert.

Deadlines waiting for a year's calendar are found without a scan: `pending_deadlines` holds
one document per year (`_id` the year) listing the clocks that wait for it. The store keeps
it in step with every write of `deadline_pending`, in the order that survives a crash: the
entry is added before the clock says it waits, and removed after the clock stops waiting.
So an entry may outlive its clock's wait (the recount drops it), but a waiting clock always
has its entry.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

OPEN = "open"
PAUSED = "paused"  # waiting for the complainant's supplement: the clock does not run
STOPPED = "stopped"

Mutation = Callable[[dict[str, Any]], dict[str, Any] | None]


# An index entry younger than this is never dropped as stale: its clock may be about to
# say it waits (the entry is written first), in this process or another.
STALE_AFTER = timedelta(minutes=2)


def pending_year(clock: dict[str, Any] | None) -> int | None:
    """The year a clock's deadline waits for (reply or acceptance), if any."""
    pending = (clock or {}).get("deadline_pending")
    return int(pending["year"]) if pending else None


class PendingIndex:
    """Which clocks wait for which year: `{_id: year, clocks: {complaint_id: {hospital_id,
    since}}}`. Read by `_id` only; one document per year stays small (the clocks of the
    weeks before a year's calendar is published)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["pending_deadlines"]

    async def add(self, year: int, complaint_id: str, hospital_id: str) -> None:
        await self.collection.update_one(
            {"_id": year},
            {
                "$set": {
                    f"clocks.{complaint_id}": {
                        "hospital_id": hospital_id,
                        "since": datetime.now(UTC),
                    }
                }
            },
            upsert=True,
        )

    async def remove(self, year: int, complaint_id: str) -> None:
        await self.collection.update_one({"_id": year}, {"$unset": {f"clocks.{complaint_id}": ""}})

    async def waiting(self, year: int) -> dict[str, dict[str, Any]]:
        """The clocks listed as waiting for `year` (with the time each entry was made)."""
        document = await self.collection.find_one({"_id": year})
        return dict((document or {}).get("clocks") or {})

    async def counts(self, years: list[int]) -> dict[int, int]:
        return {year: len(await self.waiting(year)) for year in years}


class ClockStore:
    """Clocks, plus a small load document per department (`_id` hospital:department,
    `open.<handler_id>` counts) so that choosing the least-loaded handler is one lookup by
    `_id` instead of a count over every open clock, and the pending index (above)."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["sla_clocks"]
        self.load: AsyncCollection = db["department_load"]
        self.pending = PendingIndex(db)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index(
            [("status", ASCENDING), ("overdue", ASCENDING), ("due_at", ASCENDING)], name="scan"
        )

    async def start(self, document: dict[str, Any]) -> bool:
        """Insert a new clock; False if this complaint already has one (a redelivery)."""
        year = pending_year(document)
        if year is not None:
            await self.pending.add(year, document["_id"], document["hospital_id"])
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        await self._count(document, +1)
        return True

    async def stop(self, complaint_id: str, *, at: datetime) -> bool:
        """Stop an open clock; False if it was already stopped (a redelivered reply)."""
        current = await self.collection.find_one({"_id": complaint_id}, {"status": 1})
        if current is None or current["status"] != OPEN:
            return False
        before = await self.collection.find_one_and_update(
            {"_id": complaint_id},
            {"$set": {"status": STOPPED, "stopped_at": at}},
            return_document=ReturnDocument.BEFORE,
        )
        if before is None or before["status"] != OPEN:
            return False
        await self._count(before, -1)
        return True

    async def get(self, complaint_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": complaint_id}, {"outbox": 0})

    async def change(self, complaint_id: str, mutate: Mutation) -> dict[str, Any] | None:
        """Read, let `mutate` compute an update, write it: one clock at a time within this
        process (events of one complaint may be consumed concurrently). Returns the clock
        after the change; None when there is no clock."""
        lock = self._locks.get(complaint_id)
        if lock is None:
            lock = self._locks[complaint_id] = asyncio.Lock()
        async with lock:
            current = await self.collection.find_one({"_id": complaint_id})
            if current is None:
                return None
            update = mutate(current)
            if update is None:
                return current
            pending = (update.get("$set") or {}).get("deadline_pending")
            if pending:  # listed before the clock says it waits (see the module note)
                await self.pending.add(int(pending["year"]), complaint_id, current["hospital_id"])
            after = await self.collection.find_one_and_update(
                {"_id": complaint_id}, update, return_document=ReturnDocument.AFTER
            )
            if after is not None:
                before_year = pending_year(current)
                if before_year is not None and before_year != pending_year(after):
                    await self.pending.remove(before_year, complaint_id)
        if after is not None:
            await self._moved(current, after)
        return after

    async def drop_stale(self, year: int, complaint_id: str, since: datetime) -> bool:
        """Drop an index entry whose clock does not wait for `year` (a crash between the two
        writes, or a clock gone), unless the entry is recent: its clock may be about to."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        if datetime.now(UTC) - since < STALE_AFTER:
            return False
        lock = self._locks.get(complaint_id)
        if lock is None:
            lock = self._locks[complaint_id] = asyncio.Lock()
        async with lock:
            clock = await self.collection.find_one({"_id": complaint_id}, {"deadline_pending": 1})
            if pending_year(clock) == year:
                return False
            await self.pending.remove(year, complaint_id)
        return True

    async def _moved(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Keep the department load in step when a clock stops, restarts or changes hands."""
        was_open = before["status"] != STOPPED
        is_open = after["status"] != STOPPED
        same_hands = (before.get("department"), before.get("handler_id")) == (
            after.get("department"),
            after.get("handler_id"),
        )
        if was_open == is_open and (same_hands or not is_open):
            return
        if was_open:
            await self._count(before, -1)
        if is_open:
            await self._count(after, +1)

    async def open_of_handler(self, hospital_id: str, handler_id: str) -> list[dict[str, Any]]:
        """A handler's open clocks, for delegation (an admin action; a scan on FerretDB)."""
        cursor = self.collection.find(
            {"hospital_id": hospital_id, "handler_id": handler_id, "status": {"$ne": STOPPED}},
            {"outbox": 0},
        )
        return await cursor.to_list(None)

    async def _count(self, clock: dict[str, Any], delta: int) -> None:
        # A crash between the clock write and this one leaves the load off by one: it only
        # steers the choice of handler, and the SLA scan reads the clocks themselves.
        if clock.get("handler_id"):
            await self.load.update_one(
                {"_id": f"{clock['hospital_id']}:{clock['department']}"},
                {"$inc": {f"open.{clock['handler_id']}": delta}},
                upsert=True,
            )

    async def open_cases_by_handler(self, hospital_id: str, department: str) -> dict[str, int]:
        document = await self.load.find_one({"_id": f"{hospital_id}:{department}"})
        return {k: n for k, n in (document or {}).get("open", {}).items() if n > 0}
