from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    database: str = "huiyin_intake"
    http_port: int = 8001
    api_keys: str = ""
    identity_key: SecretStr | None = Field(
        default=None,
        description="HUIYIN_IDENTITY_KEY: base64 of 32 random bytes; encrypts complainants' "
        "identity at rest. Required: without it intake refuses to start.",
    )
    identity_previous_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated earlier keys, still able to read after a rotation",
    )

    @model_validator(mode="after")
    def _keys_in_production(self) -> IntakeSettings:
        if self.env == "production" and not self.api_keys.strip():
            raise ValueError("HUIYIN_API_KEYS must be set in production")
        return self
