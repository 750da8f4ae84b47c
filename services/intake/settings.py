from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.matching import DEV_MATCH_KEY
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
    received_at_max_age_days: int = Field(
        default=366,
        ge=1,
        le=3650,
        description="HUIYIN_RECEIVED_AT_MAX_AGE_DAYS: the oldest `received_at` a registration "
        "may carry (a hospital syncing its backlog); older dates are refused as mistakes",
    )
    identity_previous_keys: SecretStr = Field(
        default=SecretStr(""),
        description="Comma-separated earlier keys, still able to read after a rotation",
    )
    assertion_audience: str = Field(
        default="huiyin",
        min_length=1,
        description="HUIYIN_ASSERTION_AUDIENCE: the `aud` every staff assertion must carry; "
        "give each deployment its own, so an assertion for one is refused by another",
    )
    assertion_max_lifetime_seconds: int = Field(
        default=300, ge=10, le=900, description="longest exp - iat a staff assertion may have"
    )
    assertion_leeway_seconds: int = Field(
        default=30, ge=0, le=120, description="clock skew allowed on iat, nbf and exp"
    )
    assertion_purge_seconds: float = Field(
        default=60.0, gt=0, description="how often used assertion ids past expiry are removed"
    )

    match_key: SecretStr = Field(
        default=SecretStr(DEV_MATCH_KEY),
        description="HUIYIN_MATCH_KEY: the secret of the complainant's match key "
        "(shared/matching.py), the same as reporting's; the default is for development only",
    )

    @model_validator(mode="after")
    def _keys_in_production(self) -> IntakeSettings:
        if self.env == "production" and not self.api_keys.strip():
            raise ValueError("HUIYIN_API_KEYS must be set in production")
        if self.env == "production" and self.match_key.get_secret_value() == DEV_MATCH_KEY:
            raise ValueError("HUIYIN_MATCH_KEY must be set in production")
        return self
