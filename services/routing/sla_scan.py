"""The SLA scan: the clocks whose next point has passed, told (docs/rules.md#escalation).

One pass (`scan_once`), run by the platform's beat through Celery (tasks.py `run_scan`):

1. Batches a pass that died left behind are published (adapters/ladder_records.py).
2. The slots that have passed are read by `_id` (adapters/sla_slots.py): the late slots,
   then each minute after the cursor up to now. The entries in them are the due clocks,
   each with its points (sla_state.py), so the pass never reads a clock: its cost grows
   with the clocks due, never with all open clocks.
3. Chunk by chunk: for each point to tell (domain/sla_points.py `to_tell`), its event
   (complaint.sla_warning, .overdue or .escalated) with the recipients from routing's
   region copy; the chunk's level ids listed in one small batch; each level claimed by
   inserting its record (`<complaint>:<round>:<level>`: of two scans, one inserts it),
   which holds what its event is built from; the events claimed here published with
   confirms; the batch deleted. Once a group of slots is claimed, its handled entries are
   removed from their slots, by key (a claimed level is published, by this pass or by a
   recovery, so the entry is no longer needed).
   The database and the broker work side by side: while a chunk is with the broker
   (two at most), the next slots are read, the next chunk claimed and handled entries
   removed; a pass then costs about the slower of the two rather than their sum.
4. Once every chunk is confirmed and every removal done, the cursor moves to the last
   minute all of whose entries are handled.

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
from collections import deque
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
from services.routing.sla_state import point_document, point_of
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
CHUNKS_PUBLISHING = 2  # chunks whose events are with the broker at once


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


async def recover(records: LadderRecords, publisher: Publisher, people: Recipients) -> int:
    """Publish what passes that died left claimed and unconfirmed; returns how many. Each
    event is built again from its claim, as the pass that claimed it built it (same event
    id, same time; recipients from the region copy as it is now)."""
    published = 0
    for batch in await records.left_behind(before=datetime.now(UTC) - LEFT_BEHIND_AFTER):
        if "events" in batch:  # staged by an earlier version: the events themselves
            staged = [Envelope.from_document(e) for e in batch["events"]]
            steps = {
                step_id(e.complaint_id, int(e.payload.get("round", 0)), e.payload["level"]): e
                for e in staged
            }
            owned = await records.claimed_by(batch["_id"], steps)
            envelopes = [steps[claim["_id"]] for claim in owned]
        else:
            owned = await records.claimed_by(batch["_id"], batch.get("steps", []))
            envelopes = [await rebuilt(claim, people) for claim in owned]
        await publish_all(publisher, envelopes)
        await records.done(batch["_id"])
        published += len(envelopes)
    return published


def claim_record(
    step: str, *, batch: str, entry: dict[str, Any], point: SlaPoint, now: datetime
) -> dict[str, Any]:
    """A level's claim, holding what its event is built from: the slot entry without its
    points, the point told (its fields prefixed `p_`) and the pass's time. Flat: FerretDB
    stores a flat document at about half the cost of one with documents inside."""
    told = {f"p_{name}": value for name, value in point_document(point).items()}
    facts = {name: value for name, value in entry.items() if name != "p"}
    return {"_id": step, "batch": batch, "at": now, **facts, **told}


async def rebuilt(claim: dict[str, Any], people: Recipients) -> Envelope:
    """The event of a claim, as the pass that claimed the level built it."""
    own = {"_id", "batch", "at"}
    entry = {k: v for k, v in claim.items() if k not in own and not k.startswith("p_")}
    point = point_of({k[2:]: v for k, v in claim.items() if k.startswith("p_")})
    at = claim["at"] if claim["at"].tzinfo else claim["at"].replace(tzinfo=UTC)
    _, envelope = await step_envelope(entry, point, now=at, people=people)
    return envelope


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


@dataclass(frozen=True)
class Claimed:
    batch: str
    envelopes: list[Envelope]  # the events of the levels this pass claimed


async def claim(
    chunk: list[DueEntry],
    *,
    now: datetime,
    records: LadderRecords,
    people: Recipients,
    result: ScanResult,
) -> Claimed:
    """Build the chunk's events, list their levels in a batch, claim each level (module
    note, step 3); the events whose claim this pass inserted."""
    started = time.perf_counter()
    batch = uuid4().hex
    claims: list[dict[str, Any]] = []
    envelopes: list[Envelope] = []
    for due in chunk:
        for point in due.points:
            step, envelope = await step_envelope(due.entry, point, now=now, people=people)
            claims.append(claim_record(step, batch=batch, entry=due.entry, point=point, now=now))
            envelopes.append(envelope)
    await records.stage(batch, [c["_id"] for c in claims], now=datetime.now(UTC))
    mine = await records.claim(claims)
    ours = [e for c, e in zip(claims, envelopes, strict=True) if c["_id"] in mine]
    result.already += len(claims) - len(ours)
    result.seconds["apply"] += time.perf_counter() - started
    return Claimed(batch, ours)


async def confirm(
    claimed: Claimed, *, records: LadderRecords, publisher: Publisher, result: ScanResult
) -> None:
    """Publish the claimed events with confirms, then delete their batch."""
    started = time.perf_counter()
    await publish_all(publisher, claimed.envelopes)
    published = time.perf_counter()
    await records.done(claimed.batch)
    result.published += len(claimed.envelopes)
    result.seconds["publish"] += published - started
    result.seconds["apply"] += time.perf_counter() - published


async def forget(
    slots: SlotIndex,
    handled: list[DueEntry],
    held: dict[str, int],
    *,
    settled: str,
    result: ScanResult | None = None,
) -> None:
    """Remove the handled entries: a slot of a minute at or before `settled` whose every
    entry was handled is deleted (nothing is listed there any more), others lose the
    handled keys only (a clock listed meanwhile stays). Safe once the entries' levels are
    claimed: a claim is published, by this pass or by a recovery."""
    started = time.perf_counter()
    keys: dict[str, list[str]] = {}
    for due in handled:
        keys.setdefault(due.slot, []).append(due.key)
    drop = [
        slot
        for slot, gone in keys.items()
        if slot.split("/")[0].isdigit()
        and slot.split("/")[0] <= settled
        and len(gone) == held.get(slot)
    ]
    for slot in drop:
        del keys[slot]
    await slots.settle(drop=drop, keys=keys)
    if result is not None:
        result.seconds["remove"] = result.seconds.get("remove", 0.0) + (
            time.perf_counter() - started
        )


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
    """One pass at the platform's time `now` (module note). The database and the broker
    work side by side: the next slots are read, and the next chunk claimed, while the
    last chunk is published and the handled entries removed; the cursor moves only once
    all of it is done."""
    started = time.perf_counter()
    result = ScanResult()
    people = Recipients(region)
    result.recovered = await recover(records, publisher, people)
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
    publishing: deque[asyncio.Task[None]] = deque()
    removing: list[asyncio.Task[None]] = []
    reading = asyncio.ensure_future(slots.read(groups[0][1]))
    try:
        for n, (group, batch) in enumerate(groups):
            if n and time.perf_counter() - started > budget_seconds:
                result.more = True
                break
            read_at = time.perf_counter()
            found = await reading
            if n + 1 < len(groups):
                reading = asyncio.ensure_future(slots.read(groups[n + 1][1]))
            due, held = due_in(found, now)
            result.slots_read += len(batch)
            result.due += len(due)
            result.seconds["find"] += time.perf_counter() - read_at
            for at in range(0, len(due), chunk_size):
                claimed = await claim(
                    due[at : at + chunk_size],
                    now=now,
                    records=records,
                    people=people,
                    result=result,
                )
                while len(publishing) >= CHUNKS_PUBLISHING:
                    await publishing.popleft()
                publishing.append(
                    asyncio.ensure_future(
                        confirm(claimed, records=records, publisher=publisher, result=result)
                    )
                )
            if due:
                removing.append(
                    asyncio.ensure_future(forget(slots, due, held, settled=settled, result=result))
                )
            through = max([through, *(m for m in group if m <= settled)])
        while publishing:
            await publishing.popleft()
        for task in removing:
            await task
    finally:
        pending: list[asyncio.Future[Any]] = [reading, *publishing, *removing]
        for left in pending:
            left.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
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
