"""Routing's Celery tasks (`huiyin-worker routing`): the SLA scan, which the platform's beat
sends every HUIYIN_SLA_SCAN_SECONDS (shared/celery_beat.py), and the sweep of the scan's
slots a day behind its cursor, every HUIYIN_SLA_SWEEP_SECONDS.

The scan is idempotent (each level of each case is reached once, recorded in the same write
as its event), so a run sent again, redelivered after a worker died or overlapping another
publishes nothing twice. Its time is the platform's clock (shared/clock.py), which tests move.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from services.routing.settings import RoutingSettings
from shared.celery_app import make_celery, send, task
from shared.celery_beat import every
from shared.clock import Clock


class RoutingTaskSettings(RoutingSettings):
    sla_scan_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often the beat sends the SLA scan; a run not started within one "
        "period is dropped, the next one does its work",
    )

    sla_sweep_seconds: float = Field(
        default=600.0,
        gt=0,
        description="how often the beat sends the sweep of the scan's old slots (six hours "
        "of slots a run at most)",
    )


# Celery finds an app and its tasks by module (`huiyin-worker routing`): built from the
# environment at import, connecting to nothing until the worker starts.
settings = RoutingTaskSettings()
app = make_celery("routing", settings)


@task(app, name="routing.sla_scan")
def sla_scan() -> None:
    """One pass of the SLA scan (services/routing/sla_scan.py) at the platform's time, in an
    event loop and with clients of its own, made and closed inside this run (never shared
    with another loop or a forked parent). A pass that stopped at its time budget sends the
    next one at once instead of waiting for the beat."""
    # Imported here: the beat imports this module for its schedule, not the scan's code.
    from services.routing.sla_scan import run_scan

    result = asyncio.run(run_scan(settings, now=Clock.of(settings).now()))
    if result.more:
        send(app, "routing.sla_scan")


@task(app, name="routing.sla_sweep")
def sla_sweep() -> None:
    """Delete the scan's slots a day behind its cursor (services/routing/sla_scan.py
    `run_sweep`); idempotent, so a run sent twice deletes nothing twice."""
    from services.routing.sla_scan import run_sweep

    asyncio.run(run_sweep(settings))


def beat_schedule() -> dict[str, dict[str, Any]]:
    """What the platform's beat sends for routing."""
    return {
        "routing.sla_scan": {
            "task": "routing.sla_scan",
            "schedule": every(settings.sla_scan_seconds),
            # Stale once the next run is due: a backlog of scans is one scan's work.
            "options": {"expires": settings.sla_scan_seconds},
        },
        "routing.sla_sweep": {
            "task": "routing.sla_sweep",
            "schedule": every(settings.sla_sweep_seconds),
            "options": {"expires": settings.sla_sweep_seconds},
        },
    }
