"""Builds intake from settings. Tests and the launcher call create_app with their own settings."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.adapters.complaints import ComplaintRepository
from services.intake.api.routes import router
from services.intake.consumers import handlers
from services.intake.settings import IntakeSettings
from shared.app import build_app
from shared.auth import ApiKeyring
from shared.metrics import ServiceMetrics
from shared.runtime import ServiceRuntime


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(settings, metrics=ServiceMetrics("intake"))
    repository = ComplaintRepository(runtime.db)
    runtime.relay_outbox_of(repository.collection)
    runtime.consume(handlers(runtime=runtime, repository=repository))
    app = build_app(
        title="回音 Huiyin · intake",
        description="Complaint registration, replies and complainant tracking.",
        runtime=runtime,
        routers=[router],
        on_start=[repository.ensure_indexes],
    )
    app.state.repository = repository
    app.state.keyring = ApiKeyring(settings.api_keys)
    return app
