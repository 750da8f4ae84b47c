"""SLA scan benchmark: one pass of routing's scan over 1,000,000 open clocks of which
10,000 are due, on the embedded MongoDB-wire server (target: under 2 s).

What is seeded, and why this way:
- The scan's index (adapters/sla_slots.py) as production holds it: every open clock has an
  entry in the slot of its next point (`<minute>/<shard>`), with its points as routing plans
  them (sla_state.py `point_document`). The clocks not due are listed in minutes spread over
  the next `--future-days` days; the due ones in the minutes since the scan's cursor
  (`--due-minutes` of them; 1 is a day's end, where every reply deadline of the day falls)
  and a twentieth of them in the late slots. Each due clock has one level to tell (warning,
  reply due or an escalation, in turn), so the pass publishes one event per due clock.
- The slot documents are written in bulk (`insert_many`, `STATEMENTS_PER_COMMAND` documents
  a command), and their minutes noted in the hours' documents as routing's writers note
  them (`SlotIndex.list_minutes`): listing 1,000,000 clocks through routing's consumer, one
  clock at a time, would take hours. The clock documents themselves are not needed by the
  scan: it never reads a clock, which is the point (it reads slot documents by `_id`, and
  the region copy).
  `--with-clocks` inserts them too (`sla_clocks`, shaped as routing writes them), so the
  database is as large as production's; it is off by default because FerretDB takes them
  at about 2,300 a second whatever the batch (1,000,000: some 7 minutes more), and it
  changes nothing the pass reads.
- The region file's hospitals and staff are loaded into routing's region copy, so every
  event carries its recipients; the events go through routing's topology (every consumer's
  quorum queue) with publisher confirms, as `run_scan` publishes them (batch messages of
  1,000 events), and a queue of the benchmark's own counts the events the broker received.

Printed per pass: slots read, entries due, levels published, levels another pass had
reached, the total and the scan's phases (find: reading the hours' and the slots'
documents; claim: staging the chunks, claiming their levels and building the events;
publish: confirmed publishing of the batch messages and unstaging; the rest is reading
the cursor, removing late entries and moving the cursor). Then the broker's floor: the
same events published and confirmed on the same topology with nothing else, as batch
messages (what the pass publishes) and one by one (what it would cost without batches).

Passes: the first tells every due clock; the second, run at once, finds nothing left
(the cursor is past the due minutes, the late entries removed); the third is the first
again (the due slots written back and the cursor moved back, as after a pass that died
before moving the cursor, or two beats at once): every level is claimed already, nothing
is published.

Names are the run's own (database, exchange, queues), dropped at the end, so the benchmark
can share servers with a running platform.

Usage: `uv run --frozen python -m bench.sla_scan [--clocks 1000000 --due 10000]`;
`--quick` for a smoke run (20,000 clocks, 500 due).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from deploy.demo import REGION_FILE
from deploy.servers import Infrastructure, native, provide_infrastructure
from services.routing.adapters.clocks import CLOCKS, OPEN
from services.routing.adapters.ladder_records import LadderRecords
from services.routing.adapters.region_store import RegionStore
from services.routing.adapters.sla_slots import (
    CURSOR,
    SCAN_STATE,
    SLOTS,
    SlotIndex,
    late_slot,
    minute_of,
    shard_of,
    time_slot,
)
from services.routing.admin import read_region
from services.routing.domain.region import Region
from services.routing.domain.sla_points import SlaPoint
from services.routing.sla_scan import (
    Recipients,
    ScanResult,
    due_in,
    publish_in_batches,
    scan_once,
    step_envelope,
)
from services.routing.sla_state import point_document, point_of
from shared.bulk_writes import STATEMENTS_PER_COMMAND
from shared.contracts import BATCH_MESSAGE_TYPE, EventBatch, LadderLevel, Priority
from shared.publisher import EventPublisher
from shared.runtime import mongo_client
from shared.topology import (
    CONSUMER_QUEUES,
    LADDER_BATCH,
    declare_topology,
    parking_exchange_name,
    parking_queue_name,
    queue_name,
)

TARGET_SECONDS = 2.0
LADDER_EVENTS = ("complaint.sla_warning", "complaint.overdue", "complaint.escalated")
# The level a due clock has passed, and the ones still ahead of it (days after it).
DUE_LEVELS: tuple[tuple[LadderLevel, tuple[tuple[LadderLevel, int], ...]], ...] = (
    (LadderLevel.WARNING, ((LadderLevel.REPLY_DUE, 1),)),
    (LadderLevel.REPLY_DUE, ((LadderLevel.COMPLAINT_OFFICE, 2),)),
    (LadderLevel.COMPLAINT_OFFICE, ((LadderLevel.LEADERSHIP, 3),)),
    (LadderLevel.LEADERSHIP, ((LadderLevel.BUREAU, 5),)),
    (LadderLevel.BUREAU, ()),
)
OVERDUE_DAYS = {
    LadderLevel.COMPLAINT_OFFICE: 2,
    LadderLevel.LEADERSHIP: 5,
    LadderLevel.BUREAU: 10,
}
# A clock not due yet: its warning ahead, then the reply deadline and the escalations.
AHEAD = (
    (LadderLevel.WARNING, 0),
    (LadderLevel.REPLY_DUE, 1),
    (LadderLevel.COMPLAINT_OFFICE, 3),
    (LadderLevel.LEADERSHIP, 6),
    (LadderLevel.BUREAU, 11),
)


@dataclass(frozen=True)
class Options:
    clocks: int = 1_000_000
    due: int = 10_000
    due_minutes: int = 10
    future_days: int = 60
    per_slot: int = 50  # entries per future slot document, on average
    with_clocks: bool = False


@dataclass
class Seeded:
    open_clocks: int = 0
    due: int = 0
    slot_documents: int = 0
    clock_documents: int = 0
    seconds: float = 0.0
    due_slots: list[dict[str, Any]] = field(default_factory=list)  # for the replayed pass
    cursor: str = ""


@dataclass(frozen=True)
class Pass:
    name: str
    result: ScanResult
    seconds: float
    received: int  # ladder events the broker routed to the benchmark's queue
    distinct: int  # of them, distinct event ids (one per level of a case)


@dataclass
class Report:
    seeded: Seeded
    passes: list[Pass] = field(default_factory=list)
    floor_seconds: float = 0.0  # the broker alone, the same events

    @property
    def first(self) -> Pass:
        return self.passes[0]

    @property
    def met(self) -> bool:
        return self.first.seconds < TARGET_SECONDS


class Clocks:
    """The seeded clocks: ids, hospitals, departments and handlers from the region file."""

    def __init__(self, region: Region) -> None:
        self.base = uuid4().int & ~((1 << 40) - 1)  # room for 2**40 clocks
        self.handlers = [
            (hospital.id, member.department, member.id)
            for hospital in region.hospitals
            for member in hospital.staff
            if member.department and member.department not in ("leadership", "complaint_office")
        ]

    def id_of(self, n: int) -> str:
        return str(UUID(int=self.base + n))

    def entry(self, n: int, points: list[str]) -> dict[str, Any]:
        hospital, department, handler = self.handlers[n % len(self.handlers)]
        return {
            "id": self.id_of(n),
            "h": hospital,
            "n": f"HZ-{hospital[-3:]}-202612-{n % 100_000:05d}",
            "r": 1,
            "d": department,
            "hd": handler,
            "u": False,
            "p": points,
        }

    def clock(self, n: int, entry: dict[str, Any], slot: str, now: datetime) -> dict[str, Any]:
        """A clock document as routing writes it (service.py `start`, sla_state.py)."""
        reply = next((point_of(p).about for p in entry["p"]), now)
        return {
            "_id": entry["id"],
            "hospital_id": entry["h"],
            "case_number": entry["n"],
            "revision": 1,
            "department": entry["d"],
            "co_departments": [],
            "handler_id": entry["hd"],
            "category": "nursing",
            "priority": Priority.NORMAL.value,
            "case_type": "ordinary",
            "working_days": 5,
            "recused": [],
            "target_staff_id": None,
            "received_at": reply - timedelta(days=7),
            "action_due_at": None,
            "counting_day": (reply - timedelta(days=7)).date().isoformat(),
            "due_at": reply,
            "status": OPEN,
            "overdue": False,
            "routed_at": reply - timedelta(days=7),
            "applied_events": [],
            "sla": {
                "round": 1,
                "reached": [],
                "floor": None,
                "acceptance_told": None,
                "action_told": [],
                "points": entry["p"],
                "waits_for": None,
                "seq": 1,
                "listed": {"slot": slot, "key": f"{entry['id']}~1"},
            },
        }


def point(level: LadderLevel, at: datetime, about: datetime) -> str:
    return point_document(
        SlaPoint(at=at, level=level, about=about, overdue_working_days=OVERDUE_DAYS.get(level, 0))
    )


def due_points(n: int, at: datetime) -> list[str]:
    """One level passed at `at`, the next ones days ahead: the pass tells exactly one."""
    level, ahead = DUE_LEVELS[n % len(DUE_LEVELS)]
    if level is LadderLevel.WARNING:
        about = at + timedelta(days=1)
    else:  # the reply deadline, passed by the level's working days (about)
        about = at - timedelta(days=OVERDUE_DAYS.get(level, 0))
    return [
        point(level, at, about),
        *(point(later, at + timedelta(days=days), about) for later, days in ahead),
    ]


def future_points(at: datetime) -> list[str]:
    reply = at + timedelta(days=1)
    return [point(level, at + timedelta(days=days), reply) for level, days in AHEAD]


def slot_documents(
    clocks: Clocks, *, first: int, count: int, minutes: list[datetime], late_share: int, due: bool
) -> Iterator[tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]]:
    """The slot documents of clocks `first`..`first + count`, minute by minute, each with
    the (n, entry) pairs it lists; `late_share` of them (1 in n) in the late slots."""
    per_minute = max(1, -(-count // len(minutes)))
    late: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for m, minute in enumerate(minutes):
        slots: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for n in range(first + m * per_minute, min(first + count, first + (m + 1) * per_minute)):
            shard = shard_of(clocks.id_of(n))
            at = minute + timedelta(seconds=n % 60)
            if due and late_share and n % late_share == 0:
                slot = late_slot(shard)
                at = minute - timedelta(hours=1)
                late.setdefault(slot, []).append((n, clocks.entry(n, due_points(n, at))))
                continue
            points = due_points(n, at) if due else future_points(at)
            slots.setdefault(time_slot(at, shard), []).append((n, clocks.entry(n, points)))
        yield from (({"_id": s, "e": _entries(listed)}, listed) for s, listed in slots.items())
    yield from (({"_id": s, "e": _entries(listed)}, listed) for s, listed in late.items())


def _entries(listed: list[tuple[int, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {f"{entry['id']}~1": entry for _, entry in listed}


async def insert_in_commands(
    collection: AsyncCollection[dict[str, Any]], documents: list[dict[str, Any]]
) -> None:
    for start in range(0, len(documents), STATEMENTS_PER_COMMAND):
        await collection.insert_many(documents[start : start + STATEMENTS_PER_COMMAND])


async def seed(
    db: AsyncDatabase[dict[str, Any]], options: Options, *, now: datetime, region: Region
) -> Seeded:
    started = time.perf_counter()
    seeded = Seeded()
    clocks = Clocks(region)
    slots, clock_documents = db[SLOTS], db[CLOCKS]
    future = options.clocks - options.due
    # Minutes of the next days, one every `step`, so a slot holds `per_slot` entries.
    minutes_wanted = max(1, future // (options.per_slot * 16))
    step = max(1, options.future_days * 24 * 60 // minutes_wanted)
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=5)
    future_minutes = [start + timedelta(minutes=step * k) for k in range(minutes_wanted)]
    due_minutes = [
        now.replace(second=0, microsecond=0) - timedelta(minutes=options.due_minutes - k)
        for k in range(options.due_minutes)
    ]
    seeded.cursor = minute_of(due_minutes[0] - timedelta(minutes=1))
    batches = (
        (0, future, future_minutes, False),
        (future, options.due, due_minutes, True),
    )
    pending_slots: list[dict[str, Any]] = []
    listed_minutes: list[str] = []
    pending_clocks: list[dict[str, Any]] = []
    chunk = STATEMENTS_PER_COMMAND * 20

    async def flush(final: bool = False) -> None:
        nonlocal pending_slots, pending_clocks
        if len(pending_slots) >= chunk or final:
            await insert_in_commands(slots, pending_slots)
            pending_slots = []
        if len(pending_clocks) >= chunk or final:
            await insert_in_commands(clock_documents, pending_clocks)
            pending_clocks = []

    for first, count, minutes, due in batches:
        for document, listed in slot_documents(
            clocks, first=first, count=count, minutes=minutes, late_share=20, due=due
        ):
            pending_slots.append(document)
            if document["_id"][:1].isdigit():
                listed_minutes.append(document["_id"].split("/")[0])
            seeded.slot_documents += 1
            seeded.open_clocks += len(listed)
            if due:
                seeded.due += len(listed)
                seeded.due_slots.append(document)
            if options.with_clocks:
                pending_clocks.extend(clocks.clock(n, e, document["_id"], now) for n, e in listed)
            seeded.clock_documents += len(listed) if options.with_clocks else 0
            await flush()
    await flush(final=True)
    await SlotIndex(db).list_minutes(listed_minutes)
    await LadderRecords(db).ensure_collections()  # as routing does at start
    await SlotIndex(db).set_cursor(seeded.cursor)
    seeded.seconds = time.perf_counter() - started
    return seeded


async def received(queue: AbstractQueue, expected: int) -> tuple[int, int]:
    """The ladder events in the benchmark's queue, batch messages unpacked (waiting up to
    30 s for `expected`), and how many distinct event ids they carry; the queue is
    emptied."""
    deadline = time.monotonic() + 30
    ids: list[str] = []
    while time.monotonic() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            if len(ids) >= expected:
                break
            await asyncio.sleep(0.05)
            continue
        if message.type == BATCH_MESSAGE_TYPE:
            ids += [str(e.event_id) for e in EventBatch.model_validate_json(message.body).events]
        else:
            ids.append(message.message_id or "")
    return len(ids), len(set(ids))


async def one_pass(
    name: str,
    *,
    db: AsyncDatabase[dict[str, Any]],
    exchange: AbstractExchange,
    queue: AbstractQueue,
    now: datetime,
) -> Pass:
    started = time.perf_counter()
    result = await scan_once(
        now=now,
        slots=SlotIndex(db),
        records=LadderRecords(db),
        region=RegionStore(db),
        publisher=EventPublisher(exchange, timeout=10.0),
    )
    seconds = time.perf_counter() - started
    count, distinct = await received(queue, result.published)
    return Pass(name, result, seconds, count, distinct)


async def broker_floor(
    seeded: Seeded,
    *,
    region: RegionStore,
    exchange: AbstractExchange,
    queue: AbstractQueue,
    now: datetime,
    chunk_size: int = 1000,
) -> tuple[float, float]:
    """Seconds to publish the pass's events, confirmed, in batch messages as the scan does,
    with no database work at all (what no pass can beat on this broker), and one by one,
    a chunk at a time."""
    due = due_in({d["_id"]: d["e"] for d in seeded.due_slots}, now)
    people = Recipients(region)
    envelopes = [
        await step_envelope(d.entry, point, now=now, people=people)
        for d in due
        for point in d.points
    ]
    publisher = EventPublisher(exchange, timeout=10.0)
    started = time.perf_counter()
    await publish_in_batches(publisher, envelopes, size=chunk_size)
    batched = time.perf_counter() - started
    await received(queue, len(envelopes))
    started = time.perf_counter()
    for at in range(0, len(envelopes), chunk_size):
        await asyncio.gather(*(publisher.publish(e) for e in envelopes[at : at + chunk_size]))
    one_by_one = time.perf_counter() - started
    await received(queue, len(envelopes))
    return batched, one_by_one


def print_pass(run: Pass) -> None:
    r = run.result
    seconds = dict(r.seconds)
    seconds["rest"] = run.seconds - sum(r.seconds.values())  # the phases one after another
    phases = " · ".join(f"{phase} {s:.2f}" for phase, s in seconds.items())
    print(
        f"{run.name:<9} slots read {r.slots_read:>5,} · due {r.due:>7,} · published "
        f"{r.published:>7,} · already {r.already:>7,} · {run.seconds:6.2f} s ({phases})"
        + (" · stopped at its budget" if r.more else "")
    )
    print(
        f"{'':<9} broker received {run.received:,} ladder events, {run.distinct:,} distinct levels"
    )


async def cleanup(channel: AbstractChannel, *, exchange: str, prefix: str) -> None:
    for consumer in CONSUMER_QUEUES:
        await channel.queue_delete(queue_name(prefix, consumer.service))
        await channel.queue_delete(parking_queue_name(prefix, consumer.service))
    await channel.exchange_delete(exchange)
    await channel.exchange_delete(parking_exchange_name(exchange))


async def measure(infra: Infrastructure, options: Options) -> Report:
    """Seed, run the three passes, print as it goes; everything it made is dropped."""
    run = uuid4().hex[:8]
    database, exchange_name, prefix = f"huiyin_bench_sla_{run}", f"huiyin.bench.{run}", run
    client = mongo_client(infra.mongo_url)
    connection = await aio_pika.connect(infra.amqp_url)
    try:
        db = client[database]
        region = read_region(REGION_FILE)
        await RegionStore(db).load(region)
        now = datetime.now(UTC).replace(microsecond=0)
        seeded = await seed(db, options, now=now, region=region)
        report = Report(seeded)
        print(
            f"seeded    {seeded.open_clocks:,} open clocks ({seeded.due:,} due) in "
            f"{seeded.slot_documents:,} slot documents; "
            + (
                f"{seeded.clock_documents:,} clock documents"
                if options.with_clocks
                else "clock documents left out (--with-clocks adds them): the pass never reads one"
            )
            + f"; {seeded.seconds:.0f} s"
        )
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_topology(
            channel, exchange=exchange_name, prefix=prefix, delivery_limit=5
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in (*LADDER_EVENTS, LADDER_BATCH):
            await queue.bind(exchange, routing_key=key)
        try:
            report.passes.append(
                await one_pass("pass 1", db=db, exchange=exchange, queue=queue, now=now)
            )
            print_pass(report.first)
            report.passes.append(
                await one_pass("pass 2", db=db, exchange=exchange, queue=queue, now=now)
            )
            print_pass(report.passes[-1])
            # As if the first pass had died before removing its entries: all found again.
            for document in seeded.due_slots:  # by `_id`: `$in` would read every slot
                await db[SLOTS].replace_one({"_id": document["_id"]}, document, upsert=True)
            # Back, as `set_cursor` never moves it.
            await db[SCAN_STATE].replace_one({"_id": CURSOR}, {"through": seeded.cursor})
            report.passes.append(
                await one_pass("replayed", db=db, exchange=exchange, queue=queue, now=now)
            )
            print_pass(report.passes[-1])
            report.floor_seconds, one_by_one = await broker_floor(
                seeded, region=RegionStore(db), exchange=exchange, queue=queue, now=now
            )
            print(
                f"floor     the broker alone: {seeded.due:,} ladder events published and "
                f"confirmed on the same topology in {report.floor_seconds:.2f} s as batch "
                f"messages of 1,000, {one_by_one:.2f} s one by one"
            )
        finally:
            await cleanup(channel, exchange=exchange_name, prefix=prefix)
        verdict = "PASS" if report.met else "FAIL"
        print(
            f"result    one pass over {seeded.open_clocks:,} open clocks, {seeded.due:,} due: "
            f"{report.first.seconds:.2f} s, target < {TARGET_SECONDS:.0f} s: {verdict}"
        )
        return report
    finally:
        await connection.close()
        await client.drop_database(database)
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clocks", type=int, default=Options.clocks, help="open clocks")
    parser.add_argument("--due", type=int, default=Options.due, help="of them, due")
    parser.add_argument(
        "--due-minutes",
        type=int,
        default=Options.due_minutes,
        help="minutes since the cursor the due clocks are listed in (1: a day's end)",
    )
    parser.add_argument("--future-days", type=int, default=Options.future_days)
    parser.add_argument("--per-slot", type=int, default=Options.per_slot)
    parser.add_argument("--with-clocks", action="store_true", help="insert the clock documents too")
    parser.add_argument("--quick", action="store_true", help="20,000 clocks, 500 due")
    args = parser.parse_args(argv)
    options = Options(
        clocks=20_000 if args.quick else args.clocks,
        due=500 if args.quick else args.due,
        due_minutes=args.due_minutes,
        future_days=args.future_days,
        per_slot=args.per_slot,
        with_clocks=args.with_clocks,
    )
    if not 0 < options.due <= options.clocks:
        parser.error("--due must be at least 1 and at most --clocks")
    infra = provide_infrastructure() if os.environ.get("HUIYIN_MONGO_URL") else native()
    try:
        print(f"infrastructure: {infra.kind}; broker and database on this host")
        report = asyncio.run(measure(infra, options))
    finally:
        infra.close()
    raise SystemExit(0 if report.met else 1)


if __name__ == "__main__":
    main()
