from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    service_name: str = "notification"
    database: str = "huiyin_notification"
    http_port: int = 8003
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    delivery_retry_delays_seconds: tuple[Annotated[float, Field(gt=0, le=86_400)], ...] = Field(
        default=(10.0, 60.0, 300.0, 1800.0),
        max_length=10,
        description="the pause before each further attempt of a delivery that failed in a way "
        "that may pass (4xx reply, connection refused, timeout); each waits in a broker retry "
        "queue; once the last is used the delivery fails for good and the office is told",
    )
    mail_from: str = "回音投诉平台 <noreply@huiyin.example.org>"
    tracking_url: str = "http://127.0.0.1:8001/v1/track/"
    api_keys: str = Field(
        default="", description="principal:sha256 pairs for the admin API (parked messages)"
    )
