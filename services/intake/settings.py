from __future__ import annotations

from pydantic import model_validator

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    database: str = "huiyin_intake"
    http_port: int = 8001
    api_keys: str = ""

    @model_validator(mode="after")
    def _keys_in_production(self) -> IntakeSettings:
        if self.env == "production" and not self.api_keys.strip():
            raise ValueError("HUIYIN_API_KEYS must be set in production")
        return self
