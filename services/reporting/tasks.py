"""Reporting's Celery tasks (`huiyin-worker reporting`): the monthly report, which the
platform's beat (shared/celery_beat.py) sends at 01:00 China time on the 1st of each month.

`reporting.monthly_report` files the past month's classification table for the bureau and
each hospital (services/reporting/snapshots.py), written once. The beat sends it on the 2nd
and 3rd too: those runs read one document and do nothing, unless the 1st's run never came
(the beat was down at 01:00), when they take the report before it is due (the 3rd, seed 001).
Sent by hand with `month="2026-11"` it takes that month; with `replace=True` it files the
month anew (after `python -m services.reporting.rebuild` corrected the counters).

The beat names each run by the moment it fell due (`reporting.monthly_report@<UTC moment>`):
01:00 China time on December 1st is `…@2026-11-30T17:00:00+00:00`. Which month a run
reports is the platform's time when it runs (shared/clock.py), China time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from celery.schedules import crontab

from services.reporting.settings import ReportingSettings
from shared.celery_app import make_celery, task
from shared.clock import Clock
from shared.contracts import CHINA
from shared.mongo_clients import mongo_client
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

MONTHLY_REPORT = "reporting.monthly_report"


class ReportingTaskSettings(ServiceSettings):
    """What the worker needs: reporting's database. Not ReportingSettings itself, which
    refuses to start without API keys in production: the worker and the beat (which imports
    this module for its schedule) serve no API."""

    service_name: str = "reporting"
    database: str = ReportingSettings.model_fields["database"].default
    region_file: str | None = None  # HUIYIN_REGION_FILE: the filed tables name hospitals


class ChinaCrontab(crontab):  # type: ignore[misc]  # Celery's classes carry no types
    """A crontab read on China's clock; the platform's Celery apps keep UTC."""

    tz = CHINA

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]} China time>"


# Celery finds an app and its tasks by module (`huiyin-worker reporting`): built from the
# environment at import, connecting to nothing until the worker starts.
settings = ReportingTaskSettings()
app = make_celery("reporting", settings)


@task(app, name=MONTHLY_REPORT)
def monthly_report(month: str | None = None, replace: bool = False) -> int:
    """File `month`'s tables (YYYY-MM; by default the past month, China time) and return how
    many documents this run wrote: 0 when the month was already filed."""
    from services.reporting.snapshots import past_month

    now = Clock.of(settings).now()
    month = month or past_month(now)
    written = asyncio.run(_take(month=month, taken_at=now, replace=replace))
    log.info("monthly report", extra={"month": month, "written": len(written)})
    return len(written)


async def _take(*, month: str, taken_at: datetime, replace: bool) -> list[str]:
    """One run with its own client, made and closed inside this event loop."""
    from services.reporting.adapters.region import read_region
    from services.reporting.snapshots import MonthlySnapshots

    client = mongo_client(settings.mongo_url, timeout_seconds=settings.database_timeout_seconds)
    try:
        region = read_region(settings.region_file)
        snapshots = MonthlySnapshots(client[settings.database], region)
        return await snapshots.take(month=month, taken_at=taken_at, replace=replace)
    finally:
        await client.close()


def beat_schedule() -> dict[str, dict[str, Any]]:
    """What the platform's beat sends for reporting: the monthly report at 01:00 China time
    on the 1st, 2nd and 3rd (the later two only catch up a missed 1st)."""
    return {
        MONTHLY_REPORT: {
            "task": MONTHLY_REPORT,
            "schedule": ChinaCrontab(minute=0, hour=1, day_of_month="1-3"),
        },
    }
