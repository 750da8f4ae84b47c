"""The SLA scan: the clocks whose next point has passed, told (docs/rules.md#escalation).

One pass (`scan_once`), run by the platform's beat through Celery (tasks.py `run_scan`):

1. Chunks a pass that died left behind are published (adapters/ladder_records.py).
2. The slots that have passed are read by `_id` (adapters/sla_slots.py): the late slots,
   then the minutes after the cursor up to now that list anything (one document an hour
   says which). The entries in them are the due clocks, each with its points
   (sla_state.py), so the pass never reads a clock: its cost grows with the clocks due,
   never with all open clocks.
3. Group by group of slots (the late ones, then `MINUTES_AT_ONCE` minutes at a time): the
   group's slots staged; the levels due in them (domain/sla_points.py `to_tell`) claimed
   (`<complaint>:<round>:<level>`: of two passes, one claims it); for each level claimed
   here its event (complaint.sla_warning, .overdue or .escalated) with the recipients
   from routing's region copy; the events published as batch messages of `chunk_size`
   (`batch.ladder`, shared/topology.py), which every consumer fans out into its events;
   the stage deleted once the broker confirmed. One message a chunk, not one an event:
   10,000 events one by one, confirmed, take the broker here longer than the whole pass
   may. Handled entries are removed from the late slots (every pass reads those) and from
   the minutes within the margin (the next pass reads them again); the other time slots
   are left as they are, behind the cursor, and swept a day later by a task of their
   own (`run_sweep`, tasks.py), so that no pass pays for deleting them.
4. The cursor moves to the last minute all of whose entries are handled.

Running it twice, or two at once, publishes each level of each case once: the claim is
the guard. The pass never writes a clock: routing's consumer receives the events
(consumers.py), records each level on its clock and plans the next point, as the clock's
single writer. Writing 10,000 clocks here would cost FerretDB some 10 s, one `_id` write
at a time.

A pass stops at its time budget and says so (`more`): the cursor is where it stopped, so
the next pass (sent at once by the task, or by the beat) goes on from there; a pass cut
short by a crash is simply done again, claims making that harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import uuid4

import aio_pika

from services.routing.adapters.ladder_records import LadderRecords, event_id_of, step_id
from services.routing.adapters.region_store import RegionStore
from services.routing.adapters.sla_slots import (
    SlotIndex,
    is_time_slot,
    late_slots,
    minute_of,
    minute_slots,
    moment_of,
)
from services.routing.domain.escalation_ladder import EVENT_OF, recipients
from services.routing.domain.region import Hospital, Supervisor
from services.routing.domain.sla_points import SlaPoint, reason, to_tell
from services.routing.service import department_label
from services.routing.settings import RoutingSettings
from services.routing.sla_state import point_of
from shared.contracts import Envelope, EventBatch, LadderLevel, Person
from shared.dates import stored_utc
from shared.publisher import EventPublisher
from shared.runtime import mongo_client
from shared.topology import LADDER_BATCH, declare_topology

log = logging.getLogger(__name__)

# The cursor stays this far behind now: an entry listed in a minute while a pass reads it
# (a write in flight, clocks of two machines a little apart) is read by the next pass.
CURSOR_MARGIN = timedelta(minutes=2)
# A chunk staged longer ago than this (real time) was left by a pass that died.
LEFT_BEHIND_AFTER = timedelta(minutes=2)
MINUTES_AT_ONCE = 8  # minutes whose slots are read together


class RegionLookup(Protocol):
    async def hospital(self, hospital_id: str) -> Hospital | None: ...

    async def supervisors(self) -> list[Supervisor]: ...


class Publisher(Protocol):
    async def publish_batch(self, batch: EventBatch) -> None: ...


@dataclass
class ScanResult:
    slots_read: int = 0
    due: int = 0  # entries with a point passed
    published: int = 0  # levels this pass reached, published
    already: int = 0  # levels another pass had reached
    recovered: int = 0  # events of chunks left behind, published again
    through: str | None = None  # the cursor after the pass
    more: bool = False  # stopped at its budget: more slots have passed
    seconds: dict[str, float] = field(
        default_factory=lambda: {"find": 0.0, "claim": 0.0, "publish": 0.0}
    )


@dataclass(frozen=True)
class DueEntry:
    slot: str
    key: str
    entry: dict[str, Any]
    points: tuple[SlaPoint, ...]


class Recipients:
    """The region copy, read once per hospital per pass."""

    def __init__(self, region: RegionLookup) -> None:
        self._region = region
        self._hospitals: dict[str, Hospital | None] = {}
        self._supervisors: list[Supervisor] | None = None
        self._found: dict[tuple[str, str, str | None, str | None], list[Person]] = {}

    async def hospital(self, hospital_id: str) -> Hospital | None:
        if hospital_id not in self._hospitals:
            self._hospitals[hospital_id] = await self._region.hospital(hospital_id)
        return self._hospitals[hospital_id]

    async def of(self, level: LadderLevel, entry: dict[str, Any]) -> list[Person]:
        key = (level.value, entry["h"], entry.get("d"), entry.get("hd"))
        if key not in self._found:
            if self._supervisors is None:
                self._supervisors = await self._region.supervisors()
            self._found[key] = recipients(
                level,
                hospital=await self.hospital(entry["h"]),
                department=entry.get("d"),
                handler_id=entry.get("hd"),
                supervisors=self._supervisors,
            )
        return self._found[key]


def step_of(entry: dict[str, Any], point: SlaPoint) -> str:
    return step_id(entry["id"], entry["r"], point.level)


async def step_envelope(
    entry: dict[str, Any], point: SlaPoint, *, now: datetime, people: Recipients
) -> Envelope:
    """The level's event, the same event whoever builds it."""
    department = entry.get("d")
    hospital = await people.hospital(entry["h"])
    event = EVENT_OF[point.level](
        case_number=entry.get("n"),
        level=point.level,
        reason=reason(point),
        round=entry["r"],
        due_at=point.about,
        overdue_working_days=point.overdue_working_days,
        department=department,
        department_label=department_label(hospital, department) if department else None,
        recipients=await people.of(point.level, entry),
        urgent=bool(entry.get("u")),
    )
    envelope = event.envelope(hospital_id=entry["h"], complaint_id=entry["id"], occurred_at=now)
    return envelope.model_copy(update={"event_id": event_id_of(step_of(entry, point))})


async def publish_in_batches(
    publisher: Publisher, envelopes: Sequence[Envelope], *, size: int = 1000
) -> None:
    """The events as batch messages of at most `size`, each confirmed by the broker."""
    for at in range(0, len(envelopes), size):
        await publisher.publish_batch(
            EventBatch(routing_key=LADDER_BATCH, events=list(envelopes[at : at + size]))
        )


def due_in(slots: dict[str, dict[str, dict[str, Any]]], now: datetime) -> list[DueEntry]:
    """The entries with a point to tell by `now`."""
    due: list[DueEntry] = []
    for slot, entries in slots.items():
        for key, entry in entries.items():
            points = to_tell(tuple(point_of(p) for p in entry.get("p", [])), now)
            if points:
                due.append(DueEntry(slot, key, entry, points))
    return due


async def recover(
    records: LadderRecords, slots: SlotIndex, publisher: Publisher, people: Recipients
) -> int:
    """Publish what passes that died left claimed and unconfirmed; returns how many. The
    levels due in the chunk's slots at the pass's time, built again as that pass built
    them (same event ids and time; recipients from the region copy as it is now)."""
    published = 0
    for batch in await records.left_behind(before=datetime.now(UTC) - LEFT_BEHIND_AFTER):
        at = stored_utc(batch["at"])
        due = due_in(await slots.read(batch.get("slots", [])), at)
        envelopes = [
            await step_envelope(d.entry, point, now=at, people=people)
            for d in due
            for point in d.points
        ]
        await publish_in_batches(publisher, envelopes)
        await records.done(batch["_id"])
        published += len(envelopes)
    return published


async def tell(
    group: list[DueEntry],
    *,
    now: datetime,
    records: LadderRecords,
    people: Recipients,
    publisher: Publisher,
    result: ScanResult,
    chunk_size: int,
) -> None:
    """Stage the group, claim its levels, publish the claimed ones' events in batch
    messages and unstage it (module note, step 3)."""
    started = time.perf_counter()
    batch = uuid4().hex
    levels = [(due, point, step_of(due.entry, point)) for due in group for point in due.points]
    await records.stage(
        batch, sorted({due.slot for due in group}), at=now, staged=datetime.now(UTC)
    )
    mine = await records.claim([step for _, _, step in levels], today=datetime.now(UTC).date())
    envelopes = [
        await step_envelope(due.entry, point, now=now, people=people)
        for due, point, step in levels
        if step in mine
    ]
    result.already += len(levels) - len(envelopes)
    claimed = time.perf_counter()
    result.seconds["claim"] += claimed - started
    if envelopes:
        await publish_in_batches(publisher, envelopes, size=chunk_size)
    await records.done(batch)
    result.published += len(envelopes)
    result.seconds["publish"] += time.perf_counter() - claimed


async def scan_once(
    *,
    now: datetime,
    slots: SlotIndex,
    records: LadderRecords,
    region: RegionLookup,
    publisher: Publisher,
    budget_seconds: float = 30.0,
    chunk_size: int = 1000,
) -> ScanResult:
    """One pass at the platform's time `now` (module note). The next slots are read while
    the last ones' levels are told; the cursor moves only once all of it is done."""
    started = time.perf_counter()
    result = ScanResult()
    people = Recipients(region)
    result.recovered = await recover(records, slots, publisher, people)
    cursor = await slots.ensure_cursor(now, margin=CURSOR_MARGIN)
    settled = minute_of(now - CURSOR_MARGIN)  # a minute at or before it is done once read
    # From the minute after the cursor; never later than the margin (a clock moved back).
    first = min(minute_of(moment_of(cursor) + timedelta(minutes=1)), settled)
    listed = await slots.listed_minutes(first, minute_of(now))
    groups: list[tuple[list[str], list[str]]] = [([], late_slots())]
    for n in range(0, len(listed), MINUTES_AT_ONCE):
        group = listed[n : n + MINUTES_AT_ONCE]
        groups.append((group, [slot for minute in group for slot in minute_slots(minute)]))
    through = settled
    reading = asyncio.ensure_future(slots.read(groups[0][1]))
    removing: list[asyncio.Future[None]] = []
    try:
        for n, (group, batch) in enumerate(groups):
            if n and time.perf_counter() - started > budget_seconds:
                result.more = True
                through = min(settled, minute_of(moment_of(group[0]) - timedelta(minutes=1)))
                break
            read_at = time.perf_counter()
            found = await reading
            if n + 1 < len(groups):
                reading = asyncio.ensure_future(slots.read(groups[n + 1][1]))
            due = due_in(found, now)
            result.slots_read += len(batch)
            result.due += len(due)
            result.seconds["find"] += time.perf_counter() - read_at
            if due:
                await tell(
                    due,
                    now=now,
                    records=records,
                    people=people,
                    publisher=publisher,
                    result=result,
                    chunk_size=chunk_size,
                )
                # Beside the next group's work; the cursor waits for it below.
                removing.append(asyncio.ensure_future(forget(slots, due, settled=settled)))
        for removal in removing:
            await removal
    finally:
        pending: list[asyncio.Future[Any]] = [reading, *removing]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if through > cursor:
        await slots.set_cursor(through)
    result.through = max(through, cursor)
    return result


async def forget(slots: SlotIndex, handled: list[DueEntry], *, settled: str) -> None:
    """Remove the handled entries that a later pass would read again: those of the late
    slots and of the minutes from `settled` on; by key, so an entry listed meanwhile stays.
    Safe once their levels are published."""
    keys: dict[str, list[str]] = {}
    for due in handled:
        if not is_time_slot(due.slot) or due.slot.split("/")[0] >= settled:
            keys.setdefault(due.slot, []).append(due.key)
    await slots.settle(drop=[], keys=keys)


async def run_scan(
    settings: RoutingSettings, *, now: datetime, budget_seconds: float = 30.0
) -> ScanResult:
    """One pass with its own clients, made and closed here: what a Celery task runs inside
    `asyncio.run` (tasks.py; PyMongo's async client and aio-pika belong to one loop)."""
    client = mongo_client(settings.mongo_url, timeout_seconds=settings.database_timeout_seconds)
    connection = await aio_pika.connect(
        settings.amqp_url, client_properties={"connection_name": "routing-sla-scan"}
    )
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_topology(
            channel,
            exchange=settings.exchange,
            prefix=settings.queue_prefix,
            delivery_limit=settings.delivery_limit,
        )
        db = client[settings.database]
        result = await scan_once(
            now=now,
            slots=SlotIndex(db),
            records=LadderRecords(db),
            region=RegionStore(db),
            publisher=EventPublisher(exchange, timeout=settings.publish_timeout_seconds),
            budget_seconds=budget_seconds,
        )
    finally:
        await connection.close()
        await client.close()
    log.info(
        "sla scan pass",
        extra={
            "due": result.due,
            "published": result.published,
            "already": result.already,
            "recovered": result.recovered,
            "through": result.through,
            "more": result.more,
        },
    )
    return result


async def run_sweep(settings: RoutingSettings, *, hours_at_once: int = 6) -> int:
    """Delete the slots a day behind the scan's cursor (adapters/sla_slots.py `sweep`):
    what `routing.sla_sweep` runs; the hours swept."""
    client = mongo_client(settings.mongo_url, timeout_seconds=settings.database_timeout_seconds)
    try:
        slots = SlotIndex(client[settings.database])
        cursor = await slots.cursor()
        swept = await slots.sweep(cursor, hours_at_once=hours_at_once) if cursor else 0
    finally:
        await client.close()
    log.info("sla slots swept", extra={"hours": swept, "cursor": cursor})
    return swept
