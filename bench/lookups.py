"""Lookups benchmark: the complainant's tracking page and staff's case-number lookup over
three years of a 200-hospital region, about 1,000,000 complaints, on the embedded
MongoDB-wire server (issue 13; target: p99 under 100 ms).

What is seeded, and why this way:
- The history is bench/region_history.py's (deterministic from `--seed`); each complaint is
  stored as intake's record of it (`complaint_document`) with its two lookup keys as
  registration writes them (`key_documents`, services/intake/adapters/complaint_keys.py),
  into the `complaints` and `complaint_keys` collections of a database of the run's own,
  with `insert_many`, `STATEMENTS_PER_COMMAND` documents a command (shared/bulk_writes.py).
  The keys are marked complete, as on a database whose every complaint was registered with
  its keys (or after `python -m services.intake.rebuild_keys`).
- The region file is loaded (deploy/admin.load_region) so its hospitals' staff exist, and
  their systems' assertion keys registered as the bureau does (bench/pipeline.py): staff
  lookups are made by a hospital's system for its complaint office, with a fresh signed
  assertion each, as in production.

Measured: the real intake service (`python -m services.intake`, as deploy/processes.py
starts it; its start is timed too: it builds the indexes and runs migrations.py's scan over
the seeded complaints, so its background database timeout is raised for the run) over
HTTP, one request at a time after a few to warm up, each on a complaint drawn at random
from the history: the tracking lookup (no login), the case-number lookup and
`GET /v1/complaints/{id}` (the complaints of the region file's hospitals, which are among
the history's), and an unknown tracking code (a 404 from the keys alone). For information,
no target: the first page of `GET /v1/complaints?hospital_id=...`, a filtered and sorted
query that FerretDB v1 answers by reading every complaint (slow, slower as the history
grows, and past the request's database deadline a 503). Before intake starts, the same
list query and the tracking lookup as it was before the keys (an unknown code) are timed
straight to the database, without a deadline.

`--outbox-sweep-seconds S` (repeatable: one pass of the service each, on the same seeding)
sets intake's outbox sweep, whose first pass after start (and one every
HUIYIN_OUTBOX_FULL_SWEEP_SECONDS) reads every complaint (`outbox_pending` is not `_id`;
shared/outbox.py): a pass with 3600 shows the lookups without that scan running beside them.

Names are the run's own (databases, exchange, queues), dropped at the end, so the benchmark
can share servers with a running platform.

Usage: `uv run --frozen python -m bench.lookups [--complaints 1000000 --hospitals 200
--months 36]`; `--quick` for a small region (20 hospitals, 12 months, 20,000 complaints).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import aio_pika
import httpx
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.errors import PyMongoError

from bench.pipeline import HOSPITALS, office_headers, register_staff_keys
from bench.region_history import ComplaintHistory, HistoryShape, complaint_document, histories
from bench.reports import insert_in_commands
from bench.sla_scan import cleanup
from deploy.admin import load_region
from deploy.demo import AUDIENCE, REGION_FILE
from deploy.processes import start_service, stop_services
from deploy.servers import REPO, Infrastructure, free_port, native, provide_infrastructure
from services.intake.adapters.complaint_keys import ComplaintKeys, key_documents
from services.intake.adapters.complaint_views import COLLECTION as VIEWS
from services.intake.adapters.complaints import ComplaintRepository
from services.intake.domain import worklists
from services.routing.settings import RoutingSettings
from shared.auth import hash_key
from shared.bulk_writes import bulk_write_in_chunks
from shared.mongo_clients import bounded
from shared.runtime import mongo_client

TARGET_MS = 100.0
CHUNK = 1000  # complaints generated, then inserted, at a time
WARM_UP = 5
# The worklists' routes, by the view kind they read (services/intake/api/worklists.py).
WORKLIST_PATHS = {
    "handler": "/v1/worklists/handlers",
    "department": "/v1/worklists/departments",
    "acceptance": "/v1/worklists/acceptance",
    "overdue": "/v1/worklists/overdue",
}
START_TIMEOUT = 3600.0  # the service builds its indexes over the seeded complaints at start
DIRECT_TIMEOUT = 60.0  # a query timed straight to the database, for comparison


@dataclass(frozen=True)
class Options:
    shape: HistoryShape = field(default_factory=HistoryShape)
    requests: int = 300
    seed: int = 13
    # intake's HUIYIN_OUTBOX_SWEEP_SECONDS, one pass each (None: the service's default)
    sweeps: tuple[float | None, ...] = (None,)


@dataclass(frozen=True)
class Sampled:
    """One seeded complaint, as the lookups name it."""

    complaint_id: str
    hospital_id: str
    case_number: str
    tracking_code: str


@dataclass
class Seeded:
    complaints: int = 0
    keys: int = 0
    generate_seconds: float = 0.0
    insert_seconds: float = 0.0
    seconds: float = 0.0
    anyone: list[Sampled] = field(default_factory=list)  # from every hospital
    staff: list[Sampled] = field(default_factory=list)  # from the region file's hospitals
    # Worklists of the region file's hospitals that list something: (hospital, path).
    worklists: dict[str, tuple[str, str]] = field(default_factory=dict)
    received: list[datetime] = field(default_factory=list)  # the first and last seeded

    @property
    def per_second(self) -> float:
        return self.complaints / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Line:
    name: str
    target: bool
    status: int = 0
    latencies_ms: tuple[float, ...] = ()

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

    @property
    def met(self) -> bool:
        return self.status in (200, 404) and self.p99 < TARGET_MS


# --- seeding ---------------------------------------------------------------------------


class Reservoir:
    """A uniform sample of `size` items of a stream (Algorithm R), reproducible by seed."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.rng, self.seen, self.items = size, rng, 0, list[Sampled]()

    def offer(self, item: Sampled) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        elif (slot := self.rng.randrange(self.seen)) < self.size:
            self.items[slot] = item


@dataclass
class Chunk:
    documents: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    views: list[UpdateOne]
    seconds: float


async def seed(db: Any, options: Options) -> Seeded:
    """Every complaint of the history and its keys, CHUNK complaints at a time: the next
    chunk is generated (in a thread) while the last one is inserted."""
    started = time.perf_counter()
    seeded = Seeded()
    rng = random.Random(options.seed)
    # Two samples a line (each lookup reads complaints of its own, none warmed by another).
    anyone = Reservoir(2 * (options.requests + WARM_UP), rng)
    staff = Reservoir(2 * (options.requests + WARM_UP), rng)
    complaints, keys = db["complaints"], db["complaint_keys"]
    views = db[VIEWS]
    stream = histories(options.shape)

    def generate() -> Chunk:
        generating = time.perf_counter()
        documents: list[dict[str, Any]] = []
        lookup_keys: list[dict[str, Any]] = []
        for history in _take(stream, CHUNK):
            document = complaint_document(history)
            documents.append(document)
            at = document["received_at"]
            first, last = seeded.received or (at, at)
            seeded.received[:] = [min(at, first), max(at, last)]
            lookup_keys.extend(key_documents(document))
            sampled = _sampled(history)
            anyone.offer(sampled)
            if history.hospital_id in HOSPITALS:
                staff.offer(sampled)
        views = view_writes(worklists.rebuilt(documents), seeded.worklists)
        return Chunk(documents, lookup_keys, views, time.perf_counter() - generating)

    next_chunk = asyncio.create_task(asyncio.to_thread(generate))
    while True:
        chunk = await next_chunk
        seeded.generate_seconds += chunk.seconds
        if not chunk.documents:
            break
        next_chunk = asyncio.create_task(asyncio.to_thread(generate))
        inserting = time.perf_counter()
        await insert_in_commands(complaints, chunk.documents)
        await insert_in_commands(keys, chunk.keys)
        await bulk_write_in_chunks(views, chunk.views, ordered=False)
        seeded.insert_seconds += time.perf_counter() - inserting
        seeded.complaints += len(chunk.documents)
        seeded.keys += len(chunk.keys)
        if seeded.complaints % 100_000 < CHUNK:
            elapsed = time.perf_counter() - started
            print(f"    … {seeded.complaints:,} complaints in {elapsed:.0f} s", flush=True)
    await ComplaintKeys(db).mark_complete(by="bench.lookups (every complaint seeded with keys)")
    seeded.anyone, seeded.staff = anyone.items, staff.items
    seeded.seconds = time.perf_counter() - started
    return seeded


def view_writes(
    wanted: dict[str, dict[str, Any]], found: dict[str, tuple[str, str]]
) -> list[UpdateOne]:
    """The views of one chunk's complaints (intake's own projection, domain/worklists.py)
    as upserts that add to what earlier chunks wrote; notes in `found` a worklist of each
    kind of the region file's hospitals that lists something, for the requests."""
    writes = []
    for view_id, view in wanted.items():
        if "first" in view:
            writes.append(UpdateOne({"_id": view_id}, {"$min": {"first": view["first"]}}, True))
            continue
        fields = {f"rows.{key}": row for key, row in view["rows"].items()}
        writes.append(UpdateOne({"_id": view_id}, {"$set": fields}, upsert=True))
        kind, scope, *member = view_id.split(":", 2)
        if scope in HOSPITALS and kind in WORKLIST_PATHS and kind not in found:
            path = WORKLIST_PATHS[kind] + (f"/{member[0]}" if member else "")
            found[kind] = (scope, path)
    return writes


def _take(stream: Any, count: int) -> list[ComplaintHistory]:
    taken = []
    for history in stream:
        taken.append(history)
        if len(taken) >= count:
            break
    return taken


def _sampled(history: ComplaintHistory) -> Sampled:
    return Sampled(
        history.complaint_id, history.hospital_id, history.case_number, history.tracking_code
    )


# --- the service and the requests -------------------------------------------------------


def unknown_code(n: int) -> str:
    """A well-formed tracking code no seeded complaint has (theirs are digits only)."""
    raw = f"{n % 10**12:012d}".translate(str.maketrans("0123456789", "ABCDEFGHJK"))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


async def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> float:
    """Seconds until intake answers /readyz (its start builds the indexes)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() - started < START_TIMEOUT:
            if process.poll() is not None:
                raise RuntimeError(f"intake exited; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return time.monotonic() - started
            await asyncio.sleep(0.5)
    raise RuntimeError(f"intake not ready after {START_TIMEOUT:.0f} s; see {log}")


Request = Callable[[httpx.AsyncClient, Sampled], Any]


async def time_line(
    http: httpx.AsyncClient,
    name: str,
    request: Request,
    samples: list[Sampled],
    *,
    expect: int = 200,
    target: bool = True,
    warm_up: int = WARM_UP,
) -> Line:
    """One request per sample, one at a time; the first `warm_up` are not counted. A
    lookup stops at the first answer it did not expect; a line without target goes on."""
    latencies: list[float] = []
    status = expect
    for n, sample in enumerate(samples):
        started = time.perf_counter()
        response = await request(http, sample)
        elapsed = (time.perf_counter() - started) * 1000
        if n >= warm_up:
            latencies.append(elapsed)
        if response.status_code != expect:
            status = response.status_code
            if target:
                break
    return Line(name, target, status, tuple(latencies) or (0.0,))


def print_line(line: Line) -> None:
    verdict = ("PASS" if line.met else "FAIL") if line.target else "(no target)"
    status = "" if line.status in (200, 404) else f" · HTTP {line.status}"
    print(
        f"{line.name:<48} p50 {line.p50:8.1f} ms · p99 {line.p99:8.1f} ms · "
        f"{len(line.latencies_ms):>4} requests{status} · {verdict}",
        flush=True,
    )


def sweep_label(sweep: float | None) -> str:
    return f"outbox sweep every {sweep:g} s" if sweep is not None else "outbox sweep as configured"


async def measure(infra: Infrastructure, options: Options) -> list[Line]:
    """Seed, then for each sweep setting start intake on the seeded database and time each
    line; print as it goes; everything it made is dropped."""
    run = uuid4().hex[:8]
    database = f"huiyin_bench_lookups_{run}"
    region_databases = {"routing": f"{database}_routing", "notification": f"{database}_notice"}
    client = mongo_client(infra.mongo_url)
    lines: list[Line] = []
    try:
        shape = options.shape
        await load_region(
            REGION_FILE,
            RoutingSettings(mongo_url=infra.mongo_url, database=region_databases["routing"]),
            intake_database=database,
            notification_database=region_databases["notification"],
        )
        seeded = await seed(client[database], options)
        documents = seeded.complaints + seeded.keys
        print(
            f"seeded    {seeded.complaints:,} complaints of {shape.hospitals} hospitals over "
            f"{shape.months} months + {seeded.keys:,} lookup keys = {documents:,} documents "
            f"in {seeded.seconds:.1f} s ({seeded.per_second:,.0f} complaints/s; inserting "
            f"{seeded.insert_seconds:.1f} s, generating {seeded.generate_seconds:.1f} s "
            "meanwhile in a thread)",
            flush=True,
        )
        # Before intake starts, so that nothing else reads the database meanwhile.
        direct = await straight_to_the_database(
            infra.mongo_url, database, hospital_id=seeded.staff[0].hospital_id
        )
        for what, seconds in direct.items():
            took = f"{seconds:8.1f} s" if seconds is not None else f"over {DIRECT_TIMEOUT:.0f} s"
            print(f"{what:<48} {took} straight to the database, without a deadline", flush=True)
        for sweep in options.sweeps:
            lines += await service_pass(infra, database, seeded, sweep=sweep, run=run)
        met = all(line.met for line in lines if line.target)
        print(
            f"result    {options.requests} requests a lookup over {seeded.complaints:,} "
            f"complaints: every lookup's p99 < {TARGET_MS:.0f} ms: {'PASS' if met else 'FAIL'}",
            flush=True,
        )
        return lines
    finally:
        for name in (database, *region_databases.values()):
            await client.drop_database(name)
        await client.close()


async def service_pass(
    infra: Infrastructure, database: str, seeded: Seeded, *, sweep: float | None, run: str
) -> list[Line]:
    """Start intake on the seeded database, time each line, stop it and remove its queues."""
    exchange, prefix = f"huiyin.bench.{run}", run
    keys = {name: f"bench-{run}-{name}" for name in ("bureau", *HOSPITALS)}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs = REPO / ".huiyin" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"bench-lookups-{run}.log"
    env = {
        **os.environ,
        "HUIYIN_ENV": "test",
        "HUIYIN_MONGO_URL": infra.mongo_url,
        "HUIYIN_AMQP_URL": infra.amqp_url,
        "HUIYIN_DATABASE": database,
        "HUIYIN_EXCHANGE": exchange,
        "HUIYIN_QUEUE_PREFIX": prefix,
        "HUIYIN_API_KEYS": ",".join(f"{n}:{hash_key(k)}" for n, k in keys.items()),
        "HUIYIN_HTTP_PORT": str(port),
        "HUIYIN_LOG_LEVEL": "WARNING",
        "HUIYIN_IDENTITY_KEY": base64.b64encode(os.urandom(32)).decode(),
        "HUIYIN_ASSERTION_AUDIENCE": AUDIENCE,
        # Background work only (requests keep their own deadline): intake's start reads
        # every complaint once (migrations.py), longer than the default 30 s allows.
        "HUIYIN_DATABASE_TIMEOUT_SECONDS": str(START_TIMEOUT),
    }
    if sweep is not None:
        env["HUIYIN_OUTBOX_SWEEP_SECONDS"] = str(sweep)
    process = start_service("intake", env=env, log=log)
    lines: list[Line] = []
    try:
        started = await wait_ready(url, process, log)
        print(
            f"started   intake on the seeded database in {started:.1f} s ({sweep_label(sweep)})",
            flush=True,
        )
        await asyncio.to_thread(register_staff_keys, url, keys)

        def office(sample: Sampled) -> dict[str, str]:
            return office_headers(keys, sample.hospital_id)

        async def track(http: httpx.AsyncClient, s: Sampled) -> httpx.Response:
            return await http.get(f"/v1/track/{s.tracking_code}")

        async def by_number(http: httpx.AsyncClient, s: Sampled) -> httpx.Response:
            path = f"/v1/complaints/by-case-number/{s.case_number}"
            return await http.get(path, headers=office(s))

        async def by_id(http: httpx.AsyncClient, s: Sampled) -> httpx.Response:
            return await http.get(f"/v1/complaints/{s.complaint_id}", headers=office(s))

        async def no_such_code(http: httpx.AsyncClient, s: Sampled) -> httpx.Response:
            return await http.get(f"/v1/track/{unknown_code(UUID(s.complaint_id).int)}")

        bureau = {"Authorization": f"Bearer {keys['bureau']}"}

        async def first_page(http: httpx.AsyncClient, s: Sampled) -> httpx.Response:
            params = {"hospital_id": s.hospital_id, "limit": "20"}
            return await http.get("/v1/complaints", params=params, headers=bureau)

        async def region_page(http: httpx.AsyncClient, s: Sampled) -> httpx.Response:
            return await http.get("/v1/complaints", params={"limit": "20"}, headers=bureau)

        first, last = seeded.received
        deep = first + (last - first) / 3  # a third of the way in, from the oldest

        async def deep_page(http: httpx.AsyncClient, s: Sampled) -> httpx.Response:
            # Deep in the history, where a browser paging back arrives.
            before = deep
            params = {
                "hospital_id": s.hospital_id,
                "limit": "20",
                "received_to": before.isoformat(),
            }
            return await http.get("/v1/complaints", params=params, headers=bureau)

        def worklist(kind: str) -> Any:
            hospital, path = seeded.worklists[kind]

            async def read(http: httpx.AsyncClient, s: Sampled) -> httpx.Response:
                params = {"hospital_id": hospital, "limit": "20"}
                return await http.get(path, params=params, headers=bureau)

            return read

        # Each lookup its own complaints: none warmed by another line.
        anyone = (seeded.anyone[::2], seeded.anyone[1::2])
        staff = (seeded.staff[::2], seeded.staff[1::2])  # of the region file's hospitals
        async with httpx.AsyncClient(base_url=url, timeout=300) as http:
            for name, request, samples, expect in (
                ("tracking lookup      GET /v1/track/{code}", track, anyone[0], 200),
                ("case-number lookup   …/by-case-number/{n}", by_number, staff[0], 200),
                ("complaint by id      GET /v1/complaints/{id}", by_id, staff[1], 200),
                ("unknown code (404)   GET /v1/track/{code}", no_such_code, anyone[1], 404),
            ):
                line = await time_line(http, name, request, samples, expect=expect)
                lines.append(line)
                print_line(line)
            pages = [
                ("list, first page     GET /v1/complaints?hospital_id", first_page),
                ("list, region's first GET /v1/complaints (bureau)", region_page),
                ("list, deep in history …&received_to=", deep_page),
            ]
            pages += [
                (f"worklist {kind:12}{path.split('?')[0]}", worklist(kind))
                for kind, (_, path) in sorted(seeded.worklists.items())
            ]
            for name, request in pages:
                line = await time_line(http, name, request, staff[0], expect=200)
                lines.append(line)
                print_line(line)
        return lines
    finally:
        stop_services([process])
        await _remove_topology(infra.amqp_url, exchange=exchange, prefix=prefix)


async def straight_to_the_database(
    mongo_url: str, database: str, *, hospital_id: str
) -> dict[str, float | None]:
    """For comparison, timed once with intake's repository but without a request's
    deadline (None: not answered within DIRECT_TIMEOUT): the list route's first page, and
    the tracking lookup as it was before the keys for a code no complaint has (its indexed
    query, which FerretDB v1 answers by reading every complaint; a known code's reads the
    complaints until it finds the one, half of them on average)."""
    # Not retried: a read timed out would run again, and take twice as long to give up.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_url, **bounded(DIRECT_TIMEOUT), retryReads=False
    )
    try:
        repository = ComplaintRepository(client[database])

        async def seconds(query: Any) -> float | None:
            started = time.perf_counter()
            try:
                await query
            except PyMongoError:
                return None
            return time.perf_counter() - started

        page = repository.page(filters={"hospital_id": hospital_id}, limit=20, cursor=None)
        old_lookup = repository.collection.find_one({"tracking_code": unknown_code(0)})
        return {
            "list, first page: the same query": await seconds(page),
            "before the keys: an unknown code's query": await seconds(old_lookup),
        }
    finally:
        await client.close()


async def _remove_topology(amqp_url: str, *, exchange: str, prefix: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        await cleanup(await connection.channel(), exchange=exchange, prefix=prefix)
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default = HistoryShape()
    parser.add_argument("--complaints", type=int, default=default.total)
    parser.add_argument("--hospitals", type=int, default=default.hospitals)
    parser.add_argument("--months", type=int, default=default.months)
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--last-month", help="YYYY-MM; default the last full month")
    parser.add_argument("--requests", type=int, default=Options.requests, help="per lookup")
    parser.add_argument(
        "--outbox-sweep-seconds",
        type=float,
        action="append",
        help="intake's HUIYIN_OUTBOX_SWEEP_SECONDS (default: the service's own); given more "
        "than once, one pass each on the same seeding. The first sweep after start reads every "
        "complaint, so a long one (3600) shows the lookups without that scan beside them",
    )
    parser.add_argument(
        "--quick", action="store_true", help="20 hospitals, 12 months, 20,000 complaints"
    )
    args = parser.parse_args(argv)
    shape = HistoryShape(
        hospitals=20 if args.quick else args.hospitals,
        months=12 if args.quick else args.months,
        total=20_000 if args.quick else args.complaints,
        seed=args.seed,
        last_month=args.last_month,
    )
    if shape.hospitals < len(HOSPITALS) or shape.months < 1 or args.requests < 1:
        parser.error(f"--hospitals ≥ {len(HOSPITALS)}, --months and --requests ≥ 1")
    # A long run stopped with SIGTERM still drops its databases and stops its servers.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    infra = provide_infrastructure() if os.environ.get("HUIYIN_MONGO_URL") else native()
    try:
        print(f"infrastructure: {infra.kind}; intake, broker and database on this host")
        sweeps = tuple(args.outbox_sweep_seconds or [None])
        options = Options(shape=shape, requests=args.requests, sweeps=sweeps)
        lines = asyncio.run(measure(infra, options))
    finally:
        infra.close()
    raise SystemExit(0 if all(line.met for line in lines if line.target) else 1)


if __name__ == "__main__":
    main()
