"""The report counters (computed pattern): documents of numbers per month and category,
per month and hospital, and the overdue gauge's, laid out in domain/classification.py.

Each complaint's fact change moves them by the difference of its contribution before and
after: one upserting update per counter document, addressed by `_id` alone. The updates
of every event being handled at once go out as one bulk write (shared/group_commit.py),
one command at a time: concurrent `$inc`s of one document are not safe on the embedded
server (reporting runs one consumer process). A recurrence bucket is updated on its own
with `find_one_and_update` returning it (it is small), and the recurring groups derived
from it (`recurring_moves`) are written before its lock is let go, so two moves of one
group reach `<Q>/rb` and `<Q>/rr/<hospital>` in their order.

The window: the fact document is written first (with the event id in `applied`), then the
counters. No multi-document transactions exist on FerretDB, so a crash between the two
loses that difference (the redelivered event finds itself applied and moves nothing), and
a crash among the counter writes leaves part of it. `python -m services.reporting.rebuild`
repairs either: it recomputes every counter document from the facts and replaces them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.reporting.domain.classification import (
    CATEGORIES_ID,
    OVERDUE_ID,
    contribution_of,
    counter_moves,
    is_recurrence_id,
    recurring_moves,
)
from shared.group_commit import CounterMoves

COLLECTION = "report_counters"


class ReportCounters:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[COLLECTION]
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._writes = CounterMoves(self.collection)

    async def move(
        self, *, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> int:
        """Move the counters from one complaint's facts `before` a change to `after` it;
        the number of documents written."""
        updates = counter_moves(
            contribution_of(before) if before else None,
            contribution_of(after) if after else None,
        )
        plain = [
            (doc_id, update) for doc_id, update in updates.items() if not is_recurrence_id(doc_id)
        ]
        await asyncio.gather(
            self._writes.write(plain),
            *(
                self._write_recurrence(doc_id, update)
                for doc_id, update in updates.items()
                if is_recurrence_id(doc_id)
            ),
        )
        return len(updates)

    def _lock(self, doc_id: str) -> asyncio.Lock:
        lock = self._locks.get(doc_id)
        if lock is None:
            lock = self._locks[doc_id] = asyncio.Lock()
        return lock

    async def _write(self, doc_id: str, update: dict[str, Any]) -> None:
        if is_recurrence_id(doc_id):
            await self._write_recurrence(doc_id, update)
            return
        async with self._lock(doc_id):
            await self.collection.update_one({"_id": doc_id}, update, upsert=True)

    async def _write_recurrence(self, doc_id: str, update: dict[str, Any]) -> None:
        async with self._lock(doc_id):
            document = await self.collection.find_one_and_update(
                {"_id": doc_id}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
            for derived_id, derived in recurring_moves(doc_id, document or {}, update).items():
                await self._write(derived_id, derived)

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": doc_id})

    async def read(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        """These documents, each read by `_id` alone, concurrently (an `$in` is a full scan
        on the embedded server); missing ones are left out."""
        found = await asyncio.gather(*(self.get(doc_id) for doc_id in doc_ids))
        return [document for document in found if document is not None]

    async def categories(self) -> dict[str, Any] | None:
        return await self.get(CATEGORIES_ID)

    async def overdue(self) -> dict[str, Any] | None:
        return await self.get(OVERDUE_ID)
