from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from shared.matching import DEV_MATCH_KEY
from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    database: str = "huiyin_reporting"
    http_port: int = 8004
    api_keys: str = ""
    overdue_refresh_seconds: float = Field(default=15.0, gt=0)
    match_key: SecretStr = Field(
        default=SecretStr(DEV_MATCH_KEY),
        description="HUIYIN_MATCH_KEY: the secret of the keyed hashes recurring complaints "
        "are matched by (shared/matching.py), the same as intake's; the default is for "
        "development and the demo only",
    )
    intake_database: str = Field(
        default="huiyin_intake",
        description="HUIYIN_INTAKE_DATABASE: intake's database on the same server, which "
        "`python -m services.reporting.rebuild` rebuilds the read models from",
    )
    region_file: str | None = Field(
        default=None,
        description="HUIYIN_REGION_FILE: the region file routing loads (deploy/"
        "region.example.yaml); the scorecard reads each hospital's departments from it, so "
        "a department without complaints can be commended. Unset: only departments seen in "
        "events are listed",
    )

    @model_validator(mode="after")
    def _keys_in_production(self) -> ReportingSettings:
        if self.env == "production" and not self.api_keys.strip():
            raise ValueError("HUIYIN_API_KEYS must be set in production")
        if self.env == "production" and self.match_key.get_secret_value() == DEV_MATCH_KEY:
            raise ValueError("HUIYIN_MATCH_KEY must be set in production")
        return self
