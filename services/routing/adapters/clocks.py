"""SLA clocks: one document per complaint, holding routing's decision and its deadline.

The clock document is also the routing decision's idempotency key (its _id is the
complaint id) and carries routing's outbox, so deciding, starting the clock and queueing
complaint.routed are one insert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

OPEN = "open"
STOPPED = "stopped"


class ClockStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["sla_clocks"]

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index(
            [("status", ASCENDING), ("overdue", ASCENDING), ("due_at", ASCENDING)], name="scan"
        )
        await c.create_index(
            [("hospital_id", ASCENDING), ("department", ASCENDING), ("status", ASCENDING)],
            name="department_load",
        )

    async def exists(self, complaint_id: str) -> bool:
        return await self.collection.count_documents({"_id": complaint_id}, limit=1) > 0

    async def start(self, document: dict[str, Any]) -> bool:
        """Insert a new clock; False if this complaint already has one (a redelivery)."""
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def stop(self, complaint_id: str, *, at: datetime) -> bool:
        result = await self.collection.update_one(
            {"_id": complaint_id, "status": OPEN}, {"$set": {"status": STOPPED, "stopped_at": at}}
        )
        return result.modified_count == 1

    async def open_cases_by_handler(self, hospital_id: str, department: str) -> dict[str, int]:
        rows = await self.collection.aggregate(
            [
                {"$match": {"hospital_id": hospital_id, "department": department, "status": OPEN}},
                {"$group": {"_id": "$handler_id", "n": {"$sum": 1}}},
            ]
        )
        return {row["_id"]: row["n"] async for row in rows if row["_id"]}
