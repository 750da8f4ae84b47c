"""A tasks module for testing the Celery machinery itself, run as a real worker
(`huiyin-worker tests.support.celery_probe`) and a real beat (`huiyin-beat
tests.support.celery_probe`): an app made by shared/celery_app.py like every service's, one
task that records each time a process runs it, and a schedule that sends it every
HUIYIN_PROBE_SECONDS."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import Field
from pymongo import MongoClient

from shared.celery_app import make_celery, task
from shared.celery_beat import every
from shared.settings import ServiceSettings

RUNS = "probe_runs"


class ProbeSettings(ServiceSettings):
    service_name: str = "probe"
    probe_seconds: float = Field(default=1.0, gt=0)


settings = ProbeSettings()
app = make_celery("probe", settings)


def runs_collection(client: MongoClient[dict[str, Any]]) -> Any:
    return client[settings.database][RUNS]


@task(app, name="probe.record", bind=True)
def record(self: Any, hold_seconds: float = 0.0) -> None:
    """Records that this process began the run (its task id, pid, whether the broker
    redelivered it), holds it `hold_seconds`, then records that it finished."""
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_url, tz_aware=True)
    try:
        run: dict[str, Any] = {
            "task_id": self.request.id,
            "pid": os.getpid(),
            "redelivered": bool((self.request.delivery_info or {}).get("redelivered")),
            "at": datetime.now(UTC),
        }
        runs_collection(client).insert_one({"_id": uuid.uuid4().hex, "step": "began", **run})
        time.sleep(hold_seconds)
        runs_collection(client).insert_one({"_id": uuid.uuid4().hex, "step": "finished", **run})
    finally:
        client.close()


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        "probe.tick": {"task": "probe.record", "schedule": every(settings.probe_seconds)},
    }
