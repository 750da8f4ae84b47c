"""Builds the routing service from settings: stores (the clocks with the relay of their
outbox, built here once, and the planner of their SLA state), the calendar (package data,
the bureau's file, then the years stored through the admin API, each checked against the
holiday law), the consumer table, the calendar watch that counts deadlines waiting for a
year once it is loaded, the admin API, readiness checks and the calendar metrics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from services.routing.adapters.calendar_file import read_corrections
from services.routing.adapters.calendar_store import CalendarStore
from services.routing.adapters.clocks import CLOCKS, ClockStore
from services.routing.adapters.ladder_records import LadderRecords
from services.routing.adapters.region_store import RegionStore
from services.routing.api.routes import CALENDAR_HORIZON, calendar_readiness
from services.routing.api.routes import router as admin_router
from services.routing.calendar_loading import CalendarWatch, check_lawful
from services.routing.consumers import handlers
from services.routing.domain.calendar import WorkingCalendar
from services.routing.service import HospitalRulebook
from services.routing.settings import RoutingSettings
from services.routing.sla_scan import CURSOR_MARGIN
from services.routing.sla_state import SlaPlanner
from shared.app import build_app
from shared.auth import ApiKeyring
from shared.clock import Clock
from shared.metrics import ServiceMetrics
from shared.runtime import ServiceRuntime

log = logging.getLogger(__name__)


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    runtime = ServiceRuntime(settings, metrics=ServiceMetrics("routing"))
    region = RegionStore(runtime.db)
    rulebook = HospitalRulebook(region, settings)
    corrections = read_corrections(Path(settings.calendar_file)) if settings.calendar_file else []
    # A file year that breaks the holiday law stops the start, naming the festival: the
    # same check as PUT /v1/admin/calendar/{year}.
    check_lawful(corrections, source=f"calendar file {settings.calendar_file}")
    calendar = WorkingCalendar(corrections)
    clock = Clock.of(settings)
    planner = SlaPlanner(ladders=rulebook.ladder, calendar=calendar, now=clock.now)
    clocks = ClockStore.of(
        runtime.db, relay=runtime.relay_outbox_of(runtime.db[CLOCKS]), planner=planner
    )

    async def scan_cursor() -> None:
        # Before any clock is listed: no entry is ever behind the scan's cursor.
        if clocks.slots is not None:
            await clocks.slots.ensure_cursor(clock.now(), margin=CURSOR_MARGIN)
        await LadderRecords(runtime.db).ensure_collections()

    calendar_store = CalendarStore(runtime.db)
    metrics = runtime.metrics
    refusals = metrics.counter(
        "huiyin_calendar_refusals",
        "Deadlines the working-day calendar could not count because their year is not "
        "loaded, once per deadline: each left pending (cause: the event, or recount when a "
        "loaded year still was not enough)",
        "cause",
    )
    pending = metrics.gauge(
        "huiyin_deadlines_pending_calendar",
        "Deadlines waiting for a year's official holiday arrangement (pending index, "
        "refreshed by the calendar watch)",
        "year",
    )
    covered = metrics.gauge(
        "huiyin_calendar_covered_days",
        "Days from today the official working-day calendar still covers",
    )
    covered.set_function(lambda: (calendar.covered_until() - datetime.now(UTC).date()).days)

    def refused(cause: str) -> None:
        refusals.labels(cause).inc()

    def pending_counts(counts: dict[int, int]) -> None:
        for year, n in counts.items():
            pending.labels(str(year)).set(n)

    table = handlers(
        clocks=clocks,
        region=region,
        calendar=calendar,
        settings=settings,
        refused=refused,
    )
    runtime.consume(table)
    watch = CalendarWatch(
        calendar=calendar,
        store=calendar_store,
        clocks=clocks,
        refused=refused,
        on_counts=pending_counts,
        seconds=settings.calendar_watch_seconds,
    )
    if not calendar.covers((datetime.now(UTC) + CALENDAR_HORIZON).date()):
        log.warning(
            "the official calendar ends on %s; load the next year's holiday notice "
            "(PUT /v1/admin/calendar/<year> or HUIYIN_CALENDAR_FILE): until then deadlines "
            "after it wait",
            calendar.covered_until(),
        )

    async def region_loaded() -> str | None:
        if await region.count() == 0:
            raise LookupError("no hospitals loaded: run huiyin-admin load-region")
        return None

    async def calendar_note() -> str | None:
        # A note, never a failure: see calendar_readiness for why.
        return calendar_readiness(calendar, datetime.now(UTC).date(), watch.pending)

    runtime.check_readiness_of("region", region_loaded)
    runtime.check_readiness_of("calendar", calendar_note)
    app = build_app(
        title="回音 Huiyin · routing",
        description="Routing decisions, working-day deadlines, SLA clocks; the calendar and "
        "staff-absence admin API.",
        runtime=runtime,
        routers=[admin_router],
        # Stored years first, then the watch's first pass recounts what waited for them.
        on_start=[clocks.ensure_indexes, scan_cursor, watch.apply_stored, watch.start],
        on_stop=[watch.stop],
    )
    app.state.clocks = clocks
    app.state.region = region
    app.state.calendar = calendar
    app.state.calendar_store = calendar_store
    app.state.calendar_watch = watch
    app.state.rulebook = rulebook
    app.state.keyring = ApiKeyring(settings.api_keys)
    return app
