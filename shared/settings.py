"""Settings every service shares; each service subclasses with its own fields.

Read from HUIYIN_* environment variables. Outside development, default credentials are
refused so that a demo configuration never reaches production by accident.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Celery's vhost on the platform's RabbitMQ: its queues and exchanges apart from the events'.
CELERY_VHOST = "huiyin-celery"


def in_vhost(amqp_url: str, vhost: str) -> str:
    """The same broker and account, another vhost."""
    return urlsplit(amqp_url)._replace(path=f"/{vhost}").geturl()


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUIYIN_", extra="ignore")

    service_name: str = "huiyin"
    env: Literal["development", "test", "production"] = "development"
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    database: str = "huiyin"
    exchange: str = Field(default="huiyin.events", pattern=r"^[A-Za-z0-9_.-]+$")
    queue_prefix: str = Field(default="huiyin", pattern=r"^[A-Za-z0-9_.-]+$")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    prefetch: int = Field(default=32, ge=1, le=1000)
    delivery_limit: int = Field(default=5, ge=1)
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    outbox_sweep_seconds: float = Field(default=10.0, gt=0)
    outbox_full_sweep_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how often a relay scans its whole collection for events left behind "
        "by a process that died (a full scan on the embedded server); between scans it "
        "reads only the documents it knows may hold some, by _id (shared/outbox.py)",
    )
    outbox_stale_seconds: float = Field(default=5.0, ge=0)
    request_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="every database operation of one HTTP request together; past it the "
        "request answers 503 with Retry-After instead of hanging",
    )
    database_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="one database round trip of background work (consumers, relays); a "
        "database that stops answering fails the operation, which is retried",
    )
    log_level: str = "INFO"
    # Celery (shared/celery_app.py): the workers of the services that have tasks, and the beat.
    celery_broker_url: str = Field(
        default="",
        description="Celery's broker: the platform's RabbitMQ in a vhost of its own; empty: "
        f"HUIYIN_AMQP_URL's server and account in the vhost {CELERY_VHOST}",
    )
    worker_concurrency: int = Field(
        default=2, ge=1, le=64, description="forked processes of one Celery worker"
    )
    worker_metrics_port: int = Field(
        default=9540,
        ge=0,
        le=65535,
        description="the worker's Prometheus endpoint, all its processes added up; 0: none",
    )
    worker_metrics_dir: str | None = Field(
        default=None,
        description="prometheus-client's multiprocess directory of one worker instance, "
        "emptied at its start; unset: huiyin-worker-metrics/<service>-<port> in the "
        "temporary directory",
    )
    task_time_limit_seconds: float = Field(
        default=300.0,
        gt=0,
        description="a task still running after this is killed (its process replaced); a "
        "soft limit at 80% lets it stop cleanly first",
    )
    clock_file: str | None = Field(
        default=None,
        description="tests only: a file holding seconds to add to the platform's clock "
        "(shared/clock.py), re-read at every reading; refused in production",
    )

    @model_validator(mode="after")
    def _celery_broker_in_its_own_vhost(self) -> ServiceSettings:
        if not self.celery_broker_url:
            self.celery_broker_url = in_vhost(self.amqp_url, CELERY_VHOST)
        return self

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> ServiceSettings:
        if self.env == "production" and "guest:guest@" in self.amqp_url:
            raise ValueError("HUIYIN_AMQP_URL uses the default guest account in production")
        if self.env == "production" and "guest:guest@" in self.celery_broker_url:
            raise ValueError(
                "HUIYIN_CELERY_BROKER_URL uses the default guest account in production"
            )
        if self.env == "production" and self.clock_file:
            raise ValueError("HUIYIN_CLOCK_FILE moves the clock: tests only, never production")
        return self
