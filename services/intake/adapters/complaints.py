"""MongoDB storage of complaints: the aggregate, its timeline and its outbox in one document.

This is what is not a change of a complaint: the case-number counters, the lookups and the
pages. Every change (registration included) goes through shared/records.py, so the state,
its timeline entries and the events it causes are stored together or not at all. The
tracking code and the case number are looked up through their keys
(adapters/complaint_keys.py), by `_id`: the one filter FerretDB v1 answers from an index.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.adapters.case_counters import CaseCounters
from services.intake.adapters.complaint_keys import ComplaintKeys, case_key, tracking_key
from services.intake.domain.numbering import counter_key
from shared.dates import in_platform_years


class ComplaintRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db["complaints"]
        self._counters = CaseCounters(db["case_counters"])
        self.keys = ComplaintKeys(db)

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
        return await self._counters.next(counter_key(hospital_id, received_at))

    async def get(self, complaint_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": complaint_id}, {"outbox": 0})

    async def mark_keys_complete_if_new(self) -> None:
        """At start: on a database without complaints, every complaint will have its keys
        (registration writes them), so a key not found never needs the scan."""
        if await self.keys.complete():
            return
        if await self.collection.find_one({}, {"_id": 1}) is None:
            await self.keys.mark_complete(by="intake start on a database without complaints")

    async def by_tracking_code(self, code: str) -> dict[str, Any] | None:
        return await self._by_key(tracking_key(code), "tracking_code", code)

    async def by_case_number(self, number: str) -> dict[str, Any] | None:
        return await self._by_key(case_key(number), "case_number", number)

    async def _by_key(self, key: str, field: str, value: str) -> dict[str, Any] | None:
        """The key by `_id`, then its complaint by `_id`. A key whose complaint does not
        carry its value (a registration that stored no complaint) counts as absent. Absent
        keys on a database not yet `complete` (complaints stored before the keys): the
        indexed query, once, and the complaint's keys are stored for the next lookup."""
        complaint_id = await self.keys.complaint_of(key)
        if complaint_id is not None:
            complaint = await self.get(complaint_id)
            if complaint is not None and complaint.get(field) == value:
                return complaint
        if await self.keys.complete():
            return None
        complaint = await self.collection.find_one({field: value}, {"outbox": 0})
        if complaint is not None:
            await self.keys.write([complaint])
        return complaint

    async def without_chained_timeline(self) -> list[str]:
        """Ids of complaints stored in issue 2's format (before the timeline was chained):
        a scan, run once at start by migrations.py, that finds none on a current database."""
        found = self.collection.find({"timeline_head": {"$exists": False}}, {"_id": 1})
        return [document["_id"] async for document in found]

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
