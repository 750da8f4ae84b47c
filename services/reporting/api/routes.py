"""Reports API. Dates are China-time calendar days; `to` is inclusive."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.domain.summary import Tally
from shared.auth import CurrentPrincipal
from shared.dates import Day
from shared.errors import error_responses, forbidden, invalid

CHINA = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 3 * 366 + 31

router = APIRouter(prefix="/v1/reports", responses=error_responses(401, 422, 503))


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


def _window(start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(CHINA).date()
    start = start or today.replace(day=1)
    end = end or today
    if end < start:
        raise invalid("to", "is before from", location="query")
    if (end - start).days > MAX_DAYS:
        raise invalid("to", "window over 3 years", location="query")
    return start, end


@router.get(
    "/summary",
    response_model=Summary,
    responses=error_responses(403),
    summary="Counts by hospital, category, status",
)
async def summary(
    request: Request,
    principal: CurrentPrincipal,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    hospital_id: str | None = Query(default=None, max_length=64),
) -> Summary:
    if not principal.is_bureau:
        if hospital_id and hospital_id != principal.hospital_id:
            raise forbidden("hospital_id: not your hospital")
        hospital_id = principal.hospital_id
    start, end = _window(start, end)
    facts: ComplaintFacts = request.app.state.facts
    rows = await facts.counts(
        start=datetime.combine(start, time.min, CHINA),
        end=datetime.combine(end + timedelta(days=1), time.min, CHINA),
        hospital_id=hospital_id,
    )
    per_hospital: dict[str, Tally] = defaultdict(Tally)
    for row in rows:
        per_hospital[row["_id"]["hospital_id"]].add(row)
    hospitals = [
        HospitalSummary(hospital_id=hid, **tally.counts())
        for hid, tally in sorted(per_hospital.items())
    ]
    region = Tally()
    for tally in per_hospital.values():
        region.merge(tally)
    return Summary(start=start, end=end, hospitals=hospitals, **region.counts())
