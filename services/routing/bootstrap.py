"""Builds the routing service from settings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import Gauge

from services.routing.adapters.calendar_file import read_corrections
from services.routing.adapters.clocks import ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.consumers import handlers
from services.routing.domain.calendar import WorkingCalendar
from services.routing.settings import RoutingSettings
from shared.app import build_app
from shared.metrics import ServiceMetrics
from shared.runtime import ServiceRuntime

CALENDAR_HORIZON = timedelta(days=30)
log = logging.getLogger(__name__)


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    runtime = ServiceRuntime(settings, metrics=ServiceMetrics("routing"))
    clocks = ClockStore(runtime.db)
    region = RegionStore(runtime.db)
    corrections = read_corrections(Path(settings.calendar_file)) if settings.calendar_file else []
    calendar = WorkingCalendar(corrections)
    runtime.relay_outbox_of(clocks.collection)
    runtime.consume(
        handlers(
            runtime=runtime, clocks=clocks, region=region, calendar=calendar, settings=settings
        )
    )

    async def region_loaded() -> None:
        if await region.count() == 0:
            raise LookupError("no hospitals loaded: run huiyin-admin load-region")

    # Not a readiness condition: routing still routes every complaint whose deadline the
    # calendar knows, and parks the others with the reason. Ops watch the gauge instead.
    covered = Gauge(
        "huiyin_calendar_covered_days",
        "Days from today the official working-day calendar still covers",
        registry=runtime.metrics.registry,
    )
    covered.set_function(lambda: (calendar.covered_until() - datetime.now(UTC).date()).days)
    horizon = (datetime.now(UTC) + CALENDAR_HORIZON).date()
    if not calendar.covers(horizon):
        log.warning(
            "the official calendar ends on %s; load the next year's holiday notice "
            "(HUIYIN_CALENDAR_FILE) before deadlines reach it",
            calendar.covered_until(),
        )
    runtime.check_readiness_of("region", region_loaded)
    app = build_app(
        title="回音 Huiyin · routing",
        description="Routing decisions, working-day deadlines and SLA clocks.",
        runtime=runtime,
        on_start=[clocks.ensure_indexes],
    )
    app.state.clocks = clocks
    app.state.region = region
    return app
