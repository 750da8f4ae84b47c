"""Group commit: the writes of every event being handled at once go to the database as one
bulk write (at most shared/bulk_writes.py STATEMENTS_PER_COMMAND statements a command).

Reporting's consumer handles up to its prefetch of events concurrently (one task each).
Each hands its writes to `write` and waits: the first starts a flush, and every write
handed over while a bulk write is in flight goes out with the next one. So a burst of
events costs one command per collection and round, not one per document, and a quiet
system still writes each event at once. One flush runs at a time per collection, which
also keeps this process's `$inc`s of one document one after another (concurrent `$inc`s of
one document are not safe on the embedded server).

A write that failed fails its caller (the event is requeued); the others of its command
succeed or fail on their own (unordered), as the server's answer says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from bson import Int64
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared.bulk_writes import STATEMENTS_PER_COMMAND

Request = Any  # a pymongo write model: InsertOne, UpdateOne, ReplaceOne


class WriteFailed(RuntimeError):
    """This caller's write did not succeed; the server's error for it."""


class GroupCommit:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self._pending: list[tuple[Request, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def write(self, requests: Sequence[Request]) -> None:
        """Returns once every one of `requests` is written; raises if any failed."""
        if not requests:
            return
        loop = asyncio.get_running_loop()
        waiting = [loop.create_future() for _ in requests]
        self._pending.extend(zip(requests, waiting, strict=True))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        outcomes = await asyncio.gather(
            *(asyncio.shield(future) for future in waiting), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def statements(self, requests: list[Request]) -> list[tuple[Request, list[int]]]:
        """The statements that write `requests`, each with the positions of the requests
        it writes: one each here; CounterCommit merges those of one document."""
        return [(request, [n]) for n, request in enumerate(requests)]

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            statements = self.statements([request for request, _ in batch])
            failed: dict[int, BaseException] = {}
            for start in range(0, len(statements), STATEMENTS_PER_COMMAND):
                chunk = statements[start : start + STATEMENTS_PER_COMMAND]
                failed |= await self._send(chunk)
            for index, (_, future) in enumerate(batch):
                if future.done():
                    continue
                if index in failed:
                    future.set_exception(failed[index])
                else:
                    future.set_result(None)

    async def _send(self, chunk: list[tuple[Request, list[int]]]) -> dict[int, BaseException]:
        """One command; the requests (by position) that failed, with their error."""
        try:
            await self.collection.bulk_write([statement for statement, _ in chunk], ordered=False)
        except BulkWriteError as error:
            errors = error.details.get("writeErrors") or []
            failed: dict[int, BaseException] = {}
            for item in errors:
                for n in chunk[int(item["index"])][1]:
                    failed[n] = WriteFailed(str(item.get("errmsg")))
            return failed or {n: error for _, owners in chunk for n in owners}
        except Exception as error:  # the database is down or did not answer
            return {n: error for _, owners in chunk for n in owners}
        return {}


class CounterCommit(GroupCommit):
    """Counter moves (`(document id, update)` of `$inc` and `$set`): the moves of one
    document in a round are merged into one upserting statement, so a burst of complaints
    of one month, hospital and category writes each counter document once."""

    def statements(self, requests: list[Request]) -> list[tuple[Request, list[int]]]:
        merged: dict[str, dict[str, dict[str, Any]]] = {}
        owners: dict[str, list[int]] = {}
        for n, (doc_id, update) in enumerate(requests):
            into = merged.setdefault(doc_id, {})
            for operator, fields in update.items():
                target = into.setdefault(operator, {})
                for path, value in fields.items():
                    if operator == "$inc" and path in target:
                        total = target[path] + value
                        target[path] = Int64(total) if isinstance(value, Int64) else total
                    else:
                        target[path] = value
            owners.setdefault(doc_id, []).append(n)
        return [
            (UpdateOne({"_id": doc_id}, update, upsert=True), owners[doc_id])
            for doc_id, update in merged.items()
        ]
