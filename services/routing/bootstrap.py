"""Builds the routing service from settings: stores, the calendar (package data, the
bureau's file, then the corrections stored through the admin API), the consumer table,
the admin API, readiness checks and the calendar metrics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import Counter, Gauge

from services.routing.adapters.calendar_file import read_corrections
from services.routing.adapters.calendar_store import CalendarStore
from services.routing.adapters.clocks import ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.api.routes import calendar_readiness
from services.routing.api.routes import router as admin_router
from services.routing.consumers import counting_calendar_gaps, handlers
from services.routing.domain.calendar import WorkingCalendar
from services.routing.service import HospitalRulebook
from services.routing.settings import RoutingSettings
from shared.app import build_app
from shared.auth import ApiKeyring
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
    calendar_store = CalendarStore(runtime.db)
    runtime.relay_outbox_of(clocks.collection)
    gaps = Counter(
        "huiyin_calendar_gaps",
        "Events parked because a deadline fell in a year the working-day calendar does not "
        "cover (replay them after the bureau loads that year)",
        ["event_type"],
        registry=runtime.metrics.registry,
    )
    table = handlers(
        runtime=runtime, clocks=clocks, region=region, calendar=calendar, settings=settings
    )
    runtime.consume(counting_calendar_gaps(table, lambda event_type: gaps.labels(event_type).inc()))

    async def region_loaded() -> str | None:
        if await region.count() == 0:
            raise LookupError("no hospitals loaded: run huiyin-admin load-region")
        return None

    # Routing keeps consuming whatever /readyz says: it routes every complaint whose
    # deadline the calendar knows and parks the others with the reason. /readyz fails
    # CALENDAR_HORIZON before the calendar ends (deadlines are days ahead of receipt) and
    # carries a note a little earlier; ops alert on these metrics.
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
    refused = Gauge(
        "huiyin_calendar_refused_dates",
        "Deadline computations refused since start because the calendar does not cover "
        "the date (each such complaint is parked with the reason)",
        registry=runtime.metrics.registry,
    )
    refused.set_function(lambda: calendar.refusals)

    async def calendar_covers_horizon() -> str | None:
        """Not ready when today + CALENDAR_HORIZON is unknown; a note when the end is near."""
        return calendar_readiness(calendar, datetime.now(UTC).date(), CALENDAR_HORIZON)

    async def apply_stored_corrections() -> None:
        stored = await calendar_store.corrections()
        if stored:
            years = {c.year for c in stored}
            calendar.reload([c for c in corrections if c.year not in years] + stored)

    runtime.check_readiness_of("region", region_loaded)
    runtime.check_readiness_of("calendar", calendar_covers_horizon)
    app = build_app(
        title="回音 Huiyin · routing",
        description="Routing decisions, working-day deadlines, SLA clocks; the calendar and "
        "staff-absence admin API.",
        runtime=runtime,
        routers=[admin_router],
        on_start=[clocks.ensure_indexes, apply_stored_corrections],
    )
    app.state.clocks = clocks
    app.state.region = region
    app.state.calendar = calendar
    app.state.calendar_store = calendar_store
    app.state.rulebook = HospitalRulebook(region, settings)
    app.state.keyring = ApiKeyring(settings.api_keys)
    return app
