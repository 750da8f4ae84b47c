"""MongoDB storage of complaints: the aggregate, its timeline and its outbox in one document.

Every change is a single-document write guarded by a version number (optimistic
concurrency), so the state, the history entry and the events it causes are stored
together or not at all.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.domain.numbering import counter_key
from shared.dates import in_platform_years

log = logging.getLogger(__name__)

Mutation = Callable[[dict[str, Any]], dict[str, Any] | None]


class ComplaintRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection: AsyncCollection = db["complaints"]
        self._counters: AsyncCollection = db["case_counters"]
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index("tracking_code", unique=True, name="tracking_code")
        await c.create_index("case_number", unique=True, name="case_number")
        await c.create_index(
            [("hospital_id", ASCENDING), ("received_at", DESCENDING), ("_id", DESCENDING)],
            name="hospital_received",
        )
        await c.create_index([("received_at", DESCENDING), ("_id", DESCENDING)], name="received")
        await c.create_index(
            [("hospital_id", ASCENDING), ("status", ASCENDING), ("received_at", DESCENDING)],
            name="hospital_status",
        )

    async def next_sequence(self, hospital_id: str, received_at: datetime) -> int:
        counter = await self._counters.find_one_and_update(
            {"_id": counter_key(hospital_id, received_at)},
            {"$inc": {"seq": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(counter["seq"])

    async def insert(self, document: dict[str, Any]) -> None:
        """Raises DuplicateKeyError when the `_id` (the idempotency key's id) exists."""
        await self.collection.insert_one(document)

    async def get(self, complaint_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": complaint_id}, {"outbox": 0})

    async def by_tracking_code(self, code: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"tracking_code": code})

    async def change(self, complaint_id: str, mutate: Mutation) -> dict[str, Any] | None:
        """Read, let `mutate` compute an update from the current state, write it.

        `mutate` returns None when there is nothing to do (e.g. an event already applied).
        Returns the updated document, or the unchanged one when there was nothing to do.

        Changes of one complaint are serialised within this process, and the write is
        addressed by `_id` alone: FerretDB v1 (our MongoDB-wire server in development and
        CI) answers only `_id`-only filters from an index and scans the whole collection
        for a `{_id, version}` guard. The version is still incremented, and a version
        that moved by more than one reveals a writer in another intake process, which is
        logged; run one intake consumer per database until this is a guarded write again.
        """
        lock = self._lock(complaint_id)
        async with lock:
            current = await self.collection.find_one({"_id": complaint_id})
            if current is None:
                return None
            update = mutate(current)
            if update is None:
                return current
            update.setdefault("$inc", {})["version"] = 1
            updated = await self.collection.find_one_and_update(
                {"_id": complaint_id}, update, return_document=ReturnDocument.AFTER
            )
        if updated is not None and updated["version"] != current["version"] + 1:
            log.warning(
                "complaint changed concurrently by another process",
                extra={"complaint_id": complaint_id},
            )
        return updated

    def _lock(self, complaint_id: str) -> asyncio.Lock:
        # Weak values: a lock lives only while some change of that complaint holds it.
        lock = self._locks.get(complaint_id)
        if lock is None:
            lock = self._locks[complaint_id] = asyncio.Lock()
        return lock

    async def page(
        self, *, filters: dict[str, Any], limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        query = dict(filters)
        if cursor:
            received_at, last_id = decode_cursor(cursor)
            query["$or"] = [
                {"received_at": {"$lt": received_at}},
                {"received_at": received_at, "_id": {"$lt": last_id}},
            ]
        projection = {"outbox": 0, "timeline": 0, "complainant": 0, "content": 0}
        documents = (
            await self.collection.find(query, projection)
            .sort([("received_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit + 1)
            .to_list(limit + 1)
        )
        next_cursor = None
        if len(documents) > limit:
            documents = documents[:limit]
            last = documents[-1]
            next_cursor = encode_cursor(last["received_at"], last["_id"])
        return documents, next_cursor


def encode_cursor(received_at: datetime, complaint_id: str) -> str:
    raw = json.dumps([received_at.astimezone(UTC).isoformat(), complaint_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        received_at, complaint_id = json.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(received_at)
    except (ValueError, TypeError) as error:
        raise ValueError("cursor: not a cursor returned by this API") from error
    if moment.tzinfo is None or not in_platform_years(moment):
        # A forged cursor: year 1 or 9999 would overflow in the driver.
        raise ValueError("cursor: not a cursor returned by this API")
    return moment, str(complaint_id)
