"""Celery: one app per service that has tasks (routing: the SLA scan; notification:
deliveries and the morning digest), each built here by `make_celery`, and `huiyin-worker`,
which runs one service's worker.

Broker: the platform's RabbitMQ in a vhost of its own (HUIYIN_CELERY_BROKER_URL; by default
the vhost huiyin-celery on HUIYIN_AMQP_URL's server). Each service's worker consumes one
durable queue, `<prefix>.<service>.tasks`, and a task named `<service>.<what>` is routed
there by its name alone, so the beat (shared/celery_beat.py) sends any service's task
without importing its code. No result backend: a task's effect is in MongoDB.

Delivery: a task's message is acknowledged only after the task returned (task_acks_late)
and goes back to the queue when the process running it dies (task_reject_on_worker_lost)
or the broker connection is lost mid-task; each process holds one message at a time
(prefetch multiplier 1). A task may therefore run again after a crash, so every task is
idempotent (each level of each case is reached once; a delivery is sent once per person and
channel).

Tasks are synchronous: Celery has no asyncio. A task that needs a service's async code runs
it with `asyncio.run` and creates its clients inside that run, because PyMongo's async
client is neither fork-safe nor shareable across event loops (ARCHITECTURE.md "Machines").

Metrics: the prefork pool runs tasks in forked processes, so the worker counts in
prometheus-client's multiprocess mode, a directory per worker instance emptied at its
start, and serves the sum over all its processes on HUIYIN_WORKER_METRICS_PORT. Nothing here
imports prometheus_client at import time: the directory must be named before it is.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from celery import Celery, signals

from shared.logs import configure_logging
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# The services that have tasks and the module holding each one's app and tasks (`app`, and
# `beat_schedule()` for what the beat sends). A new one is a line here.
TASK_MODULES: dict[str, str] = {
    "routing": "services.routing.tasks",
    "notification": "services.notification.tasks",
    "reporting": "services.reporting.tasks",
}


def task_queue_name(prefix: str, service: str) -> str:
    return f"{prefix}.{service}.tasks"


def make_celery(service: str, settings: ServiceSettings) -> Celery:
    """The Celery app of one service (or of the beat, service "beat"); connects to nothing."""
    prefix = settings.queue_prefix

    def by_service(name: str, *_: Any, **__: Any) -> dict[str, str]:
        """`routing.sla_scan` goes to routing's queue, whoever sends it."""
        return {"queue": task_queue_name(prefix, name.split(".", 1)[0])}

    app = Celery(f"huiyin.{service}", broker=settings.celery_broker_url, set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        # Publishing waits for the broker's confirm: a sent task is in the queue.
        broker_transport_options={"confirm_publish": True},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        result_expires=None,  # no results, so no daily clean-up task for the beat to send
        enable_utc=True,
        timezone="UTC",
        # Durable classic queues created on first use by sender or worker alike. Not quorum:
        # Celery would then hold countdown retries in its own delayed-delivery exchanges.
        task_default_queue=task_queue_name(prefix, service),
        task_create_missing_queues=True,
        task_routes=(by_service,),
        task_time_limit=settings.task_time_limit_seconds,
        task_soft_time_limit=settings.task_time_limit_seconds * 0.8,
        # Remote control (ping, the health checks) and events apart per deployment and test.
        control_exchange=f"{prefix}.celery",
        event_exchange=f"{prefix}.celeryev",
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        # The beat answers `celery inspect ping` while it ticks (its health check).
        beat_enable_remote_control=True,
        huiyin_service=service,
    )
    return app


def task(app: Celery, *, name: str, **options: Any) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """`@task(app, name="routing.sla_scan")`: `app.task` with its types kept (Celery ships
    none). The name starts with the service's name: that is how it is routed."""

    def register(function: Callable[P, R]) -> Callable[P, R]:
        registered: Callable[P, R] = app.task(name=name, **options)(function)
        return registered

    return register


def send(app: Celery, name: str, **options: Any) -> str:
    """Send the task `name` (to its service's queue) and return its id."""
    result = app.send_task(name, **options)
    task_id: str = result.id
    return task_id


# --- the worker's metrics -------------------------------------------------------------------


class WorkerMetrics:
    """What one worker counts, by task name, in whichever of its processes runs the task."""

    def __init__(self, service: str) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        def counter(name: str, documentation: str) -> Counter:
            return Counter(name, documentation, ("service", "task"), registry=None)

        self.service = service
        self.started = counter("huiyin_worker_tasks_started", "Tasks a worker process began")
        self.succeeded = counter("huiyin_worker_tasks_succeeded", "Tasks that returned")
        self.failed = counter("huiyin_worker_tasks_failed", "Tasks that failed for good")
        self.retried = counter("huiyin_worker_tasks_retried", "Tasks that asked to run again")
        self.seconds = Histogram(
            "huiyin_worker_task_seconds",
            "Time a task ran, by its outcome",
            ("service", "task", "outcome"),
            registry=None,
        )
        # Live: a process that ends takes its share with it (mark_process_dead).
        self.running = Gauge(
            "huiyin_worker_tasks_running",
            "Tasks running now",
            ("service",),
            registry=None,
            multiprocess_mode="livesum",
        )
        self._began: dict[str, float] = {}

    def connect(self) -> None:
        """Count through Celery's signals (in the process that runs the task)."""
        signals.task_prerun.connect(self._prerun, weak=False)
        signals.task_postrun.connect(self._postrun, weak=False)
        signals.task_success.connect(self._success, weak=False)
        signals.task_failure.connect(self._failure, weak=False)
        signals.task_retry.connect(self._retry, weak=False)
        signals.worker_process_shutdown.connect(self._process_ends, weak=False)

    def _prerun(self, task_id: str, task: Any, **_: Any) -> None:
        self._began[task_id] = time.perf_counter()
        self.started.labels(self.service, task.name).inc()
        self.running.labels(self.service).inc()

    def _postrun(self, task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
        began = self._began.pop(task_id, None)
        self.running.labels(self.service).dec()
        if began is not None:
            outcome = (state or "unknown").lower()
            self.seconds.labels(self.service, task.name, outcome).observe(
                time.perf_counter() - began
            )

    def _success(self, sender: Any, **_: Any) -> None:
        self.succeeded.labels(self.service, sender.name).inc()

    def _failure(self, sender: Any, **_: Any) -> None:
        self.failed.labels(self.service, getattr(sender, "name", "unknown")).inc()

    def _retry(self, sender: Any, **_: Any) -> None:
        self.retried.labels(self.service, getattr(sender, "name", "unknown")).inc()

    def _process_ends(self, pid: int, **_: Any) -> None:
        forget_process(pid)


def metrics_directory(settings: ServiceSettings, service: str) -> Path:
    if settings.worker_metrics_dir:
        return Path(settings.worker_metrics_dir)
    name = f"{service}-{settings.worker_metrics_port}"
    return Path(tempfile.gettempdir()) / "huiyin-worker-metrics" / name


def count_in(directory: Path) -> None:
    """Make every process of this worker count in `directory`, emptied first (a previous
    instance's counts are not this one's). Must run before prometheus_client is imported:
    it chooses single- or multi-process values once, at import."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError(
            "prometheus_client was imported before the worker's metrics directory was set"
        )
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def serve_metrics(directory: Path, *, host: str, port: int) -> None:
    """The worker's /metrics: every process's counts added up, served by the main process
    (which forks the others and outlives them)."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    # prometheus_client's multiprocess functions carry no types: these are the ones used.
    merge: Callable[..., Iterable[Metric]] = MultiProcessCollector.merge

    class AllProcesses:
        """Every process's files merged, as MultiProcessCollector does, after forgetting the
        live gauges of processes killed without running their shutdown signal."""

        def collect(self) -> Iterable[Metric]:
            for gauge in directory.glob("gauge_live*_*.db"):
                pid = int(gauge.stem.rsplit("_", 1)[1])
                if not _alive(pid):
                    forget_process(pid, directory)
            return merge([str(path) for path in directory.glob("*.db")], accumulate=True)

    registry = CollectorRegistry()
    registry.register(AllProcesses())
    start_http_server(port, addr=host, registry=registry)


def forget_process(pid: int, directory: Path | None = None) -> None:
    """prometheus-client's mark_process_dead: a process's live gauges leave the sum."""
    from prometheus_client import multiprocess

    mark_process_dead: Callable[[int, str | None], None] = multiprocess.mark_process_dead
    mark_process_dead(pid, str(directory) if directory else None)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- huiyin-worker --------------------------------------------------------------------------


class TaskArgumentsHidden(logging.Filter):
    """Celery logs every task's arguments and return value; a delivery's name a person, so
    they never reach the logs (shared/logs.py). Names, ids and timings stay."""

    HIDDEN = ("args", "kwargs", "return_value")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = self._hidden(record.args)
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            record.data = self._hidden(data)
        return True

    def _hidden(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {key: "[hidden]" if key in self.HIDDEN else value for key, value in fields.items()}


def tasks_module(service_or_module: str) -> ModuleType:
    """A service's tasks module by service name, or any module by its dotted path (tests)."""
    return importlib.import_module(TASK_MODULES.get(service_or_module, service_or_module))


def node_name(service: str) -> str:
    return f"{service}@{socket.gethostname()}"


def worker_main(argv: Sequence[str] | None = None) -> None:
    """`huiyin-worker routing`: the service's Celery worker (prefork, HUIYIN_* settings);
    `--check` exits 0 only if this host's worker answers Celery's ping (a health check)."""
    parser = argparse.ArgumentParser(prog="huiyin-worker", description=worker_main.__doc__)
    parser.add_argument("service", help=f"one of: {', '.join(TASK_MODULES)}")
    parser.add_argument("--name", help="the worker's node name (default: SERVICE@host)")
    parser.add_argument("--check", action="store_true", help="ping the worker and exit")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    if args.check:
        app = tasks_module(args.service).app
        service = app.conf.huiyin_service
        replies = app.control.ping(destination=[args.name or node_name(service)], timeout=5)
        raise SystemExit(0 if replies else 1)
    configure_logging(settings.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(TaskArgumentsHidden())
    directory = metrics_directory(settings, args.service.rsplit(".", 1)[-1])
    count_in(directory)
    app = tasks_module(args.service).app
    service = app.conf.huiyin_service
    WorkerMetrics(service).connect()
    if settings.worker_metrics_port:
        serve_metrics(directory, host=settings.http_host, port=settings.worker_metrics_port)
    log.info(
        "worker starting",
        extra={"service": service, "metrics_port": settings.worker_metrics_port},
    )
    app.worker_main(
        [
            "worker",
            f"--queues={app.conf.task_default_queue}",
            f"--hostname={args.name or node_name(service)}",
            f"--concurrency={settings.worker_concurrency}",
            "--pool=prefork",
            f"--loglevel={settings.log_level}",
            # Nothing to learn from other workers, no events to send: faster start, less
            # traffic. The broker connection keeps its own AMQP heartbeat.
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
