from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    service_name: str = "routing"
    database: str = "huiyin_routing"
    http_port: int = 8002
    api_keys: str = Field(
        default="", description="principal:sha256 pairs for the admin API (calendar, absence)"
    )
    calendar_file: str | None = Field(
        default=None, description="YAML of official holiday arrangements for years to add"
    )
    reply_working_days: int = Field(
        default=5,
        ge=0,
        le=60,
        description="reply working days of an ordinary investigation, under the region "
        "file's bureau and hospital rules (which may set their own)",
    )
    calendar_watch_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often routing picks up years another replica loaded and counts "
        "the deadlines waiting for a loaded year (a load here wakes it at once)",
    )
