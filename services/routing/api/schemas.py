"""Request and response bodies of routing's admin API: the working-day calendar and staff
absence."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class YearArrangement(BaseModel):
    """One year as the State Council's holiday notice gives it."""

    model_config = ConfigDict(extra="forbid")
    holidays: list[date] = Field(description="rest days (放假), weekday ones at least")
    workdays: list[date] = Field(default_factory=list, description="weekend days worked (调休)")


class PendingYear(BaseModel):
    year: int
    deadlines: int = Field(description="clocks whose deadline waits for this year's calendar")


class CalendarCoverage(BaseModel):
    covered_until: date
    corrected_years: list[int]
    horizon_days: int
    warning: str | None
    pending: list[PendingYear] = Field(
        default_factory=list,
        description="deadlines waiting for a year's calendar (as of the last recount pass)",
    )


class YearVersion(BaseModel):
    version: int
    by: str
    at: datetime | None
    holidays: list[date]
    workdays: list[date]


class YearHistory(BaseModel):
    year: int
    source: str = Field(description="bureau (loaded here), package (chinese-calendar) or none")
    version: int | None = Field(description="the bureau's version in force")
    versions: list[YearVersion]


class Absence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    absent: bool
    delegate_to: str | None = Field(default=None, max_length=64, description="colleague's id")
    reason: str = Field(default="请假", min_length=1, max_length=200)


class AbsenceResult(BaseModel):
    staff_id: str
    absent: bool
    delegated_to: str | None
    delegated: list[str]
