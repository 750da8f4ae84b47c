"""The delivery log: one document per (event, recipient role), which is also the dedup key.

A delivery already marked sent is never sent again; one left `sending` by a crash is
retried (at least once: e-mail has no exactly-once). The log keeps a masked address only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts import Envelope
from shared.outbox import outbox_fields

SENDING, SENT, FAILED, SKIPPED = "sending", "sent", "failed", "skipped"


class DeliveryLog:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["deliveries"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("complaint_id", ASCENDING), ("created_at", ASCENDING)], name="complaint"
        )
        await self.collection.create_index(
            [("status", ASCENDING), ("created_at", ASCENDING)], name="status"
        )

    async def claim(self, delivery_id: str, fields: dict[str, Any]) -> bool:
        """True if this delivery still has to be made."""
        now = datetime.now(UTC)
        document = await self.collection.find_one_and_update(
            {"_id": delivery_id},
            {
                "$setOnInsert": {
                    **fields,
                    "status": SENDING,
                    "created_at": now,
                    "outbox": {},
                    "outbox_pending": False,
                    "outbox_since": None,
                },
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return document["status"] != SENT

    async def finish(
        self, delivery_id: str, *, status: str, attempts: int, error: str | None, event: Envelope
    ) -> None:
        await self.collection.update_one(
            {"_id": delivery_id},
            {
                "$set": {
                    "status": status,
                    "attempts": attempts,
                    "error": error,
                    "finished_at": datetime.now(UTC),
                    **outbox_fields([event]),
                }
            },
        )

    async def for_complaint(self, complaint_id: str) -> list[dict[str, Any]]:
        cursor = self.collection.find({"complaint_id": complaint_id}, {"outbox": 0}).sort(
            "created_at", ASCENDING
        )
        return await cursor.to_list(100)
