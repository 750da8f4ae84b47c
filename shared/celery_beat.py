"""The platform's one beat, `huiyin-beat`: it sends every service's periodic tasks (routing's
SLA scan every minute; notification's morning digest) from one schedule, the union of each
tasks module's `beat_schedule()` (shared/celery_app.py TASK_MODULES).

Celery's own beat sends every task twice when two run. Here a second beat is harmless:

- Lease. A beat sends only while it holds the lease, one document (`beat_leases`, `_id`
  "beat") in the beat's database, taken or renewed by one findAndModify at every tick (at
  least every third of HUIYIN_BEAT_LEASE_SECONDS) and lapsing that long after its last
  renewal. Another beat waits, sends nothing, and takes over once the lease has lapsed; a
  beat that stops cleanly gives it up at once.
- Runs. Each run of an entry is named by the moment it fell due, which every beat computes
  alike (`every(60)` falls due at each whole minute of the clock, not a minute after the
  beat started; a crontab at its minute), and is claimed before it is sent: `beat_runs`
  keeps, under the entry's name as `_id`, the latest moment sent, raised with `$max`. So a
  beat that stalled past its lease (a pause, a long GC) and wakes up still believing it
  holds it finds the run already claimed, and a beat restarted mid-period does not send
  that period again. The task id is `<entry>@<moment>`, which the worker logs.

The lease's findAndModify filters on `_id` and on the holder or expiry; on FerretDB that is
a scan, of a collection holding that one document. The run claim filters on `_id` alone.
Time here is the real time, never shared/clock.py's test offset: these coordinate
processes; they judge no case.

A run is claimed, then sent (publisher confirms, a few retries); a run the broker would not
take is handed back for any beat's next tick and logged. Each job catches up at its next
run anyway: the scan finds whatever fell due meanwhile.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Celery
from celery.beat import ScheduleEntry, Scheduler, SchedulingError
from celery.schedules import crontab, schedstate, schedule
from pydantic import Field
from pymongo import MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.celery_app import TASK_MODULES, make_celery
from shared.logs import configure_logging
from shared.mongo_clients import blocking_mongo_client
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

LEASE = "beat"


class BeatSettings(ServiceSettings):
    service_name: str = "beat"
    database: str = "huiyin_beat"
    beat_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="a beat that has not renewed its lease for this long is taken over by "
        "another one; it renews at every tick, at least every third of it",
    )


class AlignedInterval(schedule):  # type: ignore[misc]  # Celery's classes carry no types
    """Every `run_every`, at its multiples since the epoch (UTC): 60 s falls due at each
    whole minute, whichever beat looks and whenever it started."""

    def latest(self, now: datetime) -> datetime:
        """The latest moment due at or before `now`."""
        step = self.run_every.total_seconds()
        return datetime.fromtimestamp(math.floor(now.timestamp() / step) * step, UTC)

    def remaining_estimate(self, last_run_at: datetime) -> timedelta:
        now: datetime = self.maybe_make_aware(self.now())
        latest = self.latest(now)
        if self.maybe_make_aware(last_run_at) < latest:
            return latest - now  # due (zero or less): the moment it fell due
        remaining: timedelta = latest + self.run_every - now
        return remaining

    def is_due(self, last_run_at: datetime) -> Any:
        remaining = self.remaining_estimate(last_run_at).total_seconds()
        if remaining > 0:
            return schedstate(is_due=False, next=remaining)
        now = self.maybe_make_aware(self.now())
        after_this = (self.latest(now) + self.run_every - now).total_seconds()
        return schedstate(is_due=True, next=after_this)

    def __repr__(self) -> str:
        return f"<every {self.run_every.total_seconds():g}s, aligned>"


def every(seconds: float) -> AlignedInterval:
    """A beat schedule entry's `schedule`: every `seconds`, aligned on the clock."""
    return AlignedInterval(run_every=timedelta(seconds=seconds))


def fell_due(entry: ScheduleEntry) -> datetime:
    """The moment `entry`'s run fell due: the same in every beat (see the module's text)."""
    now: datetime = entry.schedule.maybe_make_aware(entry.schedule.now())
    remaining: timedelta = entry.schedule.remaining_estimate(entry.last_run_at)
    due = now + min(remaining, timedelta(0))
    # Rounded, not truncated: the clock is read twice above, so a run due at 20:38:00 may
    # come out microseconds before it, and truncating would name it 20:37:59 in one beat
    # and 20:38:00 in another.
    return datetime.fromtimestamp(round(due.timestamp()), UTC)


class BeatLease:
    """Who sends: the holder of one document, renewed before it lapses."""

    def __init__(
        self, collection: Collection[dict[str, Any]], *, holder: str, seconds: float
    ) -> None:
        self.collection = collection
        self.holder = holder
        self.seconds = seconds

    def hold(self) -> bool:
        """Take the lease if it is free or lapsed, renew it if it is ours: True while ours."""
        now = time.time()
        try:
            lease = self.collection.find_one_and_update(
                {"_id": LEASE, "$or": [{"holder": self.holder}, {"expires": {"$lte": now}}]},
                {
                    "$set": {
                        "holder": self.holder,
                        "expires": now + self.seconds,
                        "renewed_at": datetime.now(UTC),
                    }
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # held by another beat, not lapsed: no match, no upsert
            return False
        return lease is not None and lease.get("holder") == self.holder

    def release(self) -> None:
        """Hand over at once (a clean stop), if still ours."""
        self.collection.update_one(
            {"_id": LEASE, "holder": self.holder}, {"$set": {"expires": 0.0}}
        )


class ScheduledRuns:
    """The latest run sent of each entry, so that no run is sent twice."""

    def __init__(self, collection: Collection[dict[str, Any]]) -> None:
        self.collection = collection

    def claim(self, entry: str, due: datetime) -> datetime | None:
        """Claim the run of `entry` due at `due`: the moment claimed before it (the epoch
        for a first run) when this call claimed it, None when it was already sent."""
        try:
            before = self.collection.find_one_and_update(
                {"_id": entry},
                {"$max": {"due": due}},
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:  # a concurrent first claim won
            return None
        if before is None:
            return datetime.fromtimestamp(0, UTC)
        previous: datetime = before["due"]
        return previous if previous < due else None

    def hand_back(self, entry: str, due: datetime, previous: datetime) -> None:
        """Un-claim a run that could not be sent, unless a later one was claimed since."""
        self.collection.update_one({"_id": entry, "due": due}, {"$set": {"due": previous}})


class LeasedScheduler(Scheduler):  # type: ignore[misc]  # Celery's classes carry no types
    """Celery's in-memory scheduler that sends only while it holds the lease, and each run
    once (see the module's text)."""

    def __init__(self, app: Celery, *args: Any, **kwargs: Any) -> None:
        settings = app.conf.get("huiyin_beat_settings") or BeatSettings()
        self.mongo: MongoClient[dict[str, Any]] = blocking_mongo_client(
            settings.mongo_url, timeout_seconds=settings.database_timeout_seconds
        )
        database = self.mongo[settings.database]
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = BeatLease(
            database["beat_leases"], holder=holder, seconds=settings.beat_lease_seconds
        )
        self.runs = ScheduledRuns(database["beat_runs"])
        self.holding = False
        renew_every = settings.beat_lease_seconds / 3
        kwargs["max_interval"] = min(kwargs.get("max_interval") or renew_every, renew_every)
        super().__init__(app, *args, **kwargs)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        for name, entry in self.schedule.items():
            if not isinstance(entry.schedule, AlignedInterval | crontab):
                raise SchedulingError(
                    f"beat entry {name}: use every(seconds) or crontab(...), whose runs fall "
                    "due at the same moments in every beat"
                )

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            holding = self.lease.hold()
        except PyMongoError as error:
            # Unsure whether it is still ours: another beat may hold it by now. Send nothing.
            log.warning("beat lease unreachable", extra={"error": repr(error)})
            holding = False
        if holding != self.holding:
            log.info(
                "beat lease taken" if holding else "beat lease held by another beat",
                extra={"holder": self.lease.holder},
            )
            self.holding = holding
        if not holding:
            interval: float = self.max_interval
            return interval
        next_tick: float = super().tick(*args, **kwargs)
        return next_tick

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        due = fell_due(entry)
        run = f"{entry.name}@{due.isoformat()}"
        try:
            previous = self.runs.claim(entry.name, due)
        except PyMongoError as error:
            log.warning("beat run not claimed", extra={"run": run, "error": repr(error)})
            return
        if previous is None:
            log.info("beat run already sent", extra={"run": run})
            return
        options = {
            **entry.options,
            "task_id": run,
            "headers": {"celery_beat_task": True},
            "retry": True,
            "retry_policy": {"max_retries": 5, "interval_start": 1, "interval_step": 2},
        }
        try:
            self.app.send_task(
                entry.task,
                args=list(entry.args or ()),
                kwargs=dict(entry.kwargs or {}),
                producer=producer,
                **options,
            )
        except Exception as error:
            log.error("beat run not sent", extra={"run": run, "error": repr(error)})
            try:
                self.runs.hand_back(entry.name, due, previous)
            except PyMongoError:
                log.warning("beat run not handed back", extra={"run": run}, exc_info=True)
            return
        log.info("beat run sent", extra={"run": run, "task": entry.task})

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.holding:
                try:
                    self.lease.release()
                except PyMongoError:
                    log.warning("beat lease not released; it lapses", exc_info=True)
            self.mongo.close()


# --- huiyin-beat ----------------------------------------------------------------------------


def beat_schedule(modules: Sequence[str]) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for name in modules:
        entries |= importlib.import_module(name).beat_schedule()
    return entries


def beat_node() -> str:
    return f"beat@{socket.gethostname()}"


def beat_main(argv: Sequence[str] | None = None) -> None:
    """`huiyin-beat`: the platform's beat (HUIYIN_* settings); a second one waits.
    `--check` exits 0 only if this host's beat answers Celery's ping, which it stops doing
    when its ticks stall (a health check)."""
    parser = argparse.ArgumentParser(prog="huiyin-beat", description=beat_main.__doc__)
    parser.add_argument(
        "modules",
        nargs="*",
        help="tasks modules whose beat_schedule() to send (default: every service's)",
    )
    parser.add_argument("--name", help="the beat's node name (default: beat@host)")
    parser.add_argument("--check", action="store_true", help="ping the beat and exit")
    args = parser.parse_args(argv)
    settings = BeatSettings()
    app = make_celery("beat", settings)
    node = args.name or beat_node()
    if args.check:
        raise SystemExit(0 if app.control.ping(destination=[node], timeout=5) else 1)
    configure_logging(settings.log_level)
    app.conf.beat_schedule = beat_schedule(args.modules or list(TASK_MODULES.values()))
    app.conf.huiyin_beat_settings = settings
    app.Beat(
        scheduler=LeasedScheduler,
        loglevel=settings.log_level,
        hostname=node,
        quiet=True,
    ).run()
