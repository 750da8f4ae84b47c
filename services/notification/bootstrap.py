"""Builds the notification service from settings."""

from __future__ import annotations

from fastapi import FastAPI

from services.notification.adapters.deliveries import DeliveryLog
from services.notification.adapters.mailer import SmtpMailer
from services.notification.consumers import handlers
from services.notification.settings import NotificationSettings
from shared.app import build_app
from shared.metrics import ServiceMetrics
from shared.runtime import ServiceRuntime


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    settings = settings or NotificationSettings()
    runtime = ServiceRuntime(settings, metrics=ServiceMetrics("notification"))
    deliveries = DeliveryLog(runtime.db)
    mailer = SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        timeout=settings.smtp_timeout_seconds,
        attempts=settings.smtp_attempts,
    )
    runtime.relay_outbox_of(deliveries.collection)
    runtime.consume(
        handlers(runtime=runtime, deliveries=deliveries, mailer=mailer, settings=settings)
    )
    app = build_app(
        title="回音 Huiyin · notification",
        description="E-mail to handlers and complainants, with a delivery log.",
        runtime=runtime,
        on_start=[deliveries.ensure_indexes],
    )
    app.state.deliveries = deliveries
    return app
