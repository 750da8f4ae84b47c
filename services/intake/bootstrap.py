"""Builds intake from settings. Tests and the launcher call create_app with their own settings."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from fastapi import FastAPI

from services.intake.adapters.complaint_views import ComplaintViews, ProjectedRecords
from services.intake.adapters.complaints import ComplaintRepository
from services.intake.adapters.identity_reads import IdentityReadLog
from services.intake.adapters.staff_assertions import AssertionKeyStore, SpentAssertions
from services.intake.adapters.staff_directory import StaffDirectory
from services.intake.api import complaints, escalations, lifecycle, worklists
from services.intake.api.admin import router as admin_router
from services.intake.consumers import handlers
from services.intake.domain.confidentiality import IdentityCipher
from services.intake.escalations import envelope_of
from services.intake.migrations import upgrade_earlier_complaints
from services.intake.ports import IntakePorts
from services.intake.settings import IntakeSettings
from shared.app import build_app
from shared.auth import ApiKeyring
from shared.metrics import ServiceMetrics
from shared.runtime import ServiceRuntime
from shared.staff_assertion import AssertionPolicy, StaffAssertionVerifier


def identity_cipher(settings: IntakeSettings) -> IdentityCipher:
    if settings.identity_key is None:
        raise ValueError(
            "HUIYIN_IDENTITY_KEY is not set: intake encrypts complainants' identity at rest "
            "and needs a key (base64 of 32 random bytes, e.g. "
            "`python -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'`)"
        )
    previous = [
        key.strip()
        for key in settings.identity_previous_keys.get_secret_value().split(",")
        if key.strip()
    ]
    return IdentityCipher.from_setting(settings.identity_key.get_secret_value(), previous=previous)


COMPLAINTS_REMEMBERED_SECONDS = 10.0


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    identity = identity_cipher(settings)
    runtime = ServiceRuntime(settings, metrics=ServiceMetrics("intake"))
    repository = ComplaintRepository(runtime.db)
    views = ComplaintViews(runtime.db)
    ports = IntakePorts(
        complaints=ProjectedRecords(
            repository.collection,
            runtime.relay_outbox_of(repository.collection),
            views=views,
            envelope=envelope_of,
            # Intake is the complaints' one writer: a complaint registered and routed a
            # moment later is changed from the copy it wrote (shared/records.py).
            remember_seconds=COMPLAINTS_REMEMBERED_SECONDS,
        ),
        repository=repository,
        directory=StaffDirectory(runtime.db),
        identity=identity,
        received_window=timedelta(days=settings.received_at_max_age_days),
        match_key=settings.match_key.get_secret_value(),
        views=views,
    )
    runtime.consume(handlers(ports=ports))

    async def upgrade() -> None:
        await upgrade_earlier_complaints(ports=ports)

    assertion_keys = AssertionKeyStore(runtime.db)
    spent = SpentAssertions(runtime.db)
    purging: list[asyncio.Task[None]] = []

    async def start_assertions() -> None:
        await assertion_keys.ensure_indexes()
        await spent.ensure_indexes()
        purging.append(asyncio.create_task(spent.purge_every(settings.assertion_purge_seconds)))

    async def stop_assertions() -> None:
        for task in purging:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        purging.clear()

    app = build_app(
        title="回音 Huiyin · intake",
        description="Complaint registration, the complaint lifecycle and complainant tracking.",
        runtime=runtime,
        routers=[
            complaints.router,
            worklists.router,
            lifecycle.router,
            escalations.router,
            admin_router,
        ],
        on_start=[
            repository.ensure_indexes,
            repository.mark_keys_complete_if_new,
            upgrade,
            start_assertions,
        ],
        on_stop=[stop_assertions, views.close],
    )
    app.state.ports = ports
    app.state.keyring = ApiKeyring(settings.api_keys)
    app.state.assertion_keys = assertion_keys
    app.state.identity_reads = IdentityReadLog(runtime.db)
    app.state.staff_assertions = StaffAssertionVerifier(
        keys=assertion_keys,
        spent=spent,
        policy=AssertionPolicy(
            audience=settings.assertion_audience,
            max_lifetime=timedelta(seconds=settings.assertion_max_lifetime_seconds),
            leeway=timedelta(seconds=settings.assertion_leeway_seconds),
        ),
    )
    return app
