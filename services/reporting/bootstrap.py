"""Builds the reporting service from settings."""

from __future__ import annotations

from fastapi import FastAPI

from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.adapters.region import read_region
from services.reporting.adapters.report_counters import ReportCounters
from services.reporting.api import pages, snapshots
from services.reporting.api.analysis import router as analysis_router
from services.reporting.api.routes import router
from services.reporting.consumers import handlers
from services.reporting.metrics import ComplaintMetrics, OverdueRefresher
from services.reporting.settings import ReportingSettings
from services.reporting.snapshots import MonthlySnapshots
from shared.app import build_app
from shared.auth import ApiKeyring
from shared.metrics import ServiceMetrics
from shared.runtime import ServiceRuntime


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    runtime = ServiceRuntime(settings, metrics=ServiceMetrics("reporting"))
    facts = ComplaintFacts(runtime.db)
    counters = ReportCounters(runtime.db)
    metrics = ComplaintMetrics(runtime.metrics)
    refresher = OverdueRefresher(metrics, counters, seconds=settings.overdue_refresh_seconds)
    match_key = settings.match_key.get_secret_value()
    runtime.consume(handlers(facts=facts, counters=counters, metrics=metrics, match_key=match_key))
    app = build_app(
        title="回音 Huiyin · reporting",
        description="Read models, reports and the complaint metrics for Prometheus.",
        runtime=runtime,
        routers=[router, analysis_router, snapshots.router, pages.router],
        on_start=[facts.ensure_indexes, refresher.start],
        on_stop=[refresher.stop],
    )
    app.state.facts = facts
    app.state.counters = counters
    app.state.snapshots = MonthlySnapshots(runtime.db)
    app.state.complaint_metrics = metrics
    app.state.keyring = ApiKeyring(settings.api_keys)
    app.state.region = read_region(settings.region_file)
    return app
