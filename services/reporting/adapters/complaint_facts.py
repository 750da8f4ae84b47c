"""Reporting's read model: one fact document per complaint, built from events alone.

Each event is applied at most once: its id joins `applied` in the same write, and an event
already there changes nothing. Every write is addressed by `_id` alone (FerretDB answers
only those from an index) and combines with what is known as domain/facts.py says: status
by `$max` of its rank, revisable decisions by the time they were made, counts as sets.

Deciding which revisable decision is newer needs the document as it is. This process is
the facts' only writer (reporting runs one consumer; with more, a rare race could keep an
older deadline until the next event of that complaint), so it keeps the facts it wrote
last (`RecentFacts`): an event of a complaint seen recently is applied with one write and
no read, the document after it computed here as the server computes it
(domain/facts.py `apply_fact_update`, datetimes as BSON keeps them). A complaint's events
are applied one at a time in this process; the writes of different complaints go out
together (shared/group_commit.py). A write that fails forgets the complaint's facts
here, so the next event reads them again. A read model publishes nothing.
"""

from __future__ import annotations

import asyncio
import copy
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.reporting.domain.facts import (
    FactChange,
    apply_fact_update,
    fact_update,
    new_facts,
)
from shared.group_commit import GroupCommit
from shared.records import Changed

RECENT_FACTS = 20_000  # complaints whose facts this process keeps (about 2 KB each)


def as_stored(value: Any) -> Any:
    """`value` as it reads back from MongoDB: datetimes in UTC to the millisecond."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if isinstance(value, dict):
        return {key: as_stored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_stored(item) for item in value]
    return value


class RecentFacts:
    """The facts this process wrote last, by complaint, the least recently used dropped."""

    def __init__(self, size: int = RECENT_FACTS) -> None:
        self.size = size
        self._facts: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, complaint_id: str) -> dict[str, Any] | None:
        facts = self._facts.get(complaint_id)
        if facts is not None:
            self._facts.move_to_end(complaint_id)
        return facts

    def keep(self, complaint_id: str, facts: dict[str, Any]) -> None:
        self._facts[complaint_id] = facts
        self._facts.move_to_end(complaint_id)
        while len(self._facts) > self.size:
            self._facts.popitem(last=False)

    def forget(self, complaint_id: str) -> None:
        self._facts.pop(complaint_id, None)


class ComplaintFacts:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, recent: int = RECENT_FACTS) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db["complaint_facts"]
        self.recent = RecentFacts(recent)
        self._writes = GroupCommit(self.collection)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def ensure_indexes(self) -> None:
        c = self.collection
        await c.create_index(
            [("received_at", ASCENDING), ("hospital_id", ASCENDING)], name="window"
        )

    async def apply(
        self,
        *,
        complaint_id: str,
        hospital_id: str,
        event_id: str,
        version: str,
        change: FactChange,
    ) -> Changed | None:
        """Apply one event's facts: the facts before and after, or None if this event was
        applied before. A complaint's first event finds no facts: they are created from
        `new_facts` with the event applied (its `before` is the bare `new_facts`, which
        counts nowhere); should another process create them first, the event is applied
        to those."""
        # A receipt is almost always a complaint's first event: its facts are created
        # without reading first (a duplicate `_id` says they were there after all).
        first_guess = change.status == "received"
        async with self._lock(complaint_id):
            for attempt in range(2):
                current = self.recent.get(complaint_id)
                if current is None and not (first_guess and attempt == 0):
                    current = await self.collection.find_one({"_id": complaint_id})
                created = current is None
                before = new_facts(complaint_id, hospital_id) if current is None else current
                if event_id in before.get("applied", []):
                    self.recent.keep(complaint_id, before)
                    return None
                update = as_stored(
                    fact_update(
                        change,
                        hospital_id=hospital_id,
                        event_id=event_id,
                        version=version,
                        current=before,
                    )
                )
                after = copy.deepcopy(before)
                apply_fact_update(after, update)
                request = InsertOne(after) if created else UpdateOne({"_id": complaint_id}, update)
                try:
                    refused = await self._writes.write([request])
                except Exception:
                    self.recent.forget(complaint_id)
                    raise
                if refused:  # created meanwhile elsewhere: apply the event to those
                    continue
                self.recent.keep(complaint_id, after)
                return Changed(before=before, after=after)
        raise RuntimeError(f"facts of {complaint_id}: created elsewhere, then not found")

    def _lock(self, complaint_id: str) -> asyncio.Lock:
        lock = self._locks.get(complaint_id)
        if lock is None:
            lock = self._locks[complaint_id] = asyncio.Lock()
        return lock

    async def scan(self, *, batch_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every complaint's facts: a full scan, for the offline rebuild only."""
        async for facts in self.collection.find({}, batch_size=batch_size):
            yield facts

    async def get(self, complaint_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": complaint_id})

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
                            "satisfaction": "$satisfaction",
                            "not_accepted_reason": "$not_accepted_reason",
                            # Grouped by, not summed: FerretDB v1's $sum of a field is 0.
                            "extensions": "$extensions",
                            "escalations": "$escalations",
                        },
                        "n": {"$sum": 1},
                    }
                },
            ]
        )
        return [row async for row in rows]
