"""Writes to one collection from handlers running at the same time, sent as one bulk command
(group commit).

A consumer handles up to `prefetch` events at once, and each writes a few small documents
by `_id` (notification: a delivery claimed, an outcome recorded, an index entry added;
reporting: a complaint's facts, the counters they move). Sent one by one, that is a command
each; here a command carries every write queued while the previous command was in flight,
at most STATEMENTS_PER_COMMAND statements (shared/bulk_writes.py). There is no timer: a
write alone goes at once, so batching never delays a quiet service. One command is in
flight at a time per collection, which also keeps a process's `$inc`s of one document one
after another (concurrent `$inc`s of one document are not safe on the embedded server).
`CounterMoves` merges the moves of one counter document in a command into one statement.

Nothing is less durable than before: each caller waits until the server has acknowledged
its own statements, and learns of its own errors only (a duplicate `_id` is an answer, not
an error: `write` returns which of its inserts were refused). A command that fails as a
whole (the database gone) fails every caller in it, each of which handles it as it handled
a failed write of its own. The statements of one command are unordered: the callers'
writes are independent (notification: one delivery's writes never overlap; reporting: one
complaint's facts change one event at a time), and those that may meet in one document
(`$addToSet` to an index, `$inc` of a counter) commute.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bson import Int64
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, WriteError

from shared.bulk_writes import DUPLICATE_KEY, STATEMENTS_PER_COMMAND
from shared.mongo_clients import within_callers_deadline, writer_task

Request = Any  # a pymongo write model (InsertOne, UpdateOne, ...), or what `statements` reads


@dataclass
class _Submitted:
    requests: list[Request]
    answer: asyncio.Future[set[int]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    """The writes of one collection, batched (module note)."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        *,
        statements: int = STATEMENTS_PER_COMMAND,
    ) -> None:
        self.collection = collection
        self._statements = statements
        self._queue: list[_Submitted] = []
        self._sending: asyncio.Task[None] | None = None

    async def write(self, requests: Sequence[Request]) -> set[int]:
        """Send `requests` with whatever else is queued; returns the positions (in
        `requests`) of the inserts refused because their `_id` exists. Raises what the
        server answered to any other statement of these, or to their command as a whole."""
        if not requests:
            return set()
        submitted = _Submitted(list(requests))
        self._queue.append(submitted)
        if self._sending is None or self._sending.done():
            self._sending = writer_task(self._send_queued())
        # The command goes on if this caller is cancelled or its deadline passes: its
        # statements are in it already.
        return await within_callers_deadline(submitted.answer)

    async def _send_queued(self) -> None:
        while self._queue:
            # Whole submissions per command; one larger than a command goes alone.
            taken: list[_Submitted] = []
            requests: list[Request] = []
            while self._queue and (
                not taken
                or self.statement_count([*requests, *self._queue[0].requests]) <= self._statements
            ):
                submitted = self._queue.pop(0)
                taken.append(submitted)
                requests += submitted.requests
            try:
                await self._send(taken)
            except BaseException as stopped:  # cancelled (the service stops) or a bug
                for submitted in [*taken, *self._queue]:
                    _fail(submitted, stopped)
                self._queue.clear()
                raise

    def statements(self, requests: list[Request]) -> tuple[list[Any], list[list[int]]]:
        """The statements that write `requests`, and for each the positions of the requests
        it writes: one each here (CounterMoves merges)."""
        return list(requests), [[n] for n in range(len(requests))]

    def statement_count(self, requests: list[Request]) -> int:
        """How many statements `requests` make (a command carries at most `statements`)."""
        return len(requests)

    async def _send(self, taken: list[_Submitted]) -> None:
        statements, covers = self.statements(
            [request for submitted in taken for request in submitted.requests]
        )
        errors: list[dict[str, Any]] = []
        try:
            # Only a submission alone in `taken` may exceed one command: then it goes in
            # several, as bulk_write_in_chunks would, and a failure fails it alone.
            for start in range(0, len(statements), self._statements):
                chunk = statements[start : start + self._statements]
                try:
                    await self.collection.bulk_write(chunk, ordered=False)
                except BulkWriteError as error:
                    errors += [
                        e | {"index": n}
                        for e in error.details.get("writeErrors", [])
                        for n in covers[start + int(e["index"])]
                    ]
        except Exception as failed:  # the command as a whole: every statement in it
            for submitted in taken:
                _fail(submitted, failed)
            return
        by_position = {int(e["index"]): e for e in errors}
        offset = 0
        for submitted in taken:
            own = {
                n: by_position[offset + n]
                for n in range(len(submitted.requests))
                if offset + n in by_position
            }
            offset += len(submitted.requests)
            refused = {n for n, e in own.items() if e.get("code") == DUPLICATE_KEY}
            other = [e for e in own.values() if e.get("code") != DUPLICATE_KEY]
            if other:
                first = other[0]
                _fail(submitted, WriteError(str(first.get("errmsg", "")), first.get("code"), first))
            elif not submitted.answer.done():
                submitted.answer.set_result(refused)

    async def close(self) -> None:
        """Let the command under way finish (the service stops)."""
        if self._sending is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._sending


def _fail(submitted: _Submitted, error: BaseException) -> None:
    if submitted.answer.done():
        return
    if isinstance(error, asyncio.CancelledError):
        submitted.answer.cancel()
        return
    submitted.answer.set_exception(error)
    submitted.answer.exception()  # marked retrieved: its caller may have been cancelled


class CounterMoves(GroupCommit):
    """Counter moves, each `(document id, update)` of `$inc` and `$set`: the moves of one
    document in a command are merged into one upserting statement, so a burst of
    complaints of one month, hospital and category writes each counter document once."""

    def statement_count(self, requests: list[Request]) -> int:
        return len({doc_id for doc_id, _ in requests})

    def statements(self, requests: list[Request]) -> tuple[list[Any], list[list[int]]]:
        merged: dict[str, dict[str, dict[str, Any]]] = {}
        covers: dict[str, list[int]] = {}
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
            covers.setdefault(doc_id, []).append(n)
        statements = [UpdateOne({"_id": d}, u, upsert=True) for d, u in merged.items()]
        return statements, list(covers.values())


Update = dict[str, dict[str, Any]]


def _overlap(one: str, other: str) -> bool:
    return one == other or one.startswith(other + ".") or other.startswith(one + ".")


def merged_updates(requests: Sequence[tuple[Any, Update]]) -> list[tuple[Any, Update]]:
    """The updates of one document merged into one, in their order: a later write of a
    path (or of a path inside or around it) replaces an earlier one, whatever the operator;
    `$max` and `$min` of one path keep the higher and the lower. The merged update leaves
    what the updates one by one leave."""
    by_document: dict[Any, Update] = {}
    for doc_id, update in requests:
        into = by_document.setdefault(doc_id, {})
        for operator, fields in update.items():
            for path, value in fields.items():
                kept = into.get(operator, {}).get(path)
                for paths in into.values():
                    for earlier in [p for p in paths if _overlap(p, path)]:
                        del paths[earlier]
                if kept is not None and operator == "$max":
                    value = max(kept, value)
                elif kept is not None and operator == "$min":
                    value = min(kept, value)
                into.setdefault(operator, {})[path] = value
    return [
        (doc_id, {op: fields for op, fields in update.items() if fields})
        for doc_id, update in by_document.items()
    ]


class FieldWrites(GroupCommit):
    """Field writes, each request `(document id, update)` of `$set`, `$unset`, `$max` and
    `$min`: the requests of one document in a command are merged into one statement
    (`merged_updates`), which upserts unless it only unsets (an unset alone never creates
    a document). For entries kept by key in shared documents (an index's slots, a
    department's open cases, intake's views), where each writer owns its keys."""

    def statement_count(self, requests: list[Request]) -> int:
        return len({doc_id for doc_id, _ in requests})

    def statements(self, requests: list[Request]) -> tuple[list[Any], list[list[int]]]:
        covers: dict[Any, list[int]] = {}
        for n, (doc_id, _) in enumerate(requests):
            covers.setdefault(doc_id, []).append(n)
        statements = [
            UpdateOne({"_id": doc_id}, update, upsert=set(update) != {"$unset"})
            for doc_id, update in merged_updates(requests)
        ]
        return statements, list(covers.values())
