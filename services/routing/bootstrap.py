"""Builds the routing service from settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from services.routing.adapters.clocks import ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.consumers import handlers
from services.routing.domain.calendar import CalendarNotCovered, WorkingCalendar
from services.routing.settings import RoutingSettings
from shared.app import build_app
from shared.metrics import ServiceMetrics
from shared.runtime import ServiceRuntime

CALENDAR_HORIZON = timedelta(days=30)


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    runtime = ServiceRuntime(settings, metrics=ServiceMetrics("routing"))
    clocks = ClockStore(runtime.db)
    region = RegionStore(runtime.db)
    calendar = WorkingCalendar()
    runtime.relay_outbox_of(clocks.collection)
    runtime.consume(
        handlers(
            runtime=runtime, clocks=clocks, region=region, calendar=calendar, settings=settings
        )
    )

    async def calendar_covers_horizon() -> None:
        """Deadlines set today may reach a month ahead; the calendar must know those days."""
        horizon = (datetime.now(UTC) + CALENDAR_HORIZON).date()
        if not calendar.covers(horizon):
            raise CalendarNotCovered(horizon)

    async def region_loaded() -> None:
        if await region.count() == 0:
            raise LookupError("no hospitals loaded: run huiyin-admin load-region")

    runtime.check_readiness_of("calendar", calendar_covers_horizon)
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
