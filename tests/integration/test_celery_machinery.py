"""Celery as the platform runs it (shared/celery_app.py, shared/celery_beat.py): real
`huiyin-worker` and `huiyin-beat` processes on the real broker (Celery's vhost) and the
MongoDB-wire server, with the probe tasks of tests/support/celery_probe.py, which record
every time a process runs them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from pymongo import MongoClient
from pymongo.collection import Collection

from deploy.servers import Infrastructure
from shared.celery_beat import BeatLease, ScheduledRuns
from tests.support.celery import CeleryProcess, CeleryProcesses, celery_processes
from tests.support.celery_probe import RUNS
from tests.support.platform import Names

pytestmark = pytest.mark.timeout(180)

PROBE = "tests.support.celery_probe"
T = TypeVar("T")


@pytest.fixture
def names() -> Names:
    return Names()


@pytest.fixture
def celery(infrastructure: Infrastructure, names: Names) -> Iterator[CeleryProcesses]:
    with celery_processes(infrastructure, names=names) as processes:
        yield processes


@pytest.fixture
def mongo(infrastructure: Infrastructure, names: Names) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(infrastructure.mongo_url, tz_aware=True)
    yield client
    for owner in ("probe", "beat"):
        client.drop_database(names.database(owner))
    client.close()


def probe_worker(celery: CeleryProcesses, names: Names, **overrides: object) -> CeleryProcess:
    worker = celery.start_worker(
        "probe", module=PROBE, database=names.database("probe"), **overrides
    )
    celery.wait_ready(worker)
    return worker


def runs(mongo: MongoClient[dict[str, Any]], names: Names, step: str) -> list[dict[str, Any]]:
    collection: Collection[dict[str, Any]] = mongo[names.database("probe")][RUNS]
    return list(collection.find({"step": step}).sort("at", 1))


def until(check: Callable[[], T], *, timeout: float = 30, what: str) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}: {result!r}")
        time.sleep(0.1)
    return result


def test_two_beats_send_each_run_once_and_the_second_takes_over(
    celery: CeleryProcesses, names: Names, mongo: MongoClient[dict[str, Any]]
) -> None:
    probe_worker(celery, names)
    beats = [celery.start_beat(PROBE, beat_lease_seconds=3, probe_seconds=1) for _ in range(2)]
    started = datetime.now(UTC)
    until(lambda: len(runs(mongo, names, "began")) >= 6, what="six runs from two beats")

    lease = mongo[names.database("beat")]["beat_leases"].find_one({"_id": "beat"})
    assert lease is not None
    holder = next(b for b in beats if lease["holder"].split(":")[1] == str(b.process.pid))
    celery.kill(holder)
    killed_at = datetime.now(UTC)
    until(
        lambda: sum(r["at"] > killed_at for r in runs(mongo, names, "began")) >= 4,
        timeout=45,
        what="runs sent by the beat that took over",
    )
    ended = datetime.now(UTC)

    began = runs(mongo, names, "began")
    sent = Counter(run["task_id"] for run in began)
    assert [run for run, times in sent.items() if times > 1] == []
    # Once per second at most: no beat sent a run the other had sent too.
    assert len(began) <= (ended - started).total_seconds() + 1
    # Each run is the whole second it fell due, and the beat that took over went on from
    # there: the gap is at most the lease plus one renewal.
    moments = sorted(datetime.fromisoformat(run.split("@", 1)[1]) for run in sent)
    assert all(moment.microsecond == 0 for moment in moments)
    gaps = [later - earlier for earlier, later in zip(moments, moments[1:], strict=False)]
    assert max(gaps) <= timedelta(seconds=3 + 1 + 1)
    survivor = next(b for b in beats if b is not holder)
    assert survivor.process.poll() is None


def test_a_task_whose_worker_is_killed_mid_run_runs_again_to_its_end(
    celery: CeleryProcesses, names: Names, mongo: MongoClient[dict[str, Any]]
) -> None:
    worker = probe_worker(celery, names)
    celery.app("probe").send_task("probe.record", kwargs={"hold_seconds": 4})
    first = until(lambda: runs(mongo, names, "began"), what="the run to begin")
    celery.kill(worker)  # the whole worker, as a crash or an OOM kill of its container would

    probe_worker(celery, names)
    finished = until(lambda: runs(mongo, names, "finished"), timeout=40, what="the run again")

    began = runs(mongo, names, "began")
    assert [run["task_id"] for run in began] == [first[0]["task_id"]] * 2
    assert [run["redelivered"] for run in began] == [False, True]
    assert [run["task_id"] for run in finished] == [first[0]["task_id"]]


def test_worker_metrics_add_up_across_its_processes(
    celery: CeleryProcesses, names: Names, mongo: MongoClient[dict[str, Any]]
) -> None:
    worker = probe_worker(celery, names, worker_concurrency=2)
    app = celery.app("probe")
    for _ in range(8):
        app.send_task("probe.record", kwargs={"hold_seconds": 0.3})
    finished = until(
        lambda: (done := runs(mongo, names, "finished")) and len(done) == 8 and done,
        what="eight runs",
    )
    assert len({run["pid"] for run in finished}) == 2  # both forked processes ran tasks

    def counted(name: str) -> float:
        return celery.metric(worker, name, service="probe", task="probe.record")

    assert counted("huiyin_worker_tasks_started_total") == 8
    until(
        lambda: counted("huiyin_worker_tasks_succeeded_total") == 8,
        timeout=5,
        what="the last success counted",
    )
    assert counted("huiyin_worker_task_seconds_count") == 8
    assert celery.metric(worker, "huiyin_worker_tasks_running", service="probe") == 0
    assert counted("huiyin_worker_tasks_failed_total") == 0


def test_worker_and_beat_answer_their_health_checks(celery: CeleryProcesses, names: Names) -> None:
    worker = probe_worker(celery, names)
    beat = celery.start_beat(PROBE, probe_seconds=1)

    def check(main: str, node: str, *arguments: str) -> int:
        """What docker-compose.yml's health checks run: huiyin-worker or huiyin-beat --check."""
        module, function = main.split(":")
        run = f"from {module} import {function}; {function}()"
        done = subprocess.run(
            [sys.executable, "-c", run, *arguments, f"--name={node}", "--check"],
            env=celery.environment(),
            capture_output=True,
            timeout=60,
        )
        return done.returncode

    assert check("shared.celery_app:worker_main", worker.node, PROBE) == 0
    until(lambda: check("shared.celery_beat:beat_main", beat.node) == 0, what="the beat")
    celery.kill(worker)
    assert check("shared.celery_app:worker_main", worker.node, PROBE) == 1


def test_one_lease_one_holder_until_it_lapses_or_is_released(
    mongo: MongoClient[dict[str, Any]], names: Names
) -> None:
    leases: Collection[dict[str, Any]] = mongo[names.database("beat")]["beat_leases"]
    first = BeatLease(leases, holder="first", seconds=1.0)
    second = BeatLease(leases, holder="second", seconds=1.0)

    assert first.hold() and first.hold()  # taken, renewed
    assert not second.hold()
    time.sleep(1.1)
    assert second.hold()  # lapsed: taken over
    assert not first.hold()
    second.release()
    assert first.hold()


def test_a_run_is_claimed_once(mongo: MongoClient[dict[str, Any]], names: Names) -> None:
    claims = ScheduledRuns(mongo[names.database("beat")]["beat_runs"])
    minute = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    later = minute + timedelta(minutes=1)

    assert claims.claim("routing.sla_scan", minute) == datetime.fromtimestamp(0, UTC)
    assert claims.claim("routing.sla_scan", minute) is None
    assert claims.claim("routing.sla_scan", minute - timedelta(minutes=1)) is None
    assert claims.claim("routing.sla_scan", later) == minute
    claims.hand_back("routing.sla_scan", later, minute)  # its message was never sent
    assert claims.claim("routing.sla_scan", later) == minute
