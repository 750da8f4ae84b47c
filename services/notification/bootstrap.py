"""Builds the notification service from settings."""

from __future__ import annotations

from fastapi import FastAPI

from services.notification.adapters.contact_book import ContactBook
from services.notification.adapters.deliveries import DELIVERIES, DeliveryLog
from services.notification.adapters.mailer import SmtpMailer
from services.notification.adapters.retry_queues import RetryQueues
from services.notification.consumers import handlers
from services.notification.deliveries.digest import DigestBook
from services.notification.deliveries.dispatch import LadderDispatch
from services.notification.deliveries.log_api import router as delivery_log
from services.notification.service import DeliveriesInFlight, DeliveryPorts
from services.notification.settings import NotificationSettings
from shared.app import build_app
from shared.auth import ApiKeyring
from shared.celery_app import make_celery
from shared.clock import Clock
from shared.metrics import ServiceMetrics
from shared.runtime import ServiceRuntime


def create_app(settings: NotificationSettings | None = None) -> FastAPI:
    settings = settings or NotificationSettings()
    runtime = ServiceRuntime(settings, metrics=ServiceMetrics("notification"))
    deliveries = DeliveryLog(
        runtime.db,
        # The ladder's deliveries (Celery workers, deliveries/records.py) put events here too.
        relay=runtime.relay_outbox_of(runtime.db[DELIVERIES], written_elsewhere=True),
    )
    mailer = SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        timeout=settings.smtp_timeout_seconds,
    )
    retries = RetryQueues(
        prefix=settings.queue_prefix,
        service=settings.service_name,
        delays=settings.delivery_retry_delays_seconds,
        publish_timeout=settings.publish_timeout_seconds,
    )
    in_flight = DeliveriesInFlight()
    ended = runtime.metrics.counter(
        "huiyin_notice_deliveries",
        "E-mail notices the service delivered that ended, by channel and outcome (sent or "
        "failed); the ladder's deliveries count on the worker (huiyin_ladder_deliveries)",
        "channel",
        "outcome",
    )
    for outcome in ("sent", "failed"):  # from 0, so the first failure is an increase
        ended.labels("email", outcome)
    ports = DeliveryPorts(deliveries, mailer, retries, in_flight, ended)

    async def declare_retry_queues() -> None:
        await retries.start(runtime.amqp)

    async def finish_attempts() -> None:
        # Attempts under way record their outcome before the connections close.
        await in_flight.drain(timeout=settings.smtp_timeout_seconds)
        await deliveries.close()
        await mailer.close()

    ladder = LadderDispatch(
        runtime.db,
        deliveries=deliveries,
        contacts=ContactBook(runtime.db),
        celery=make_celery("notification", settings),
        digests=DigestBook(runtime.db),
        tracking_url=settings.tracking_url,
        case_url=settings.case_url,
        channels=settings.channels(),
        now=Clock.of(settings).now,
    )
    runtime.consume(handlers(ports=ports, settings=settings, ladder=ladder))
    app = build_app(
        title="回音 Huiyin · notification",
        description="Notices to complainants, handlers and supervisors (e-mail, SMS, WeCom, "
        "DingTalk, hospital webhooks), with a delivery log per case and per person.",
        runtime=runtime,
        routers=[delivery_log],
        on_start=[deliveries.ensure_indexes, declare_retry_queues],
        on_stop=[finish_attempts],
    )
    app.state.deliveries = deliveries
    app.state.keyring = ApiKeyring(settings.api_keys)
    return app
