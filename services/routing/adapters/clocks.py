"""SLA clocks: one document per complaint, holding routing's decision and its deadline.

The clock document is also the routing decision's idempotency key (its _id is the
complaint id) and carries routing's outbox: every change of a clock is one write with the
events it causes (shared/records.py), so deciding, starting the clock and queueing
complaint.routed are one insert.

What a change means beyond the clock itself is kept here, from the clock before and after:

- Department loads (`department_load`): a small document per department lists its open
  clocks with their handlers, so choosing the least-loaded handler is one lookup by `_id`
  instead of a count over every open clock (cached for `LOAD_TTL` seconds, the cached copy
  following this process's own writes), and a handler's open cases, for delegation, are
  read from their hospital's departments by `_id`. The entries are set and unset by
  complaint after each change, so writing one again is harmless: a redelivery writes the
  clock's entry again, repairing what a crash between the two writes lost (DepartmentLoad).
- The scan's index (`sla_slots`, adapters/sla_slots.py): each clock carries its SLA state,
  planned again in the same write as every change of it (services/routing/sla_state.py),
  and is listed where the scan finds its next point. The clock's entry is removed before
  the change and listed again after it, from the clock as written, on every handling, a
  redelivery already applied included: a crash in between leaves the entry missing (late)
  until the event is delivered again, never listed where the clock no longer is (early or
  wrong), since the scan tells the points of an entry without reading the clock.
- The pending index (`pending_deadlines`): deadlines waiting for a year's calendar are found
  without a scan, one document per year (`_id` the year) listing the clocks that wait for
  it. A clock's entry is written before the clock says it waits: a decision that would
  make a clock wait for a year not listed for it is not written; the year is listed, and
  the change is decided again. The entry is removed after the clock stops waiting, and
  only under its name (`entry`, which the clock's `deadline_pending` carries), so an entry
  another change has made meanwhile stays; a change whose entry the clock did not take
  (another change of it was written first) settles its own entries afterwards. An entry
  may outlive its clock's wait (a crash in between: the recount drops it, `drop_stale`),
  but a waiting clock always has its entry.

Routing is its clocks' one writer, one process changing a clock at a time (the locks here
are in memory, as shared/records.py says), so the clock as this process last wrote it is
the clock: a change within `WRITTEN_TTL` seconds of the last one (the acceptance right
after the decision, a level coming back) starts from that copy instead of reading it
again; a write that fails leaves no copy. And an event of a complaint whose clock is not
stored yet (one published with complaint.received, consumed first) waits for this
process to store it (`started`), instead of going back to the queue to be read again.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import bson
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.routing.adapters.sla_slots import SlotIndex
from shared.contracts import EventPayload
from shared.group_commit import FieldWrites
from shared.outbox import OutboxRelay
from shared.records import APPLIED, Changed, Decide, Decision, Records

if TYPE_CHECKING:  # sla_state.py reads the statuses below
    from services.routing.sla_state import SlaPlanner

CLOCKS = "sla_clocks"

OPEN = "open"
PAUSED = "paused"  # waiting for the complainant's supplement: the clock does not run
STOPPED = "stopped"

# An index entry younger than this is never dropped as stale: its clock may be about to
# say it waits (the entry is written first), in this process or another.
STALE_AFTER = timedelta(minutes=2)

# How long the copy of a clock this process wrote stands for the clock, and how many
# clocks it remembers (module note): the events that follow a change within seconds.
WRITTEN_TTL = 10.0
WRITTEN_MEMORY = 2048

# How long a department's loads are read from the cached copy (DepartmentLoad).
LOAD_TTL = 30.0
# How many of a handler's clocks delegation reads at once, each by `_id`.
OPEN_CASE_READS = 8

# How the platform's clients read documents (shared/mongo_clients.py `bounded`).
STORED: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, uuid_representation=UuidRepresentation.STANDARD
)


def pending_year(clock: dict[str, Any] | None) -> int | None:
    """The year a clock's deadline waits for (reply or acceptance), if any."""
    pending = (clock or {}).get("deadline_pending")
    return int(pending["year"]) if pending else None


def _entry_of(clock: dict[str, Any]) -> str | None:
    """The name of the index entry listing a waiting clock (None: listed before entries
    had names)."""
    return (clock.get("deadline_pending") or {}).get("entry")


class PendingIndex:
    """Which clocks wait for which year: `{_id: year, clocks: {complaint_id: {hospital_id,
    since, entry}}}`. One document per year stays small (the clocks of the weeks before a
    year's calendar is published), and the collection holds a few years: a removal by name
    filters on more than `_id`, a scan of those few documents."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db["pending_deadlines"]

    async def add(self, year: int, complaint_id: str, hospital_id: str, *, entry: str) -> None:
        listed = {"hospital_id": hospital_id, "since": datetime.now(UTC), "entry": entry}
        await self.collection.update_one(
            {"_id": year}, {"$set": {f"clocks.{complaint_id}": listed}}, upsert=True
        )

    async def remove(self, year: int, complaint_id: str, *, entry: str | None) -> bool:
        """Remove the clock's entry for `year` if it is still the one named `entry` (any,
        for an entry without a name); True when one was removed."""
        where: dict[str, Any] = {"_id": year}
        if entry is not None:
            where[f"clocks.{complaint_id}.entry"] = entry
        result = await self.collection.update_one(where, {"$unset": {f"clocks.{complaint_id}": ""}})
        return result.modified_count > 0

    async def waiting(self, year: int) -> dict[str, dict[str, Any]]:
        """The clocks listed as waiting for `year`, each with its entry (since, entry)."""
        document = await self.collection.find_one({"_id": year})
        return dict((document or {}).get("clocks") or {})

    async def counts(self, years: list[int]) -> dict[int, int]:
        return {year: len(await self.waiting(year)) for year in years}


# The department loads' collection, and the `_id` of the mark that its documents list every
# open clock (written by the rebuild, or at start on a database without clocks).
LOADS = "department_load"
LOADS_COMPLETE = "complete"

# Load documents' changes: document `_id` → a MongoDB update of `$set` and `$unset`.
LoadMoves = dict[str, dict[str, dict[str, str]]]


def load_document_id(hospital_id: str, department: str) -> str:
    return f"{hospital_id}:{department}"


def load_entry(clock: dict[str, Any] | None) -> tuple[str, str] | None:
    """Where a clock is listed: its department's load document and its handler, for an open
    clock that has a handler; None for any other."""
    if not clock or clock.get("status", STOPPED) == STOPPED or not clock.get("handler_id"):
        return None
    if not clock.get("department") or not clock.get("hospital_id"):
        return None
    return load_document_id(clock["hospital_id"], clock["department"]), clock["handler_id"]


def load_moves(before: dict[str, Any] | None, after: dict[str, Any]) -> LoadMoves:
    """The writes that follow one change of a clock (`before` None or empty: it starts):
    its entry set where it is listed now, and unset from the department it left. A handler
    changing within a department is one `$set`; nothing moves, nothing is written."""
    was, now = load_entry(before), load_entry(after)
    if was == now:
        return {}
    path = f"cases.{after['_id']}"
    moves: LoadMoves = {}
    if was is not None and (now is None or now[0] != was[0]):
        moves[was[0]] = {"$unset": {path: ""}}
    if now is not None:
        moves[now[0]] = {"$set": {path: now[1]}}
    return moves


def load_repair(clock: dict[str, Any]) -> LoadMoves:
    """The clock's entry in its department written again from the clock alone (a redelivery
    after a crash that may have lost the write of `load_moves`): set while it is listed,
    unset otherwise."""
    entry = load_entry(clock)
    if entry is not None:
        return {entry[0]: {"$set": {f"cases.{clock['_id']}": entry[1]}}}
    if clock.get("hospital_id") and clock.get("department"):
        key = load_document_id(clock["hospital_id"], clock["department"])
        return {key: {"$unset": {f"cases.{clock['_id']}": ""}}}
    return {}


def apply_load_moves(documents: dict[str, dict[str, str]], moves: LoadMoves) -> None:
    """Apply `moves` to load documents' `cases` kept in memory (document `_id` → complaint
    → handler), as the server applies them."""
    for key, update in moves.items():
        cases = documents.setdefault(key, {})
        for path, handler in update.get("$set", {}).items():
            cases[path.removeprefix("cases.")] = handler
        for path in update.get("$unset", {}):
            cases.pop(path.removeprefix("cases."), None)


def load_documents(clocks: Iterable[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The load documents' `cases` as the clocks list them (the rebuild): every document
    that lists a clock."""
    documents: dict[str, dict[str, str]] = {}
    for clock in clocks:
        entry = load_entry(clock)
        if entry is not None:
            documents.setdefault(entry[0], {})[clock["_id"]] = entry[1]
    return documents


def handler_loads(cases: dict[str, str]) -> dict[str, int]:
    """Open clocks per handler, from a load document's `cases`."""
    return dict(Counter(cases.values()))


class DepartmentLoad:
    """Each department's open clocks with their handlers: `{_id: hospital:department,
    cases: {complaint_id: handler_id}}` (MongoDB's subset pattern). A handler's load is the
    number of complaints naming them, read by `_id` once per decision; a handler's open
    cases, for delegation, are read from the documents of the hospital's departments.

    Entries are `$set` and `$unset` by complaint, from the clock before and after each
    change (`load_moves`), in the group commit of the changes handled at once: writing one
    again changes nothing, so a redelivery writes the clock's entry again from the clock
    (`load_repair`), which repairs a write a crash lost, where counts kept by `$inc` would
    be off by one for good. What a crash can still leave is an entry in the department a
    clock left (re-routed meanwhile): it adds one to that load, and delegation reads every
    clock it is given and keeps those still open with that handler. `python -m
    services.routing.rebuild_load` writes every document again from the clocks.

    Read through a copy kept `ttl` seconds, to which this process applies each move it
    writes: it is the loads' one writer, so the copy is what the document says; a move
    written by another process shows within `ttl` (a load only steers the choice of
    handler)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, ttl: float = LOAD_TTL) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[LOADS]
        self._writes = FieldWrites(self.collection)
        self._ttl = ttl
        self._copies: dict[str, tuple[float, dict[str, str]]] = {}
        # Moves written per document: a read that a move overtook is not kept.
        self._written: dict[str, int] = {}
        self._complete = False

    async def moved(self, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        """Follow a clock that starts, stops, restarts or changes hands."""
        await self.write(load_moves(before, after))

    async def repair(self, clock: dict[str, Any]) -> None:
        """Write the clock's entry again, as the clock is (`load_repair`)."""
        await self.write(load_repair(clock))

    async def write(self, moves: LoadMoves) -> None:
        if not moves:
            return
        for key in moves:
            self._written[key] = self._written.get(key, 0) + 1
        try:
            await self._writes.write(list(moves.items()))
        except BaseException:
            for key in moves:
                self._copies.pop(key, None)  # written or not: read it again
            raise
        for key, update in moves.items():
            copy = self._copies.get(key)
            if copy is not None:
                apply_load_moves({key: copy[1]}, {key: update})

    async def open_cases(self, hospital_id: str, department: str) -> dict[str, int]:
        key = load_document_id(hospital_id, department)
        copy = self._copies.get(key)
        if copy is None or time.monotonic() - copy[0] >= self._ttl:
            written = self._written.get(key, 0)
            document = await self.collection.find_one({"_id": key})
            copy = (time.monotonic(), dict((document or {}).get("cases") or {}))
            if self._written.get(key, 0) == written:
                self._copies[key] = copy
        return handler_loads(copy[1])

    async def listed(
        self, hospital_id: str, handler_id: str, *, departments: Iterable[str]
    ) -> list[str]:
        """The complaints listed under `handler_id` in these departments, each document
        read by `_id` as stored now (delegation must not miss a case)."""
        listed: list[str] = []
        for department in sorted(set(departments)):
            document = await self.collection.find_one(
                {"_id": load_document_id(hospital_id, department)}
            )
            cases = (document or {}).get("cases") or {}
            listed += [c for c, handler in cases.items() if handler == handler_id]
        return listed

    async def complete(self) -> bool:
        """Whether the documents list every open clock: stored before them, clocks are
        listed only once the rebuild has run."""
        if not self._complete:
            self._complete = await self.collection.find_one({"_id": LOADS_COMPLETE}) is not None
        return self._complete

    async def mark_complete(self, *, by: str) -> None:
        await self.collection.update_one(
            {"_id": LOADS_COMPLETE}, {"$set": {"by": by, "at": datetime.now(UTC)}}, upsert=True
        )
        self._complete = True

    async def mark_complete_if_new(self, clocks: AsyncCollection[dict[str, Any]]) -> None:
        """At start: on a database without clocks, every clock will be listed."""
        if await self.complete():
            return
        if await clocks.find_one({}, {"_id": 1}) is None:
            await self.mark_complete(by="routing start on a database without clocks")


class _Unlisted(Exception):
    """A decision would make a clock wait for a year its entry does not list yet: it is
    not written (see the module note)."""

    def __init__(self, year: int, hospital_id: str) -> None:
        super().__init__(f"not listed for {year}")
        self.year, self.hospital_id = year, hospital_id


def _listed_first(decide: Decide, listed: dict[int, str], clock: dict[str, Any]) -> Decision | None:
    """`decide`, with the name of the clock's index entry in the wait it sets: the entry
    of the wait the clock is in, or one listed for this change (`listed`, year → name)."""
    decision = decide(clock)
    waiting = (decision.update.get("$set") or {}).get("deadline_pending") if decision else None
    if decision is None or not waiting:
        return decision
    year = int(waiting["year"])
    if year == pending_year(clock):
        entry = _entry_of(clock)
    elif year in listed:
        entry = listed[year]
    else:
        raise _Unlisted(year, clock["hospital_id"])
    if entry is None:
        return decision
    update = {**decision.update, "$set": {**decision.update["$set"]}}
    update["$set"]["deadline_pending"] = {**waiting, "entry": entry}
    return replace(decision, update=update)


def _routed_order(clock: dict[str, Any]) -> tuple[bool, datetime, str]:
    routed_at = clock.get("routed_at")
    if isinstance(routed_at, datetime) and routed_at.tzinfo is None:
        routed_at = routed_at.replace(tzinfo=UTC)
    if not isinstance(routed_at, datetime):
        return True, datetime.min.replace(tzinfo=UTC), str(clock["_id"])
    return False, routed_at, str(clock["_id"])


def _nothing(clock: dict[str, Any]) -> Decision | None:
    return None


def _decided_once(decide: Decide, clock: dict[str, Any], decision: Decision | None) -> Decide:
    """`decide`, whose `decision` on `clock` (that very document) is already known."""

    def known(current: dict[str, Any]) -> Decision | None:
        return decision if current is clock else decide(current)

    return known


RELAYS = frozenset({"outbox", "outbox_pending", "outbox_since"})


def _as_written(clock: dict[str, Any]) -> dict[str, Any]:
    """The copy of a clock kept as written, without the fields the outbox relay changes
    after the write (shared/outbox.py); no decision reads them."""
    return {k: v for k, v in clock.items() if k not in RELAYS}


@dataclass
class _Awaited:
    """Changes waiting for a complaint's clock to be stored (`ClockStore.started`)."""

    stored: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0


class ClockStore:
    """The clocks (shared/records.py, with routing's outbox relay), and what follows from
    each change of one: the department loads, the pending index and, with a `planner`, the
    SLA state and the scan's index (module note)."""

    def __init__(
        self,
        records: Records,
        *,
        pending: PendingIndex,
        load: DepartmentLoad,
        slots: SlotIndex | None = None,
        planner: SlaPlanner | None = None,
    ) -> None:
        self.records = records
        self.collection = records.collection
        self.pending = pending
        self.load = load
        self.slots = slots
        self.planner = planner
        # One change of a clock at a time here, slot writes included (records.py's lock
        # covers only the clock's own write).
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # The clocks as this process last wrote them, with when (module note).
        self._written: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._codec = getattr(self.collection, "codec_options", STORED)
        # The clocks this process stored lately, and the changes waiting for one.
        self._stored: OrderedDict[str, None] = OrderedDict()
        self._awaited: dict[str, _Awaited] = {}

    @classmethod
    def of(
        cls,
        db: AsyncDatabase[dict[str, Any]],
        *,
        relay: OutboxRelay | None = None,
        planner: SlaPlanner | None = None,
    ) -> ClockStore:
        """The store in `db`; `relay` publishes the clocks' outbox (bootstrap builds it for
        the `CLOCKS` collection); `planner` plans each clock's SLA state."""
        return cls(
            Records(db[CLOCKS], relay),
            pending=PendingIndex(db),
            load=DepartmentLoad(db),
            slots=SlotIndex(db),
            planner=planner,
        )

    def _lock(self, complaint_id: str) -> asyncio.Lock:
        lock = self._locks.get(complaint_id)
        if lock is None:
            lock = self._locks[complaint_id] = asyncio.Lock()
        return lock

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("status", ASCENDING), ("overdue", ASCENDING), ("due_at", ASCENDING)], name="scan"
        )
        # Before any clock is stored (on_start): a new database's loads list every clock.
        await self.load.mark_complete_if_new(self.collection)

    async def start(
        self, clock: dict[str, Any], events: Sequence[EventPayload], *, entry: str
    ) -> Changed | None:
        """Store a new clock with the events its decision causes; None when this complaint
        already has one (a redelivery). A clock that starts waiting is listed first, as
        `entry` (the event it starts from: a redelivery lists it under the same name)."""
        async with self._lock(clock["_id"]):
            try:
                started = await self._start(clock, events, entry=entry)
            finally:
                awaited = self._awaited.pop(clock["_id"], None)
                if awaited is not None:
                    awaited.stored.set()
            self._stored[clock["_id"]] = None
            while len(self._stored) > WRITTEN_MEMORY:
                self._stored.popitem(last=False)
            return started

    async def started(self, complaint_id: str, *, within: float) -> bool:
        """Wait up to `within` seconds for this process to store the complaint's clock (its
        complaint.received handled meanwhile); True once it has, or recently had."""
        if complaint_id in self._stored:
            return True
        awaited = self._awaited.setdefault(complaint_id, _Awaited())
        awaited.waiting += 1
        try:
            await asyncio.wait_for(awaited.stored.wait(), timeout=within)
            return True
        except TimeoutError:
            return False
        finally:
            awaited.waiting -= 1
            if awaited.waiting == 0 and self._awaited.get(complaint_id) is awaited:
                del self._awaited[complaint_id]

    def _remember(self, clock: dict[str, Any], *, as_sent: bool = False) -> None:
        """Keep the clock as written; `as_sent`: the document this process sent, kept as
        a read would return it (times in UTC to the millisecond, lists for tuples)."""
        if as_sent:
            clock = bson.decode(bson.encode(clock), codec_options=self._codec)
        self._written[clock["_id"]] = (time.monotonic(), _as_written(clock))
        self._written.move_to_end(clock["_id"])
        while len(self._written) > WRITTEN_MEMORY:
            self._written.popitem(last=False)

    def _recall(self, complaint_id: str) -> dict[str, Any] | None:
        """The clock as this process last wrote it, if recently; taken out of the memory:
        a change puts back what it wrote, and one that fails nothing."""
        written = self._written.pop(complaint_id, None)
        if written is None or time.monotonic() - written[0] >= WRITTEN_TTL:
            return None
        return written[1]

    async def _start(
        self, clock: dict[str, Any], events: Sequence[EventPayload], *, entry: str
    ) -> Changed | None:
        if self.planner is not None:
            ladder = await self.planner.ladder(clock["hospital_id"])
            now = self.planner.now()
            sla, planned_events = self.planner.first_plan(clock, events, ladder=ladder, now=now)
            clock, events = {**clock, "sla": sla}, planned_events
        waiting = clock.get("deadline_pending")
        if waiting:
            year = int(waiting["year"])
            await self.pending.add(year, clock["_id"], clock["hospital_id"], entry=entry)
            clock = {**clock, "deadline_pending": {**waiting, "entry": entry}}
        self._recall(clock["_id"])  # whatever is stored now, it is not that copy
        started = await self.records.insert(clock, events)
        if started is not None:
            self._remember(started.after, as_sent=True)
            await self._list(started.after)
            await self.load.moved(None, started.after)
        else:
            if waiting:  # the clock may have moved on since: its entries follow it
                current = await self.records.get(clock["_id"])
                await self._settle(clock["_id"], {year: entry}, current)
            repaired = await self._planned_change(clock["_id"], _nothing)  # a redelivery repairs
            if repaired is not None:
                await self.load.repair(repaired.after)
        return started

    async def change(
        self, complaint_id: str, decide: Decide, *, once_per: str | None = None
    ) -> Changed | None:
        """Change one clock (shared/records.py: `once_per` an event id), then the indexes
        and the loads; None when the complaint has no clock yet."""
        async with self._lock(complaint_id):
            return await self._planned_change(complaint_id, decide, once_per=once_per)

    async def replan(self, complaint_id: str) -> Changed | None:
        """Plan a clock again as it is (a year its ladder waited for is loaded)."""
        return await self.change(complaint_id, _nothing)

    async def _planned_change(
        self, complaint_id: str, decide: Decide, *, once_per: str | None = None
    ) -> Changed | None:
        """Without a planner, the change; with one: the clock's entry removed when the
        change lists it elsewhere, the change written with the SLA state planned again, the
        entry listed from what was written. A redelivery changes nothing but is planned
        again too: its plan may have fallen behind the time, and its entry may be missing
        (a crash after the last change)."""
        planner = self.planner
        before = self._recall(complaint_id)
        if planner is None:
            changed = await self._change(complaint_id, decide, once_per=once_per, current=before)
            if changed is not None:
                self._remember(changed.after)
            return changed
        if before is None:
            before = await self.records.get(complaint_id)
            if before is None:
                return None
        ladder = await planner.ladder(before["hospital_id"])
        now = planner.now()
        replayed = once_per is not None and once_per in before.get(APPLIED, [])
        plan = planner.planned(decide, ladder=ladder, now=now)
        replan = planner.planned(_nothing, ladder=ladder, now=now)
        # The decision is made once, here, and is the one written: where it lists the clock
        # decides whether its entry must go before the write.
        decision = (replan if replayed else plan)(before)
        await self._unlist(before, decision)
        if not replayed:
            plan = _decided_once(plan, before, decision)
        changed = await self._change(complaint_id, plan, once_per=once_per, current=before)
        if changed is None:
            return None
        after = changed.after
        if replayed:
            again = await self._change(
                complaint_id, _decided_once(replan, before, decision), current=before
            )
            after = again.after if again is not None else after
        self._remember(after)
        await self._list(after)
        return changed

    async def _unlist(self, clock: dict[str, Any], decision: Decision | None) -> None:
        """Remove the clock's entry before a change that lists it elsewhere, or no more
        (see the module note); one it leaves where it is stays."""
        planner, slots = self.planner, self.slots
        listing = planner.listing(clock) if planner else None
        if listing is None or slots is None or planner is None or decision is None:
            return
        if planner.listing({**clock, **(decision.update.get("$set") or {})}) != listing:
            await slots.remove(listing.slot, listing.key)

    async def _list(self, clock: dict[str, Any]) -> None:
        listing = self.planner.listing(clock) if self.planner else None
        if listing is not None and self.slots is not None and self.planner is not None:
            await self.slots.add(listing.slot, listing.key, self.planner.entry(clock))

    async def _change(
        self,
        complaint_id: str,
        decide: Decide,
        *,
        once_per: str | None = None,
        current: dict[str, Any] | None = None,
    ) -> Changed | None:
        listed: dict[int, str] = {}
        while True:
            try:
                changed = await self.records.change(
                    complaint_id,
                    partial(_listed_first, decide, listed),
                    once_per=once_per,
                    current=current,
                )
                break
            except _Unlisted as unlisted:
                name = uuid4().hex
                await self.pending.add(
                    unlisted.year, complaint_id, unlisted.hospital_id, entry=name
                )
                listed[unlisted.year] = name
        if changed is not None and changed.changed:
            year = pending_year(changed.before)
            if year is not None and year != pending_year(changed.after):
                await self.pending.remove(year, complaint_id, entry=_entry_of(changed.before))
        if listed:
            await self._settle(complaint_id, listed, changed.after if changed else None)
        if changed is not None and changed.changed:
            await self.load.moved(changed.before, changed.after)
        elif changed is not None and once_per in changed.before.get(APPLIED, []):
            await self.load.repair(changed.after)  # redelivered: its write may have been lost
        return changed

    async def _settle(
        self, complaint_id: str, listed: dict[int, str], clock: dict[str, Any] | None
    ) -> None:
        """This change's own entries that the clock did not take, because another change
        of it was written first: the entry of the wait the clock is in is made again under
        the name the clock carries (ours replaced it), the others are removed."""
        year, name = pending_year(clock), _entry_of(clock or {})
        for listed_year, listed_name in listed.items():
            if listed_name == name:
                continue
            if listed_year != year:
                await self.pending.remove(listed_year, complaint_id, entry=listed_name)
            elif clock is not None and name is not None:
                await self.pending.add(year, complaint_id, clock["hospital_id"], entry=name)

    async def drop_stale(self, year: int, complaint_id: str, listed: dict[str, Any]) -> bool:
        """Drop the index entry `listed` if its clock does not wait for `year` (a crash
        between the two writes, or a clock gone), unless the entry is recent: its clock may
        be about to. Only that entry, by name: one a change makes meanwhile stays."""
        since = listed.get("since") or datetime.min.replace(tzinfo=UTC)
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        if datetime.now(UTC) - since < STALE_AFTER:
            return False
        if pending_year(await self.records.get(complaint_id)) == year:
            return False
        return await self.pending.remove(year, complaint_id, entry=listed.get("entry"))

    async def open_of_handler(
        self, hospital_id: str, handler_id: str, *, departments: Iterable[str]
    ) -> list[dict[str, Any]]:
        """A handler's open clocks in the hospital, for delegation (an admin action): the
        complaints the load documents of `departments` list under the handler, each clock
        read by `_id` and kept while still open with that handler (DepartmentLoad), in the
        order they were routed. Until the documents list every clock (a database older
        than them, before the rebuild), the query over all clocks."""
        if not await self.load.complete():
            cursor = self.collection.find(
                {"hospital_id": hospital_id, "handler_id": handler_id, "status": {"$ne": STOPPED}},
                {"outbox": 0},
            )
            return await cursor.to_list(None)
        listed = await self.load.listed(hospital_id, handler_id, departments=departments)
        reading = asyncio.Semaphore(OPEN_CASE_READS)

        async def read(complaint_id: str) -> dict[str, Any] | None:
            async with reading:
                return await self.records.get(complaint_id)

        found = await asyncio.gather(*(read(complaint_id) for complaint_id in listed))
        open_clocks = [
            clock
            for clock in found
            if clock is not None
            and clock.get("hospital_id") == hospital_id
            and clock.get("handler_id") == handler_id
            and clock.get("status") != STOPPED
        ]
        return sorted(open_clocks, key=_routed_order)

    async def open_cases_by_handler(self, hospital_id: str, department: str) -> dict[str, int]:
        return await self.load.open_cases(hospital_id, department)
