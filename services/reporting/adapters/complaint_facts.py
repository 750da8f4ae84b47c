"""Reporting's read model: one fact document per complaint, built from events alone.

Each event is applied at most once: its id joins `applied` in the same write, and an event
already there changes nothing. Every write is addressed by `_id` alone (FerretDB answers
only those from an index) and combines with what is known as domain/facts.py says: status
by `$max` of its rank, revisable decisions by the time they were made, counts as sets.

Deciding which revisable decision is newer needs the document as it is, so a complaint's
facts change through shared/records.py, one event at a time in this process (reporting
runs one consumer; with more, a rare race could keep an older deadline until the next
event of that complaint). A read model publishes nothing: its records have no relay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.reporting.domain.facts import FactChange, fact_update, new_facts
from shared.records import Changed, Decision, Records


class ComplaintFacts:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db["complaint_facts"]
        self.records = Records(self.collection)

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
        applied before. A complaint's first event finds no facts: they are created
        (`new_facts`; another process may create them first), then changed like any other
        (its `before` is then the bare `new_facts`, which counts nowhere)."""

        def decide(current: dict[str, Any]) -> Decision | None:
            if event_id in current.get("applied", []):
                return None
            return Decision(
                fact_update(
                    change,
                    hospital_id=hospital_id,
                    event_id=event_id,
                    version=version,
                    current=current,
                )
            )

        changed = await self.records.change(complaint_id, decide)
        if changed is None:
            await self.records.insert(new_facts(complaint_id, hospital_id))
            changed = await self.records.change(complaint_id, decide)
        return changed if changed is not None and changed.changed else None

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
