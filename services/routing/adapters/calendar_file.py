"""The bureau's calendar file: official holiday arrangements for years the
chinese-calendar package does not know yet (or corrections to it).

    years:
      2027:
        holidays: [2027-01-01, 2027-02-05, ...]   # rest days, from the State Council notice
        workdays: [2027-02-13, ...]               # weekend days made working days (调休)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from services.routing.domain.calendar import CalendarCorrection


class _Year(BaseModel):
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)


class _CalendarFile(BaseModel):
    years: dict[int, _Year]


def read_corrections(path: Path) -> list[CalendarCorrection]:
    # BaseLoader keeps every value a string, so pydantic names the bad date's place.
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # noqa: S506
    parsed = _CalendarFile.model_validate(raw)
    return [
        CalendarCorrection(
            year=year, holidays=frozenset(entry.holidays), workdays=frozenset(entry.workdays)
        )
        for year, entry in parsed.years.items()
    ]
