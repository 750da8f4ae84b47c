"""A platform whose routing knows only the official calendar (chinese-calendar ends with
2026): no stand-in years, so deadlines past the end wait for the bureau to load the next
year, as in production on 20 December (issue 9)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from deploy.servers import Infrastructure
from services.routing.domain.calendar import WorkingCalendar
from tests.support import platform as support
from tests.support.calendar_years import lawful_stand_in
from tests.support.platform import Platform

LAST_COVERED = WorkingCalendar().covered_until()
NEXT_YEAR = LAST_COVERED.year + 1


def lawful_next_year() -> dict[str, list[str]]:
    """The body of PUT /v1/admin/calendar/{NEXT_YEAR}: an invented, lawful year."""
    holidays, workdays = lawful_stand_in(NEXT_YEAR)
    return {"holidays": [d.isoformat() for d in holidays], "workdays": [*map(str, workdays)]}


def today() -> date:
    return datetime.now(UTC).date()


@contextlib.asynccontextmanager
async def platform_ending_with_the_package(
    infra: Infrastructure,
    monkeypatch: pytest.MonkeyPatch,
    *,
    smtp_port: int,
    only: tuple[str, ...] = tuple(support.FACTORIES),
    **routing: Any,
) -> AsyncIterator[Platform]:
    """running_platform, with routing's calendar file removed (and `routing` settings)."""
    build = support.build_settings

    def without_stand_ins(*args: Any, **kwargs: Any) -> dict[str, Any]:
        settings = build(*args, **kwargs)
        update = {"calendar_file": None, "calendar_watch_seconds": 0.5, **routing}
        settings["routing"] = settings["routing"].model_copy(update=update)
        return settings

    monkeypatch.setattr(support, "build_settings", without_stand_ins)
    async with support.running_platform(infra, smtp_port=smtp_port, only=only) as running:
        yield running
