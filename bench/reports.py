"""Reports benchmark: the monthly classification table (and the quarterly analysis, where
the service has it) over three years of a 200-hospital region, about 1,000,000 complaints,
on the embedded MongoDB-wire server (issue 12; target: under 300 ms each).

What is seeded, and why this way:
- The history is bench/region_history.py's (deterministic from `--seed`): each complaint's
  fact document as reporting holds it once all its events are applied.
- What the reports read is reporting's counter documents (computed pattern,
  services/reporting/domain/classification.py), so those are seeded, exactly as the live
  consumer leaves them: each complaint's contribution (`contribution_of`) added with
  `counter_moves(None, …)` and `apply_update`, then the recurring groups derived from a
  quarter's recurrence buckets (`recurring_documents`): what `counter_documents` and the
  rebuild do, so a change of the counter layout changes the seeding with it. The fact
  documents themselves are not stored: the tables never read one (which is the point), and
  1,000,000 of them through FerretDB would take some ten minutes more.
- Streaming: the history comes month by month, and the documents of a period (month
  `<YYYYMM>/…`, quarter `<YYYYQn>/…`, year `<YYYY>/…`) are complete once a later month
  starts, so they are inserted then and dropped from memory; documents of no period (the
  categories list, the overdue gauge) are kept to the end. A complaint counting in a
  period already written fails the run (the layout would no longer be by the period of
  receipt: seed differently then).
- Inserted with `insert_many`, `STATEMENTS_PER_COMMAND` documents a command
  (shared/bulk_writes.py), into `report_counters` of a database of the run's own.

Measured: the real reporting service (`python -m services.reporting`, as deploy/processes.py
starts it) against that database, over HTTP with the bureau's key, `--requests` requests
after two to warm up, one at a time: the bureau's table of the latest month, one
hospital's table of that month (by departments; the region file's first hospital), the
bureau's table of the latest calendar quarter, the bureau's table of the whole history
(36 months: for information, no target), and `GET /v1/reports/quarterly` if the service
has it (found in its OpenAPI document). Printed per line: p50, p99, the documents the route
reads by `_id` (the categories list, then per month each category's document or the
hospital's), the response's size, and the verdict of p99 against the target.

Names are the run's own (database, exchange, queues), dropped at the end, so the benchmark
can share servers with a running platform.

Usage: `uv run --frozen python -m bench.reports [--complaints 1000000 --hospitals 200
--months 36]`; `--quick` for a small region (20 hospitals, 12 months, 20,000 complaints).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import resource
import statistics
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

import aio_pika
import httpx
from pymongo.asynchronous.collection import AsyncCollection

from bench.region_history import HistoryShape, fact_documents
from bench.sla_scan import cleanup
from deploy.processes import start_service, stop_services
from deploy.servers import REPO, Infrastructure, free_port, native, provide_infrastructure
from services.reporting.adapters.report_counters import COLLECTION
from services.reporting.domain.classification import (
    CATEGORIES_ID,
    apply_update,
    contribution_of,
    counter_moves,
    covering_periods,
    recurring_documents,
)
from shared.auth import hash_key
from shared.bulk_writes import STATEMENTS_PER_COMMAND
from shared.runtime import mongo_client

TARGET_MS = 300.0
MONTH, QUARTER, YEAR = re.compile(r"\d{6}"), re.compile(r"\d{4}Q[1-4]"), re.compile(r"\d{4}")
QUARTERLY_PATH = "/v1/reports/quarterly"
HOSPITAL = "hz-001"  # whose table is timed: the region file's first, a large one


@dataclass(frozen=True)
class Options:
    shape: HistoryShape = field(default_factory=HistoryShape)
    requests: int = 20


@dataclass
class Seeded:
    complaints: int = 0
    documents: int = 0
    categories: int = 0
    insert_seconds: float = 0.0
    seconds: float = 0.0
    peak_rss_mib: float = 0.0


@dataclass(frozen=True)
class Line:
    name: str
    path: str
    params: dict[str, str]
    documents: int | None  # read by `_id`, if known
    target: bool = True  # judged against TARGET_MS
    status: int = 0
    latencies_ms: tuple[float, ...] = ()
    size: int = 0
    answer: Any = None  # the last response's JSON

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

    @property
    def met(self) -> bool:
        return self.status == 200 and self.p99 < TARGET_MS


@dataclass
class Report:
    seeded: Seeded
    lines: list[Line] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return all(line.met for line in self.lines if line.target)


# --- seeding ---------------------------------------------------------------------------


def last_month_of(doc_id: str) -> str | None:
    """The last month (YYYYMM) a counter document's period covers, from its `_id`'s first
    part: a month `202602`, a quarter `2026Q1`, a year `2026`; None for a document of no
    period (the categories list, the overdue gauge)."""
    period = doc_id.split("/", 1)[0]
    if MONTH.fullmatch(period):
        return period
    if QUARTER.fullmatch(period):
        return f"{period[:4]}{int(period[5]) * 3:02d}"
    if YEAR.fullmatch(period):
        return f"{period}12"
    return None


def counter_batches(facts: Iterable[Mapping[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The counter documents of `facts` (given month of receipt by month), as
    `counter_documents` computes them, in batches: a period's documents once a complaint of
    a later month comes, the rest at the end."""
    documents: dict[str, dict[str, Any]] = {}
    written: set[str] = set()
    month: str | None = None
    for one in facts:
        contribution = contribution_of(one)
        if contribution is not None and contribution.month != month:
            if month is not None:
                now = contribution.month
                done = [d for d in documents if (last_month_of(d) or now) < now]
                written.update(done)
                batch = [documents.pop(doc_id) for doc_id in done]
                yield [*batch, *recurring_documents(batch).values()]
            month = contribution.month
        for doc_id, update in counter_moves(None, contribution).items():
            if doc_id in written:
                raise ValueError(
                    f"{doc_id}: a complaint of {month} counts in a period already written"
                )
            apply_update(documents.setdefault(doc_id, {"_id": doc_id}), update)
    yield [*documents.values(), *recurring_documents(documents.values()).values()]


async def insert_in_commands(
    collection: AsyncCollection[dict[str, Any]], documents: list[dict[str, Any]]
) -> None:
    for start in range(0, len(documents), STATEMENTS_PER_COMMAND):
        await collection.insert_many(documents[start : start + STATEMENTS_PER_COMMAND])


class Counted:
    """Passes the facts through, counting them."""

    def __init__(self, facts: Iterable[dict[str, Any]]) -> None:
        self.facts, self.count = facts, 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for one in self.facts:
            self.count += 1
            yield one


async def seed(collection: AsyncCollection[dict[str, Any]], shape: HistoryShape) -> Seeded:
    started = time.perf_counter()
    seeded = Seeded()
    facts = Counted(fact_documents(shape))
    for batch in counter_batches(facts):
        inserting = time.perf_counter()
        await insert_in_commands(collection, batch)
        seeded.insert_seconds += time.perf_counter() - inserting
        seeded.documents += len(batch)
        for document in batch:
            if document["_id"] == CATEGORIES_ID:
                seeded.categories = len(document.get("c") or {})
    seeded.complaints = facts.count
    seeded.seconds = time.perf_counter() - started
    seeded.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return seeded


# --- the service and the requests -------------------------------------------------------


async def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"reporting exited; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"reporting not ready after 60 s; see {log}")


def _month(day: date) -> str:
    return f"{day:%Y-%m}"


def lines_to_measure(
    shape: HistoryShape, *, categories: int, hospital: str, openapi: Mapping[str, Any]
) -> list[Line]:
    """The requests timed. Documents read as the monthly route reads them: the categories
    list, then per period (`covering_periods`: whole years and quarters from their rollup
    documents) each category's document (bureau) or the hospital's."""
    months = shape.month_list()
    last = months[-1]
    quarter = [
        m for m in months if (m.year, (m.month - 1) // 3) == (last.year, (last.month - 1) // 3)
    ]
    if len(quarter) < 3 and len(months) >= 3:  # the latest quarter not complete: the one before
        index = months.index(quarter[0])
        quarter = months[max(0, index - 3) : index]
    year, q = quarter[0].year, (quarter[0].month - 1) // 3 + 1

    def periods(first: date, to: date) -> int:
        return len(covering_periods([f"{m:%Y%m}" for m in months if first <= m <= to]))

    path = "/v1/reports/monthly"
    month = {"from": _month(last), "to": _month(last)}
    lines = [
        Line(f"bureau, month {_month(last)}", path, month, 1 + categories),
        Line(
            f"hospital {hospital}, month {_month(last)}",
            path,
            month | {"hospital_id": hospital},
            2,
        ),
        Line(
            f"bureau, quarter {year}Q{q}",
            path,
            {"from": _month(quarter[0]), "to": _month(quarter[-1])},
            1 + categories * periods(quarter[0], quarter[-1]),
        ),
        Line(
            f"bureau, all {len(months)} months",
            path,
            {"from": _month(months[0]), "to": _month(last)},
            1 + categories * periods(months[0], last),
            target=False,
        ),
    ]
    operation = (openapi.get("paths") or {}).get(QUARTERLY_PATH, {}).get("get")
    if operation is not None:
        parameters = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
        params: dict[str, str] = {}
        for parameter in parameters:
            if parameter.get("name") == "quarter":
                pattern = (parameter.get("schema") or {}).get("pattern") or ""
                candidates = (f"{year}Q{q}", f"{year}-Q{q}")
                params["quarter"] = next(
                    (c for c in candidates if re.search(pattern, c)), candidates[0]
                )
        by_hospital = params | {"hospital_id": hospital}
        lines += [
            Line(f"quarterly analysis, bureau {year}Q{q}", QUARTERLY_PATH, params, None),
            Line(f"quarterly analysis, {hospital} {year}Q{q}", QUARTERLY_PATH, by_hospital, None),
        ]
    return lines


async def time_line(http: httpx.AsyncClient, line: Line, requests: int) -> Line:
    latencies: list[float] = []
    response: httpx.Response | None = None
    for n in range(requests + 2):
        started = time.perf_counter()
        response = await http.get(line.path, params=line.params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            break
        if n >= 2:  # two to warm up
            latencies.append(elapsed)
    assert response is not None
    return Line(
        line.name,
        line.path,
        line.params,
        line.documents,
        line.target,
        response.status_code,
        tuple(latencies) or (0.0,),
        len(response.content),
        response.json() if response.status_code == 200 else None,
    )


def print_line(line: Line) -> None:
    if line.status != 200:
        print(f"{line.name:<34} HTTP {line.status}: not measured; FAIL")
        return
    documents = f"{line.documents:>5,}" if line.documents is not None else "    —"
    verdict = ("PASS" if line.met else "FAIL") if line.target else "(no target)"
    print(
        f"{line.name:<34} p50 {line.p50:7.1f} ms · p99 {line.p99:7.1f} ms · "
        f"documents {documents} · {line.size / 1024:7.1f} KiB · {verdict}"
    )


async def measure(infra: Infrastructure, options: Options) -> Report:
    """Seed, start reporting on the seeded database, time each line; print as it goes;
    everything it made is dropped."""
    run = uuid4().hex[:8]
    database, exchange, prefix = f"huiyin_bench_reports_{run}", f"huiyin.bench.{run}", run
    client = mongo_client(infra.mongo_url)
    process: subprocess.Popen[bytes] | None = None
    try:
        shape = options.shape
        seeded = await seed(client[database][COLLECTION], shape)
        report = Report(seeded)
        print(
            f"seeded    {seeded.complaints:,} complaints of {shape.hospitals} hospitals over "
            f"{shape.months} months ({seeded.categories} categories) → {seeded.documents:,} "
            f"counter documents in {seeded.seconds:.1f} s (inserting: "
            f"{seeded.insert_seconds:.1f} s); peak memory {seeded.peak_rss_mib:,.0f} MiB"
        )
        key = f"bench-{run}"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        logs = REPO / ".huiyin" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"bench-reports-{run}.log"
        env = {
            **os.environ,
            "HUIYIN_ENV": "test",
            "HUIYIN_MONGO_URL": infra.mongo_url,
            "HUIYIN_AMQP_URL": infra.amqp_url,
            "HUIYIN_DATABASE": database,
            "HUIYIN_EXCHANGE": exchange,
            "HUIYIN_QUEUE_PREFIX": prefix,
            "HUIYIN_API_KEYS": f"bureau:{hash_key(key)}",
            "HUIYIN_HTTP_PORT": str(port),
            "HUIYIN_LOG_LEVEL": "WARNING",
        }
        process = start_service("reporting", env=env, log=log)
        await wait_ready(url, process, log)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            openapi = (await http.get("/openapi.json")).json()
            for line in lines_to_measure(
                shape, categories=seeded.categories, hospital=HOSPITAL, openapi=openapi
            ):
                timed = await time_line(http, line, options.requests)
                report.lines.append(timed)
                print_line(timed)
        if not any(line.path == QUARTERLY_PATH for line in report.lines):
            print(f"{'quarterly':<34} {QUARTERLY_PATH} not in this service: not measured")
        verdict = "PASS" if report.met else "FAIL"
        print(
            f"result    {options.requests} requests a line over {seeded.complaints:,} "
            f"complaints: every p99 < {TARGET_MS:.0f} ms: {verdict}"
        )
        return report
    finally:
        if process is not None:
            stop_services([process])
            await _remove_topology(infra.amqp_url, exchange=exchange, prefix=prefix)
        await client.drop_database(database)
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
    parser.add_argument("--requests", type=int, default=Options.requests, help="per line")
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
    if not 1 <= shape.months <= 36 or shape.hospitals < 1 or args.requests < 1:
        parser.error("--months 1 to 36 (the table's limit), --hospitals and --requests ≥ 1")
    infra = provide_infrastructure() if os.environ.get("HUIYIN_MONGO_URL") else native()
    try:
        print(f"infrastructure: {infra.kind}; reporting, broker and database on this host")
        report = asyncio.run(measure(infra, Options(shape=shape, requests=args.requests)))
    finally:
        infra.close()
    raise SystemExit(0 if report.met else 1)


if __name__ == "__main__":
    main()
