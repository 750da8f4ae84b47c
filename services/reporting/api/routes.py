"""Reports API. Dates are China-time calendar days; `to` is inclusive."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from services.reporting.api.deps import FactsDep
from services.reporting.api.schemas import HospitalSummary, Summary
from services.reporting.domain.summary import Tally
from shared.auth import CurrentPrincipal
from shared.contracts import CHINA
from shared.dates import Day
from shared.errors import error_responses, invalid

MAX_DAYS = 3 * 366 + 31

router = APIRouter(prefix="/v1/reports", responses=error_responses(401, 422, 503))


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
    responses=error_responses(403),
    summary="Counts by hospital, category, status",
)
async def summary(
    principal: CurrentPrincipal,
    facts: FactsDep,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    hospital_id: str | None = Query(default=None, max_length=64),
) -> Summary:
    scope = principal.hospital_scope(hospital_id)
    start, end = _window(start, end)
    rows = await facts.counts(
        start=datetime.combine(start, time.min, CHINA),
        end=datetime.combine(end + timedelta(days=1), time.min, CHINA),
        hospital_id=scope,
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
