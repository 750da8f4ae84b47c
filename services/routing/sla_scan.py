"""The SLA scan: the clocks whose next point has passed, told (docs/rules.md#escalation).

One pass (`scan_once`), run by the platform's beat through Celery (tasks.py `run_scan`):

1. Batches a pass that died left behind are published (adapters/ladder_records.py).
2. The slots that have passed are read by `_id` (adapters/sla_slots.py): the late slots,
   then each minute after the cursor up to now. The entries in them are the due clocks,
   each with its points (sla_state.py), so the pass never reads a clock: its cost grows
   with the clocks due, never with all open clocks.
3. Chunk by chunk: for each point to tell (domain/sla_points.py `to_tell`), its event
   (complaint.sla_warning, .overdue or .escalated) with the recipients from routing's
   region copy; the chunk's events staged in one batch; each level claimed by inserting
   its record (`<complaint>:<round>:<level>`: of two scans, one inserts it); the events
   claimed here published with confirms; the batch deleted; the entries handled removed
   from their slots, by key.
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
    late_slots,
    minute_of,
    minute_slots,
    minutes_between,
    moment_of,
)
from services.routing.domain.escalation_ladder import EVENT_OF, recipients
from services.routing.domain.region import Hospital, Supervisor
from services.routing.domain.sla_points import SlaPoint, reason, to_tell
from services.routing.service import department_label
from services.routing.settings import RoutingSettings
from services.routing.sla_state import point_of
from shared.contracts import Envelope, LadderLevel, Person
from shared.publisher import EventPublisher
from shared.runtime import mongo_client
from shared.topology import declare_topology

log = logging.getLogger(__name__)

# The cursor stays this far behind now: an entry listed in a minute while a pass reads it
# (a write in flight, clocks of two machines a little apart) is read by the next pass.
CURSOR_MARGIN = timedelta(minutes=2)
# A batch older than this (real time) was left by a pass that died.
LEFT_BEHIND_AFTER = timedelta(minutes=2)
MINUTES_AT_ONCE = 8  # minutes whose slots are read together


class RegionLookup(Protocol):
    async def hospital(self, hospital_id: str) -> Hospital | None: ...

    async def supervisors(self) -> list[Supervisor]: ...


class Publisher(Protocol):
    async def publish(self, envelope: Envelope) -> None: ...


@dataclass
class ScanResult:
    slots_read: int = 0
    due: int = 0  # entries with a point passed
    published: int = 0  # levels this pass reached, published
    already: int = 0  # levels another pass had reached
    recovered: int = 0  # events of batches left behind, published again
    through: str | None = None  # the cursor after the pass
    more: bool = False  # stopped at its budget: more slots have passed
    seconds: dict[str, float] = field(
        default_factory=lambda: {"find": 0.0, "apply": 0.0, "publish": 0.0}
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


async def step_envelope(
    entry: dict[str, Any], point: SlaPoint, *, now: datetime, people: Recipients
) -> tuple[str, Envelope]:
    """The level's record id and its event, the same event whoever builds it."""
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
    step = step_id(entry["id"], entry["r"], point.level)
    envelope = event.envelope(hospital_id=entry["h"], complaint_id=entry["id"], occurred_at=now)
    return step, envelope.model_copy(update={"event_id": event_id_of(step)})


async def publish_all(publisher: Publisher, envelopes: Sequence[Envelope]) -> None:
    """Every event confirmed, or an error after trying them all (the batch stays)."""
    results = await asyncio.gather(
        *(publisher.publish(envelope) for envelope in envelopes), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {len(envelopes)} ladder events not confirmed"
        ) from failures[0]


async def recover(records: LadderRecords, publisher: Publisher) -> int:
    """Publish what passes that died left staged and claimed; returns how many."""
    published = 0
    for batch in await records.left_behind(before=datetime.now(UTC) - LEFT_BEHIND_AFTER):
        envelopes = [Envelope.from_document(e) for e in batch.get("events", [])]
        steps = {
            step_id(e.complaint_id, int(e.payload.get("round", 0)), e.payload["level"]): e
            for e in envelopes
        }
        owned = await records.claimed_by(batch["_id"], steps)
        await publish_all(publisher, [steps[s] for s in owned])
        await records.done(batch["_id"])
        published += len(owned)
    return published


def due_in(
    slots: dict[str, dict[str, dict[str, Any]]], now: datetime
) -> tuple[list[DueEntry], dict[str, int]]:
    """The entries with a point to tell by `now`, and how many entries each slot held."""
    due: list[DueEntry] = []
    for slot, entries in slots.items():
        for key, entry in entries.items():
            points = to_tell(tuple(point_of(p) for p in entry.get("p", [])), now)
            if points:
                due.append(DueEntry(slot, key, entry, points))
    return due, {slot: len(entries) for slot, entries in slots.items()}


async def tell(
    chunk: list[DueEntry],
    *,
    now: datetime,
    records: LadderRecords,
    people: Recipients,
    publisher: Publisher,
    result: ScanResult,
) -> None:
    """Stage, claim and publish the chunk's levels (module note, step 3)."""
    started = time.perf_counter()
    batch = uuid4().hex
    claims: list[dict[str, Any]] = []
    envelopes: list[Envelope] = []
    for due in chunk:
        for point in due.points:
            step, envelope = await step_envelope(due.entry, point, now=now, people=people)
            claims.append(
                {
                    "_id": step,
                    "batch": batch,
                    "event_id": str(envelope.event_id),
                    "complaint_id": due.entry["id"],
                    "hospital_id": due.entry["h"],
                    "round": due.entry["r"],
                    "level": point.level.value,
                    "at": now,
                }
            )
            envelopes.append(envelope)
    await records.stage(batch, envelopes, now=datetime.now(UTC))
    mine = await records.claim(claims)
    ours = [e for c, e in zip(claims, envelopes, strict=True) if c["_id"] in mine]
    applied = time.perf_counter()
    await publish_all(publisher, ours)
    published = time.perf_counter()
    await records.done(batch)
    result.published += len(ours)
    result.already += len(claims) - len(ours)
    result.seconds["apply"] += (applied - started) + (time.perf_counter() - published)
    result.seconds["publish"] += published - applied


async def forget(
    slots: SlotIndex,
    handled: list[DueEntry],
    held: dict[str, int],
    *,
    settled: str,
) -> None:
    """Remove the handled entries: a slot of a minute at or before `settled` whose every
    entry was handled is deleted (nothing is listed there any more), others lose the
    handled keys only (a clock listed meanwhile stays)."""
    keys: dict[str, list[str]] = {}
    for due in handled:
        keys.setdefault(due.slot, []).append(due.key)
    for slot, gone in keys.items():
        minute = slot.split("/")[0]
        if minute.isdigit() and minute <= settled and len(gone) == held.get(slot):
            await slots.drop(slot)
        else:
            await slots.forget(slot, gone)


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
    """One pass at the platform's time `now` (module note)."""
    started = time.perf_counter()
    result = ScanResult()
    result.recovered = await recover(records, publisher)
    people = Recipients(region)
    cursor = await slots.ensure_cursor(now, margin=CURSOR_MARGIN)
    settled = minute_of(now - CURSOR_MARGIN)  # a minute at or before it is done once read
    # From the minute after the cursor; never later than the margin (a clock moved back).
    first = min(minute_of(moment_of(cursor) + timedelta(minutes=1)), settled)
    through = minute_of(moment_of(first) - timedelta(minutes=1))
    minutes = minutes_between(first, minute_of(now))
    groups: list[tuple[list[str], list[str]]] = [([], late_slots())]
    for n in range(0, len(minutes), MINUTES_AT_ONCE):
        group = minutes[n : n + MINUTES_AT_ONCE]
        groups.append((group, [slot for minute in group for slot in minute_slots(minute)]))
    for n, (group, batch) in enumerate(groups):
        if n and time.perf_counter() - started > budget_seconds:
            result.more = True
            break
        read_at = time.perf_counter()
        found = await slots.read(batch)
        due, held = due_in(found, now)
        result.slots_read += len(batch)
        result.due += len(due)
        result.seconds["find"] += time.perf_counter() - read_at
        for at in range(0, len(due), chunk_size):
            part = due[at : at + chunk_size]
            await tell(
                part, now=now, records=records, people=people, publisher=publisher, result=result
            )
            await forget(slots, part, held, settled=settled)
        through = max([through, *(m for m in group if m <= settled)])
    if through != cursor:
        await slots.set_cursor(through)
    result.through = through
    return result


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
