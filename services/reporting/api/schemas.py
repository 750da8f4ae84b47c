"""Response bodies of the reports API."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class Counts(BaseModel):
    """Complaints received in the window. Satisfaction counts closed complaints by their
    latest return visit; a complaint reopened since then counts under by_status only."""

    total: int = 0
    by_category: dict[str, int] = Field(default_factory=dict)
    by_status: dict[str, int] = Field(default_factory=dict)
    by_satisfaction: dict[str, int] = Field(default_factory=dict)
    not_accepted_reasons: dict[str, int] = Field(default_factory=dict)
    extensions: int = Field(0, description="approved extensions (延期)")
    escalations: int = Field(0, description="escalations above the handler (督办)")


class HospitalSummary(Counts):
    hospital_id: str


class Summary(Counts):
    start: date
    end: date
    hospitals: list[HospitalSummary]
