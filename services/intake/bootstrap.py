"""Builds intake from settings. Tests and the launcher call create_app with their own settings."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake.adapters.complaints import ComplaintRepository
from services.intake.adapters.staff_directory import StaffDirectory
from services.intake.api.routes import router
from services.intake.consumers import handlers
from services.intake.domain.confidentiality import IdentityCipher
from services.intake.service import IntakePorts, upgrade_earlier_complaints
from services.intake.settings import IntakeSettings
from shared.app import build_app
from shared.auth import ApiKeyring
from shared.metrics import ServiceMetrics
from shared.runtime import ServiceRuntime


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


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    identity = identity_cipher(settings)
    runtime = ServiceRuntime(settings, metrics=ServiceMetrics("intake"))
    repository = ComplaintRepository(runtime.db)
    directory = StaffDirectory(runtime.db)
    runtime.relay_outbox_of(repository.collection)

    def ports() -> IntakePorts:
        relay = runtime.relay_for(repository.collection)
        return IntakePorts(repository, directory, identity, relay)

    runtime.consume(handlers(ports=ports))

    async def upgrade() -> None:
        await upgrade_earlier_complaints(ports())

    app = build_app(
        title="回音 Huiyin · intake",
        description="Complaint registration, the complaint lifecycle and complainant tracking.",
        runtime=runtime,
        routers=[router],
        on_start=[repository.ensure_indexes, upgrade],
    )
    app.state.repository = repository
    app.state.directory = directory
    app.state.identity = identity
    app.state.keyring = ApiKeyring(settings.api_keys)
    return app
