"""Transactional outbox on a single document.

A command writes its state change and the events it causes in one document update
(`outbox.<event_id>` entries), so an event exists if and only if the change does. The
relay publishes with confirms and only then `$unset`s the entry: a crash or a broker
outage in between means the event is published again later (at least once), never lost.

Two paths feed the relay: `notify()` right after a write (low latency), and sweeps of
documents whose outbox has been pending for a while (crash recovery, broker outages).
The frequent sweep (`sweep_seconds`) reads only the documents this relay knows may have
been left behind, each by `_id`: those whose events the broker did not confirm or that
could not be cleared, and those whose write failed without saying whether it happened
(`suspect`, from shared/records.py). The scan of the whole collection for pending outboxes
(a full scan on the embedded server, growing with history) runs at start and then every
`full_sweep_seconds`: it finds what a process that died left behind.
The outbox is a map keyed by event id because FerretDB's $pull only removes exact-equal
elements and has no positional operators.

Clearing is off the publishing path: the fast path hands what the broker confirmed to a
clearing task, which gathers it for up to `clear_seconds` (a quarter of the staleness at
most, so a sweep does not take them for events left behind) and then clears it one
statement per document (`$unset` of all its confirmed entries), `STATEMENTS_PER_COMMAND`
statements to a command (shared/bulk_writes.py): a few commands a second whatever the
rate, not one per batch the broker confirmed. The sweep publishes and clears at once.

The relay also knows, without a query of its own, how many events wait (`pending`, the
gauge huiyin_outbox_pending): those notified and not yet answered, those the broker did
not confirm on the fast path or that could not be cleared after it did (until a sweep has
seen them: it publishes them again), and those the last sweep found stale and could not
publish. Confirmed events waiting to be cleared are published, not pending. A sweep reads
at most `batch_size` documents, so past that the count is a lower bound; every process of
a service sweeps the same collection, so its processes' counts overlap (aggregate them
with max).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.bulk_writes import STATEMENTS_PER_COMMAND, bulk_write_in_chunks
from shared.contracts import Envelope
from shared.publisher import EventPublisher

log = logging.getLogger(__name__)

PENDING_INDEX = [("outbox_pending", ASCENDING), ("outbox_since", ASCENDING)]

# How long confirmed events wait to be cleared with others (at most a quarter of the
# staleness after which the sweep takes an entry for one left behind).
CLEAR_SECONDS = 1.0


def outbox_fields(envelopes: Iterable[Envelope], *, now: datetime | None = None) -> dict[str, Any]:
    """The `$set` fields that put events into a document's outbox."""
    fields: dict[str, Any] = {
        f"outbox.{envelope.event_id}": envelope.to_document() for envelope in envelopes
    }
    if fields:
        fields["outbox_pending"] = True
        fields["outbox_since"] = now or datetime.now(UTC)
    return fields


def new_outbox(
    envelopes: Iterable[Envelope] = (), *, now: datetime | None = None
) -> dict[str, Any]:
    """The outbox fields of a document being inserted."""
    entries = {str(envelope.event_id): envelope.to_document() for envelope in envelopes}
    return {
        "outbox": entries,
        "outbox_pending": bool(entries),
        "outbox_since": (now or datetime.now(UTC)) if entries else None,
    }


async def ensure_outbox_index(collection: AsyncCollection[dict[str, Any]]) -> None:
    await collection.create_index(PENDING_INDEX, name="outbox_pending")


class Unconfirmed(RuntimeError):
    """Some events of a batch were not confirmed by the broker; they stay in the outbox."""

    def __init__(self, count: int, total: int) -> None:
        super().__init__(f"{count} of {total} events not confirmed")
        self.count = count


class OutboxRelay:
    """Publishes one collection's outbox. Built with the service (bootstrap), so the
    records that queue events can hold it from the start; it publishes once `start`
    gives it the broker's publisher. Events notified before that wait in its queue, and
    the sweep finds anything a crash left in the documents."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        publisher: EventPublisher | None = None,
        *,
        sweep_seconds: float = 10.0,
        full_sweep_seconds: float = 300.0,
        stale_seconds: float = 5.0,
        batch_size: int = 200,
        clear_seconds: float = CLEAR_SECONDS,
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._sweep_seconds = sweep_seconds
        self._full_sweep_seconds = full_sweep_seconds
        # Documents that may hold events left behind, by when that was known.
        self._suspects: dict[Any, datetime] = {}
        self._stale = timedelta(seconds=stale_seconds)
        self._batch_size = batch_size
        self._clear_seconds = min(clear_seconds, stale_seconds / 4)
        self._queue: asyncio.Queue[tuple[Any, Envelope]] = asyncio.Queue()
        # Confirmed by the broker, still in their documents: the clearing task's.
        self._confirmed: deque[tuple[Any, Envelope]] = deque()
        self._more_confirmed = asyncio.Event()
        self._all_cleared = asyncio.Event()
        self._all_cleared.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self._in_flight = 0
        # The fast path's events the broker did not confirm, by when: a later sweep finds
        # them in the documents once they are stale, and counts them from then on.
        self._refused: list[tuple[datetime, int]] = []
        self._left_by_sweep = 0

    @property
    def pending(self) -> int:
        """Events waiting to be published, as far as this relay knows (module docstring)."""
        refused = sum(count for _, count in self._refused)
        return self._queue.qsize() + self._in_flight + refused + self._left_by_sweep

    def notify(self, document_id: Any, envelopes: Iterable[Envelope]) -> None:
        for envelope in envelopes:
            self._queue.put_nowait((document_id, envelope))

    def suspect(self, document_id: Any) -> None:
        """A write of this document failed without saying whether it happened: the next
        sweep reads it by `_id` and publishes what its outbox holds."""
        self._suspects.setdefault(document_id, datetime.now(UTC))

    @property
    def collection(self) -> AsyncCollection[dict[str, Any]]:
        return self._collection

    def start(self, publisher: EventPublisher | None = None) -> None:
        self._publisher = publisher or self._publisher
        if self._publisher is None:
            raise RuntimeError(f"outbox relay of {self._collection.name} has no publisher")
        self._tasks = [
            asyncio.create_task(self._fast_path(), name="outbox-fast"),
            asyncio.create_task(self._sweep(), name="outbox-sweep"),
            asyncio.create_task(self._clearing(), name="outbox-clear"),
        ]

    async def stop(self, *, flush_seconds: float = 3.0) -> None:
        """Stop publishing, then clear what the broker confirmed (within `flush_seconds`:
        what is left then is published again by a later sweep, as after a crash)."""
        publishing, clearing = self._tasks[:-1], self._tasks[-1:]
        for task in publishing:
            task.cancel()
        for task in publishing:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if clearing:
            self._clear_seconds = 0.0  # no more waiting for company
            self._more_confirmed.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_cleared.wait(), timeout=flush_seconds)
        for task in clearing:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _fast_path(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while not self._queue.empty() and len(batch) < self._batch_size:
                batch.append(self._queue.get_nowait())
            self._in_flight = len(batch)
            try:
                confirmed, failures = await self._send(batch)
                if confirmed:
                    self._confirmed.extend(confirmed)
                    self._all_cleared.clear()
                    self._more_confirmed.set()
                if failures:
                    raise Unconfirmed(len(failures), len(batch)) from failures[0]
            except Exception as error:  # the sweep retries whatever stayed in the outbox
                left = error.count if isinstance(error, Unconfirmed) else len(batch)
                self._refused.append((datetime.now(UTC), left))
                for document_id, _ in batch:
                    self.suspect(document_id)
                log.warning("outbox fast path failed; sweep will retry", exc_info=True)
            finally:
                self._in_flight = 0

    async def _clearing(self) -> None:
        """Clear what the fast path saw confirmed, gathered for up to `clear_seconds` or
        until a command's worth of documents waits (a document's entries in one command).
        Entries it cannot clear stay in their documents and are counted as pending until a
        sweep has published them again."""
        loop = asyncio.get_running_loop()
        confirmed = self._confirmed
        while True:
            items: list[tuple[Any, Envelope]] = []
            documents: set[Any] = set()
            deadline: float | None = None
            while True:
                while confirmed and (
                    confirmed[0][0] in documents or len(documents) < STATEMENTS_PER_COMMAND
                ):
                    items.append(confirmed.popleft())
                    documents.add(items[-1][0])
                if len(documents) >= STATEMENTS_PER_COMMAND:
                    break
                self._more_confirmed.clear()
                if not items:
                    await self._more_confirmed.wait()
                    continue
                deadline = loop.time() + self._clear_seconds if deadline is None else deadline
                left = deadline - loop.time()
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._more_confirmed.wait(), left)
            try:
                await self._clear(items)
            except Exception:
                self._refused.append((datetime.now(UTC), len(items)))
                for document_id, _ in items:
                    self.suspect(document_id)
                log.warning("outbox entries not cleared; sweep will publish them again")
            finally:
                if not confirmed:
                    self._all_cleared.set()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        full_due = 0.0  # the first pass scans: what a process that died left behind
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                if loop.time() >= full_due:
                    full_due = loop.time() + self._full_sweep_seconds
                    while await self.sweep_once() >= self._batch_size:
                        pass
                else:
                    await self.sweep_suspects()
            except Exception:
                log.warning("outbox sweep failed; will retry", exc_info=True)

    async def sweep_suspects(self) -> int:
        """Publish the events left in the documents this relay suspects (read by `_id`,
        at most `batch_size`, those known longest first); returns how many were read."""
        cutoff = datetime.now(UTC) - self._stale
        due = [d for d, since in self._suspects.items() if since <= cutoff][: self._batch_size]
        batch: list[tuple[Any, Envelope]] = []
        for document_id in due:
            document = await self._collection.find_one({"_id": document_id}, {"outbox": 1})
            entries = [
                Envelope.from_document(e) for e in ((document or {}).get("outbox") or {}).values()
            ]
            batch.extend((document_id, e) for e in sorted(entries, key=lambda e: e.occurred_at))
        try:
            if batch:
                await self.publish(batch)
        except Exception as error:
            self._left_by_sweep = error.count if isinstance(error, Unconfirmed) else len(batch)
            raise
        for document_id in due:
            self._suspects.pop(document_id, None)
        if not self._suspects:
            self._swept(cutoff, left=0)
        return len(due)

    async def sweep_once(self, *, stale: timedelta | None = None) -> int:
        """Publish events left pending longer than `stale`; returns how many were found."""
        cutoff = datetime.now(UTC) - (self._stale if stale is None else stale)
        cursor = (
            self._collection.find(
                {"outbox_pending": True, "outbox_since": {"$lte": cutoff}},
                {"outbox": 1},
            )
            .sort("outbox_since", ASCENDING)
            .limit(self._batch_size)
        )
        batch: list[tuple[Any, Envelope]] = []
        found = 0
        async for document in cursor:
            found += 1
            entries = [Envelope.from_document(e) for e in (document.get("outbox") or {}).values()]
            batch.extend((document["_id"], e) for e in sorted(entries, key=lambda e: e.occurred_at))
        try:
            if batch:
                await self.publish(batch)
        except Exception as error:
            self._swept(cutoff, left=error.count if isinstance(error, Unconfirmed) else len(batch))
            raise
        self._swept(cutoff, left=0)
        if found < self._batch_size:  # the scan saw every stale document
            for document_id in [d for d, since in self._suspects.items() if since <= cutoff]:
                del self._suspects[document_id]
        if found:
            await self._clear_flags()
        return found

    def _swept(self, cutoff: datetime, *, left: int) -> None:
        """What a sweep left unpublished now stands for every stale event: the fast path's
        refusals written before `cutoff` were among those it read (or are gone)."""
        self._left_by_sweep = left
        self._refused = [(at, count) for at, count in self._refused if at > cutoff]

    async def publish(self, batch: list[tuple[Any, Envelope]]) -> None:
        """Publish concurrently, then clear exactly the entries the broker confirmed."""
        confirmed, failures = await self._send(batch)
        await self._clear(confirmed)
        if failures:
            raise Unconfirmed(len(failures), len(batch)) from failures[0]

    async def _send(
        self, batch: list[tuple[Any, Envelope]]
    ) -> tuple[list[tuple[Any, Envelope]], list[BaseException]]:
        """Publish concurrently: the items the broker confirmed, and the failures."""
        publisher = self._publisher
        if publisher is None:
            raise RuntimeError(f"outbox relay of {self._collection.name} is not started")
        results = await asyncio.gather(
            *(publisher.publish(envelope) for _, envelope in batch), return_exceptions=True
        )
        confirmed = [item for item, result in zip(batch, results, strict=True) if result is None]
        return confirmed, [r for r in results if isinstance(r, BaseException)]

    async def _clear(self, confirmed: list[tuple[Any, Envelope]]) -> None:
        """`$unset` the confirmed entries: one statement per document, however many of its
        events there are, in commands of at most STATEMENTS_PER_COMMAND statements."""
        if not confirmed:
            return
        entries: dict[Any, dict[str, str]] = {}
        for doc_id, envelope in confirmed:
            entries.setdefault(doc_id, {})[f"outbox.{envelope.event_id}"] = ""
        await bulk_write_in_chunks(
            self._collection,
            [UpdateOne({"_id": doc_id}, {"$unset": fields}) for doc_id, fields in entries.items()],
            ordered=False,
        )
        self.published += len(confirmed)

    async def _clear_flags(self) -> None:
        """Lower the pending flag of documents whose outbox is empty again. Only the sweep
        does this, in one statement: the fast path touches documents by `_id` alone, the
        one kind of query every MongoDB-wire server answers from an index."""
        await self._collection.update_many(
            {"outbox_pending": True, "outbox": {}}, {"$set": {"outbox_pending": False}}
        )
