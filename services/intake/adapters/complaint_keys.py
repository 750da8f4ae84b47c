"""Lookup keys: the tracking code and the case number of each complaint, as documents
addressed by `_id` (`tracking:<CODE>`, `case:<CASE-NUMBER>`), each naming its complaint.

Why: on FerretDB v1 only a filter on `_id` alone uses an index, so `find_one({tracking_code})`
scans every complaint (seconds at 20,000). The complainant's tracking page and staff's
case-number lookup read the key by `_id`, then the complaint by `_id`: two indexed reads at
any history length (the unique indexes on the complaint stay, for real MongoDB's ad-hoc
queries).

Written by registration in one insert, before the complaint itself (registrations at the
same time share one command: a group commit). A key whose complaint
was never stored (the request failed after the keys, or lost a race to an identical
request) is harmless: the lookup finds no complaint, or one whose code or number is not the
key's, and treats the key as absent. Keys are derived data: `python -m
services.intake.rebuild_keys` writes them all again from the complaints.

`COMPLETE` is the mark that every stored complaint has its keys (written by the rebuild, or
at start on a database without complaints); until it exists, a key not found falls back to
the indexed query on the complaints, so complaints stored before the keys still answer (and
get their keys then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared.bulk_writes import STATEMENTS_PER_COMMAND
from shared.group_commit import GroupCommit

COLLECTION = "complaint_keys"
COMPLETE = "complete"  # the `_id` of the mark that every complaint has its keys


def tracking_key(code: str) -> str:
    return f"tracking:{code}"


def case_key(number: str) -> str:
    return f"case:{number}"


def key_documents(complaint: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The lookup keys of a complaint (its `_id`, hospital_id, case_number and
    tracking_code): what registration stores, the rebuild restores and the benchmark seeds."""
    owner = {"complaint_id": complaint["_id"], "hospital_id": complaint["hospital_id"]}
    return [
        {"_id": tracking_key(complaint["tracking_code"]), **owner},
        {"_id": case_key(complaint["case_number"]), **owner},
    ]


class ComplaintKeys:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[COLLECTION]
        self._inserts = GroupCommit(self.collection)

    async def claim(self, documents: Sequence[dict[str, Any]]) -> set[str]:
        """Store the keys in one insert; returns the `_id`s of those another complaint
        already holds (a key held by the same complaint is its own: a replay)."""
        refused = await self._inserts.write([InsertOne(document) for document in documents])
        taken: set[str] = set()
        for position, document in enumerate(documents):
            if position not in refused:
                continue
            held = await self.collection.find_one({"_id": document["_id"]})
            if held is None or held.get("complaint_id") != document["complaint_id"]:
                taken.add(document["_id"])
        return taken

    async def complaint_of(self, key: str) -> str | None:
        """The id of the complaint the key names, if the key exists."""
        held = await self.collection.find_one({"_id": key})
        return None if held is None else str(held["complaint_id"])

    async def write(self, complaints: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        """Upsert the keys of `complaints` as the complaints say (one statement per key,
        STATEMENTS_PER_COMMAND a command); returns how many keys were new and how many
        corrected (they named another complaint). Idempotent: again, both are 0."""
        requests = [
            UpdateOne(
                {"_id": key["_id"]},
                {"$set": {"complaint_id": key["complaint_id"], "hospital_id": key["hospital_id"]}},
                upsert=True,
            )
            for complaint in complaints
            for key in key_documents(complaint)
        ]
        new = corrected = 0
        for start in range(0, len(requests), STATEMENTS_PER_COMMAND):
            chunk = requests[start : start + STATEMENTS_PER_COMMAND]
            result = await self.collection.bulk_write(chunk, ordered=False)
            new += result.upserted_count
            corrected += result.modified_count
        return new, corrected

    async def complete(self) -> bool:
        """Whether every stored complaint has its keys (then a missing key means no such
        complaint, and no scan is needed to say so)."""
        return await self.collection.find_one({"_id": COMPLETE}) is not None

    async def mark_complete(self, *, by: str) -> None:
        await self.collection.update_one(
            {"_id": COMPLETE},
            {"$set": {"by": by, "at": datetime.now(UTC)}},
            upsert=True,
        )
