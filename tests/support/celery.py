"""Real Celery workers and beats for a test, as separate processes started as `./huiyin up`
starts them (deploy/processes.py: `huiyin-worker`, `huiyin-beat`), killable with -9.

They use the session's broker in Celery's vhost (`Infrastructure.celery_broker_url`) with
this test's queue prefix, so queues, remote control and beat leases are the test's own
(`Names`: queues `<prefix>.<service>.tasks`, the beat's database `t<suffix>_beat`); what
they declared and stored is removed when the test ends. The test clock is a file every one
of them reads (shared/clock.py): `move_clock` moves it for all at once."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from kombu import pools
from pydantic_settings import BaseSettings
from pymongo import MongoClient

from deploy.processes import start_beat, start_worker, stop_services
from deploy.servers import Infrastructure
from shared.celery_app import make_celery, task_queue_name
from shared.clock import set_offset
from shared.settings import ServiceSettings
from tests.support.metrics import sample_sum
from tests.support.platform import Names, free_port
from tests.support.processes import settings_env


@dataclass
class CeleryProcess:
    process: subprocess.Popen[bytes]
    log: Path
    service: str = ""
    node: str = ""  # a worker's node name, for Celery's ping
    metrics_port: int = 0

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class CeleryProcesses:
    def __init__(self, infra: Infrastructure, *, names: Names, logs: Path) -> None:
        self.infra = infra
        self.names = names
        self.logs = logs
        self.clock_file = logs / "clock-offset"
        self.started: list[CeleryProcess] = []
        self.services: set[str] = set()

    def environment(
        self, settings: BaseSettings | None = None, /, **overrides: object
    ) -> dict[str, str]:
        """HUIYIN_* for a worker or beat of this test: `settings` (a service's, as the
        in-process platform uses them), then this test's broker, prefix and clock."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("HUIYIN_") and key != "PROMETHEUS_MULTIPROC_DIR"
        }
        if settings is not None:
            env |= settings_env(settings)
        env |= {
            "HUIYIN_ENV": "test",
            "HUIYIN_MONGO_URL": self.infra.mongo_url,
            "HUIYIN_AMQP_URL": self.infra.amqp_url,
            "HUIYIN_CELERY_BROKER_URL": self.infra.celery_broker_url,
            "HUIYIN_QUEUE_PREFIX": self.names.prefix,
            "HUIYIN_EXCHANGE": self.names.exchange,
            "HUIYIN_CLOCK_FILE": str(self.clock_file),
        }
        env |= {f"HUIYIN_{name.upper()}": str(value) for name, value in overrides.items()}
        return env

    def start_worker(
        self,
        service: str,
        *,
        module: str | None = None,
        settings: BaseSettings | None = None,
        **overrides: object,
    ) -> CeleryProcess:
        """`huiyin-worker` for `service` (its tasks module: `module`, else the service's),
        with a node name, metrics port and metrics directory of its own."""
        self.services.add(service)
        node = f"{service}-{secrets.token_hex(3)}@{socket.gethostname()}"
        port = free_port()
        metrics_dir = Path(tempfile.mkdtemp(prefix=f"metrics-{service}-", dir=self.logs))
        env = self.environment(
            settings,
            worker_metrics_port=port,
            worker_metrics_dir=metrics_dir,
            **overrides,
        )
        log = self.logs / f"worker-{node.split('@')[0]}.log"
        process = start_worker(module or service, env=env, log=log, name=node)
        worker = CeleryProcess(process, log, service=service, node=node, metrics_port=port)
        self.started.append(worker)
        return worker

    def start_beat(self, *modules: str, **overrides: object) -> CeleryProcess:
        """`huiyin-beat` sending `modules`' schedules, its lease in this test's database."""
        env = self.environment(database=self.names.database("beat"), **overrides)
        node = f"beat-{secrets.token_hex(3)}@{socket.gethostname()}"
        log = self.logs / f"{node.split('@')[0]}.log"
        process = start_beat(env=env, log=log, modules=modules, name=node)
        beat = CeleryProcess(process, log, service="beat", node=node)
        self.started.append(beat)
        return beat

    def wait_ready(self, worker: CeleryProcess, *, timeout: float = 60) -> None:
        """Until the worker answers Celery's ping (it consumes its queue by then)."""
        deadline = time.monotonic() + timeout
        while not self._answers(worker):
            if worker.process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{worker.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {worker.node} not ready:\n{worker.tail()}")

    def _answers(self, worker: CeleryProcess) -> bool:
        """Celery's ping, from an app of its own: a connection the broker dropped (an
        earlier test restarted it) is not an answer, and the next ping connects anew."""
        app = self.app(worker.service)
        try:
            return bool(app.control.ping(destination=[worker.node], timeout=0.5))
        except (ConnectionError, OSError):
            return False
        finally:
            app.close()

    def app(self, service: str) -> Any:
        """A Celery app like the service's, for sending its tasks and pinging its workers."""
        settings = ServiceSettings(
            celery_broker_url=self.infra.celery_broker_url, queue_prefix=self.names.prefix
        )
        return make_celery(service, settings)

    def kill(self, process: CeleryProcess) -> None:
        """kill -9 the process and every process it forked: no shutdown runs, tasks in hand
        are cut off where they stand."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.process.pid, signal.SIGKILL)
        process.process.wait(timeout=10)

    def metric(self, worker: CeleryProcess, name: str, /, **labels: str) -> float:
        """The worker's /metrics sample `name` (summed over `labels`), 0 when absent."""
        text = httpx.get(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=5).text
        return sample_sum(text, name, **labels) or 0.0

    def move_clock(self, offset: timedelta) -> None:
        """Every worker's and service's clock that reads this test's clock file."""
        set_offset(self.clock_file, offset)

    def stop_all(self) -> None:
        stop_services([p.process for p in self.started], grace=15)

    def remove_what_they_declared(self) -> None:
        """This test's task queues and their exchanges, its remote-control exchanges, and
        the beat's and the probe's databases (tests/support/celery_probe.py)."""
        with MongoClient(self.infra.mongo_url) as mongo:
            for owner in ("beat", "probe"):
                mongo.drop_database(self.names.database(owner))
        with self.app("beat").connection_for_write() as connection:
            channel = connection.default_channel
            for service in (*self.services, "beat"):
                queue = task_queue_name(self.names.prefix, service)
                channel.queue_delete(queue=queue)
                channel.exchange_delete(exchange=queue)
            for exchange in ("celery.pidbox", "celeryev"):
                channel.exchange_delete(exchange=f"{self.names.prefix}.{exchange}")
            channel.exchange_delete(exchange=f"reply.{self.names.prefix}.celery.pidbox")


@contextlib.contextmanager
def celery_processes(
    infra: Infrastructure, *, names: Names | None = None
) -> Iterator[CeleryProcesses]:
    """Celery processes of one test, all stopped (and their traces removed) at its end."""
    # kombu keeps one connection pool per broker URL for the whole test process: drop what
    # earlier tests left there (a broker they restarted has closed those connections).
    pools.reset()
    with tempfile.TemporaryDirectory(prefix="huiyin-celery-") as logs:
        processes = CeleryProcesses(infra, names=names or Names(), logs=Path(logs))
        try:
            yield processes
        finally:
            processes.stop_all()
            with contextlib.suppress(Exception):
                processes.remove_what_they_declared()
