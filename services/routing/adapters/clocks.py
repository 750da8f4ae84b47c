"""SLA clocks: one document per complaint, holding routing's decision and its deadline.

The clock document is also the routing decision's idempotency key (its _id is the
complaint id) and carries routing's outbox, so deciding, starting the clock and queueing
complaint.routed are one insert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

OPEN = "open"
STOPPED = "stopped"


class ClockStore:
    """Clocks, plus a small load document per department (`_id` hospital:department,
    `open.<handler_id>` counts) so that choosing the least-loaded handler is one lookup by
    `_id` instead of a count over every open clock."""

    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["sla_clocks"]
        self.load: AsyncCollection = db["department_load"]

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index(
            [("status", ASCENDING), ("overdue", ASCENDING), ("due_at", ASCENDING)], name="scan"
        )

    async def start(self, document: dict[str, Any]) -> bool:
        """Insert a new clock; False if this complaint already has one (a redelivery)."""
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
