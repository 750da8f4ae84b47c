"""Reporting's read model: one fact document per complaint, built from events alone.

Each event is applied at most once: the filter requires that the event id is not yet in
`applied`, and the upsert that would create a second document for an already applied
event fails on the _id instead. Status only moves forward (`$max` on its rank), so
events arriving out of order cannot move a replied complaint back to assigned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

STATUS_RANK = {"received": 0, "assigned": 1, "replied": 2}
STATUS_BY_RANK = {rank: status for status, rank in STATUS_RANK.items()}
REPLIED_RANK = STATUS_RANK["replied"]


class ComplaintFacts:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["complaint_facts"]

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index(
            [("received_at", ASCENDING), ("hospital_id", ASCENDING)], name="window"
        )
        await c.create_index(
            [("status_rank", ASCENDING), ("due_at", ASCENDING), ("hospital_id", ASCENDING)],
            name="overdue",
        )

    async def apply(
        self,
        *,
        complaint_id: str,
        hospital_id: str,
        event_id: str,
        fields: dict[str, Any],
        status: str | None = None,
    ) -> bool:
        """Apply one event's facts; False if this event was applied before."""
        update: dict[str, Any] = {
            "$set": {"hospital_id": hospital_id, **fields},
            "$push": {"applied": event_id},
        }
        if status is not None:
            update["$max"] = {"status_rank": STATUS_RANK[status]}
        else:
            update["$setOnInsert"] = {"status_rank": 0}
        # Read, then write by `_id` alone: every field is $set or $max, so applying an event
        # twice changes nothing but the `applied` list, and lookups by `_id` stay indexed.
        current = await self.collection.find_one({"_id": complaint_id}, {"applied": 1})
        if current is not None and event_id in current.get("applied", []):
            return False
        try:
            await self.collection.update_one({"_id": complaint_id}, update, upsert=True)
        except DuplicateKeyError:  # two first events of one complaint raced; retry as update
            await self.collection.update_one({"_id": complaint_id}, update)
        return True

    async def counts(
        self, *, start: datetime, end: datetime, hospital_id: str | None
    ) -> list[dict[str, Any]]:
        match: dict[str, Any] = {"received_at": {"$gte": start, "$lt": end}}
        if hospital_id:
            match["hospital_id"] = hospital_id
        rows = await self.collection.aggregate(
            [
                {"$match": match},
                {
                    "$group": {
                        "_id": {
                            "hospital_id": "$hospital_id",
                            "category": "$category",
                            "status_rank": "$status_rank",
                        },
                        "n": {"$sum": 1},
                    }
                },
            ]
        )
        return [row async for row in rows]

    async def overdue_by_hospital(self, now: datetime) -> dict[str, int]:
        rows = await self.collection.aggregate(
            [
                {"$match": {"status_rank": {"$lt": REPLIED_RANK}, "due_at": {"$lt": now}}},
                {"$group": {"_id": "$hospital_id", "n": {"$sum": 1}}},
            ]
        )
        return {row["_id"]: row["n"] async for row in rows}
