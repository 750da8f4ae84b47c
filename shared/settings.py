"""Settings every service shares; each service subclasses with its own fields.

Read from HUIYIN_* environment variables. Outside development, default credentials are
refused so that a demo configuration never reaches production by accident.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> ServiceSettings:
        if self.env == "production" and "guest:guest@" in self.amqp_url:
            raise ValueError("HUIYIN_AMQP_URL uses the default guest account in production")
        return self
