from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    service_name: str = "notification"
    database: str = "huiyin_notification"
    http_port: int = 8003
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    smtp_attempts: int = Field(default=3, ge=1, le=10)
    mail_from: str = "回音投诉平台 <noreply@huiyin.example.org>"
    tracking_url: str = "http://127.0.0.1:8001/v1/track/"
