"""Reporting's read model: one fact document per complaint, built from events alone.

Each event is applied at most once: the filter requires that the event id is not yet in
`applied`, and the upsert that would create a second document for an already applied
event fails on the _id instead. Status only moves forward (`$max` on its rank), so
events arriving out of order cannot move a replied complaint back to assigned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.reporting.domain.status import is_running, rank


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
        round_: int = 0,
        add_to_set: dict[str, Any] | None = None,
    ) -> bool:
        """Apply one event's facts; False if this event was applied before."""
        update: dict[str, Any] = {
            "$set": {"hospital_id": hospital_id, **fields},
            "$addToSet": {"applied": event_id},
        }
        if status is not None:
            update["$max"] = {"status_rank": rank(status, round_)}
        else:
            update["$setOnInsert"] = {"status_rank": 0}
        if add_to_set:
            # Repeated steps (extensions, escalations) are sets of event ids, not counters:
            # a redelivered event must change nothing.
            update["$addToSet"].update(add_to_set)
        # One write addressed by `_id` alone (the lookup every MongoDB-wire server indexes).
        # Every field is $set, $max or $addToSet, so applying an event twice changes nothing;
        # the document as it was tells whether this event is new.
        try:
            before = await self.collection.find_one_and_update(
                {"_id": complaint_id},
                update,
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:  # the first two events of one complaint raced to insert
            before = await self.collection.find_one_and_update(
                {"_id": complaint_id},
                update,
                return_document=ReturnDocument.BEFORE,
            )
        return before is None or event_id not in before.get("applied", [])

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
        """Running complaints past their deadline (paused and finished ones are not)."""
        rows = await self.collection.aggregate(
            [
                {"$match": {"due_at": {"$lt": now}}},
                {
                    "$group": {
                        "_id": {"hospital_id": "$hospital_id", "status_rank": "$status_rank"},
                        "n": {"$sum": 1},
                    }
                },
            ]
        )
        counts: dict[str, int] = {}
        async for row in rows:
            if is_running(row["_id"].get("status_rank")):
                hospital = row["_id"]["hospital_id"]
                counts[hospital] = counts.get(hospital, 0) + row["n"]
        return counts
