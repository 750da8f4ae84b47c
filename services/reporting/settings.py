from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    database: str = "huiyin_reporting"
    http_port: int = 8004
    api_keys: str = ""
    overdue_refresh_seconds: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _keys_in_production(self) -> ReportingSettings:
        if self.env == "production" and not self.api_keys.strip():
            raise ValueError("HUIYIN_API_KEYS must be set in production")
        return self
