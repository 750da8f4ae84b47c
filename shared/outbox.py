"""Transactional outbox on a single document.

A command writes its state change and the events it causes in one document update
(`outbox.<event_id>` entries), so an event exists if and only if the change does. The
relay publishes with confirms and only then `$unset`s the entry: a crash or a broker
outage in between means the event is published again later (at least once), never lost.

Two paths feed the relay: `notify()` right after a write (low latency), and a sweep of
documents whose outbox has been pending for a while (crash recovery, broker outages).
The outbox is a map keyed by event id because FerretDB's $pull only removes exact-equal
elements and has no positional operators.

The relay also knows, without a query of its own, how many events wait (`pending`, the
gauge huiyin_outbox_pending): those notified and not yet answered, those the broker did
not confirm on the fast path (until a sweep has seen them), and those the last sweep found
stale and could not publish. A sweep reads at most `batch_size` documents, so past that
the count is a lower bound; every process of a service sweeps the same collection, so
its processes' counts overlap (aggregate them with max).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.bulk_writes import bulk_write_in_chunks
from shared.contracts import Envelope
from shared.publisher import EventPublisher

log = logging.getLogger(__name__)

PENDING_INDEX = [("outbox_pending", ASCENDING), ("outbox_since", ASCENDING)]


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
        stale_seconds: float = 5.0,
        batch_size: int = 200,
    ) -> None:
        self._collection = collection
        self._publisher = publisher
        self._sweep_seconds = sweep_seconds
        self._stale = timedelta(seconds=stale_seconds)
        self._batch_size = batch_size
        self._queue: asyncio.Queue[tuple[Any, Envelope]] = asyncio.Queue()
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
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
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
                await self.publish(batch)
            except Exception as error:  # the sweep retries whatever stayed in the outbox
                left = error.count if isinstance(error, Unconfirmed) else len(batch)
                self._refused.append((datetime.now(UTC), left))
                log.warning("outbox fast path failed; sweep will retry", exc_info=True)
            finally:
                self._in_flight = 0

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                while await self.sweep_once() >= self._batch_size:
                    pass
            except Exception:
                log.warning("outbox sweep failed; will retry", exc_info=True)

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
        publisher = self._publisher
        if publisher is None:
            raise RuntimeError(f"outbox relay of {self._collection.name} is not started")
        results = await asyncio.gather(
            *(publisher.publish(envelope) for _, envelope in batch), return_exceptions=True
        )
        confirmed = [item for item, result in zip(batch, results, strict=True) if result is None]
        failures = [r for r in results if isinstance(r, BaseException)]
        if confirmed:
            await bulk_write_in_chunks(
                self._collection,
                [
                    UpdateOne({"_id": doc_id}, {"$unset": {f"outbox.{env.event_id}": ""}})
                    for doc_id, env in confirmed
                ],
                ordered=False,
            )
            self.published += len(confirmed)
        if failures:
            raise Unconfirmed(len(failures), len(batch)) from failures[0]

    async def _clear_flags(self) -> None:
        """Lower the pending flag of documents whose outbox is empty again. Only the sweep
        does this, in one statement: the fast path touches documents by `_id` alone, the
        one kind of query every MongoDB-wire server answers from an index."""
        await self._collection.update_many(
            {"outbox_pending": True, "outbox": {}}, {"$set": {"outbox_pending": False}}
        )
