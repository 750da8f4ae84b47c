"""One way to change a record and publish what the change causes.

Every service keeps its records (a complaint, an SLA clock, a delivery) as single MongoDB
documents with their own outbox, and every change of one takes the same five steps,
written here once:

1. one change of a record at a time in this process (a lock per `_id`: events and
   requests about one complaint may arrive together);
2. read the record by `_id` alone (the one filter every MongoDB-wire server answers from
   an index; ARCHITECTURE.md "Storage");
3. a pure `decide(record)` says what changes and which events that causes (a `Decision`),
   or None when there is nothing to do;
4. the update and the events' outbox entries go in one `_id`-addressed write, so an event
   exists if and only if its change does (shared/outbox.py);
5. the events are handed to the outbox relay for a prompt publish; its sweep publishes
   whatever a crash leaves in the documents.

New records are inserted through a group commit (shared/group_commit.py): records created
at the same time (a burst of registrations, a batch of events each starting a record) go
in one command, which costs the server a fraction of as many single inserts, and a record
created alone goes at once.

`remember_seconds`: the records this process wrote are kept that long, as written, and a
change within it starts from that copy instead of reading the record again (a complaint
registered is routed a moment later: one read fewer per change). Only for a collection
no one else changes but through these Records, in one process (the lock above assumes it
already); fields no decision reads, such as the outbox the relay clears, may lag.

`once_per=event_id` makes a change idempotent for a consumer: the id joins
`applied_events` in the same write, and an event already there changes nothing.

One process changes a record at a time (the lock is in memory); run one consumer per
service until a compare-and-set is cheap on the MongoDB-wire server (a filter on `_id`
plus a version is a full scan on FerretDB v1).
"""

from __future__ import annotations

import asyncio
import copy
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import bson
from pymongo import InsertOne, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts import Envelope, EventPayload
from shared.group_commit import GroupCommit
from shared.outbox import OutboxRelay, new_outbox, outbox_fields
from shared.tracing import current_trace_context

Record = dict[str, Any]
APPLIED = "applied_events"
REMEMBERED = 4096  # records a process keeps as written, at most (`remember_seconds`)


@dataclass(frozen=True)
class Decision:
    """What one change does to a record: a MongoDB update (`$set`, `$push`, `$inc`, ...)
    and the events it causes, stored with it in the record's outbox."""

    update: dict[str, Any] = field(default_factory=dict)
    events: Sequence[EventPayload] = ()


Decide = Callable[[Record], Decision | None]


@dataclass(frozen=True)
class Changed:
    """The record before and after one change, and the events that change queued (none
    when there was nothing to do: then `after` is the record as it was)."""

    before: Record
    after: Record
    events: tuple[Envelope, ...] = ()

    @property
    def changed(self) -> bool:
        return self.after is not self.before


def envelope_for(record: Record, event: EventPayload) -> Envelope:
    """The default envelope: the record's hospital, and its complaint (its own `_id` for
    records kept one per complaint)."""
    return event.envelope(
        hospital_id=record["hospital_id"],
        complaint_id=record.get("complaint_id") or record["_id"],
        trace_context=current_trace_context(),
    )


class Records:
    """The records of one collection, changed one at a time; with a relay, their changes
    publish events through each record's outbox (a read model has none)."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        relay: OutboxRelay | None = None,
        *,
        envelope: Callable[[Record, EventPayload], Envelope] = envelope_for,
        remember_seconds: float = 0.0,
    ) -> None:
        self.collection = collection
        self._relay = relay
        self._envelope = envelope
        self._inserts = GroupCommit(collection)
        self._remember_seconds = remember_seconds
        self._written: OrderedDict[Any, tuple[float, Record]] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[Any, asyncio.Lock] = weakref.WeakValueDictionary()

    async def get(self, record_id: Any) -> Record | None:
        return await self.collection.find_one({"_id": record_id}, {"outbox": 0})

    async def insert(self, record: Record, events: Sequence[EventPayload] = ()) -> Changed | None:
        """Store a new record with the events it causes; None when its `_id` exists (a
        redelivery, or the same request twice)."""
        envelopes = self._envelopes(record, events)
        document = (
            {**record, **new_outbox(envelopes, now=datetime.now(UTC))} if envelopes else record
        )
        self._forget(document["_id"])
        try:
            refused = await self._inserts.write([InsertOne(document)])
        except Exception:
            self._suspect(document["_id"], envelopes)
            raise
        if refused:
            return None
        self._remember(document, as_sent=True)
        self._publish(document["_id"], envelopes)
        return Changed(before={}, after=document, events=envelopes)

    async def change(
        self,
        record_id: Any,
        decide: Decide,
        *,
        once_per: str | None = None,
        current: Record | None = None,
    ) -> Changed | None:
        """Apply `decide` to the record as it is now, in one write with its events; None
        when there is no such record. `current`: the record as the caller has it while
        nothing else can change it (it holds its own lock of this record over the read
        and this call), so that the write is not preceded by a second read of it."""
        async with self._lock(record_id):
            remembered = self._forget(record_id)  # put back below once written again
            before = current or remembered
            if before is None:
                before = await self.collection.find_one({"_id": record_id})
            if before is None:
                return None
            if once_per is not None and once_per in before.get(APPLIED, []):
                self._remember(before)
                return Changed(before=before, after=before)
            decision = decide(before)
            if decision is None and once_per is None:
                self._remember(before)
                return Changed(before=before, after=before)
            decision = decision or Decision()
            envelopes = self._envelopes(before, decision.events)
            update = _with_outbox(decision.update, envelopes, once_per=once_per)
            try:
                after = await self.collection.find_one_and_update(
                    {"_id": record_id}, update, return_document=ReturnDocument.AFTER
                )
            except Exception:
                self._suspect(record_id, envelopes)
                raise
            if after is not None:
                self._remember(after)
        if after is None:  # removed meanwhile by another process
            return None
        self._publish(record_id, envelopes)
        return Changed(before=before, after=after, events=envelopes)

    def _remember(self, record: Record, *, as_sent: bool = False) -> None:
        """Keep `record` as written (`as_sent`: the document this process sent, kept as a
        read would return it: times to the millisecond, in UTC, lists for tuples)."""
        if self._remember_seconds <= 0:
            return
        if as_sent:
            record = bson.decode(bson.encode(record), codec_options=self.collection.codec_options)
        else:
            record = copy.deepcopy(record)  # what callers do to theirs stays theirs
        self._written[record["_id"]] = (time.monotonic(), record)
        self._written.move_to_end(record["_id"])
        while len(self._written) > REMEMBERED:
            self._written.popitem(last=False)

    def _forget(self, record_id: Any) -> Record | None:
        """The record as this process last wrote it, if recently; taken out of the memory
        (a change puts back what it wrote; one that fails leaves nothing)."""
        written = self._written.pop(record_id, None)
        if written is None or time.monotonic() - written[0] >= self._remember_seconds:
            return None
        return written[1]

    def _envelopes(self, record: Record, events: Sequence[EventPayload]) -> tuple[Envelope, ...]:
        if events and self._relay is None:
            raise ValueError(f"{self.collection.name} has no outbox: its changes cause no events")
        return tuple(self._envelope(record, event) for event in events)

    def _publish(self, record_id: Any, envelopes: Sequence[Envelope]) -> None:
        if envelopes and self._relay is not None:
            self._relay.notify(record_id, envelopes)

    def _suspect(self, record_id: Any, envelopes: Sequence[Envelope]) -> None:
        """A write with events failed without saying whether it happened: the relay's
        next sweep looks at the record (shared/outbox.py)."""
        if envelopes and self._relay is not None:
            self._relay.suspect(record_id)

    def _lock(self, record_id: Any) -> asyncio.Lock:
        # Weak values: a lock lives only while some change of that record holds it.
        lock = self._locks.get(record_id)
        if lock is None:
            lock = self._locks[record_id] = asyncio.Lock()
        return lock


def _with_outbox(
    update: dict[str, Any], envelopes: Sequence[Envelope], *, once_per: str | None
) -> dict[str, Any]:
    merged = {operator: dict(fields) for operator, fields in update.items()}
    if envelopes:
        merged.setdefault("$set", {}).update(outbox_fields(envelopes))
    if once_per is not None:
        pushed = merged.setdefault("$push", {})
        if APPLIED in pushed:
            raise ValueError(f"a decision must not push to {APPLIED}: once_per does")
        pushed[APPLIED] = once_per
    return merged
