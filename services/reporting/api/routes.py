"""Reports API. Dates are China-time calendar days; `to` is inclusive."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel

from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.domain.status import status_of
from shared.auth import CurrentPrincipal

CHINA = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 3 * 366 + 31

router = APIRouter(prefix="/v1/reports")


class HospitalSummary(BaseModel):
    hospital_id: str
    total: int
    by_category: dict[str, int]
    by_status: dict[str, int]


class Summary(BaseModel):
    start: date
    end: date
    total: int
    by_category: dict[str, int]
    by_status: dict[str, int]
    hospitals: list[HospitalSummary]


def _window(start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(CHINA).date()
    start = start or today.replace(day=1)
    end = end or today
    if end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="to: is before from")
    if (end - start).days > MAX_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="to: window over 3 years")
    return start, end


@router.get("/summary", response_model=Summary, summary="Counts by hospital, category, status")
async def summary(
    request: Request,
    principal: CurrentPrincipal,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    hospital_id: str | None = Query(default=None, max_length=64),
) -> Summary:
    if not principal.is_bureau:
        if hospital_id and hospital_id != principal.hospital_id:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="hospital_id: not your hospital")
        hospital_id = principal.hospital_id
    start, end = _window(start, end)
    facts: ComplaintFacts = request.app.state.facts
    rows = await facts.counts(
        start=datetime.combine(start, time.min, CHINA),
        end=datetime.combine(end + timedelta(days=1), time.min, CHINA),
        hospital_id=hospital_id,
    )
    per_hospital: dict[str, dict[str, Counter[str]]] = defaultdict(
        lambda: {"category": Counter(), "status": Counter()}
    )
    for row in rows:
        key: dict[str, Any] = row["_id"]
        hospital = per_hospital[key["hospital_id"]]
        hospital["category"][key.get("category") or "unrouted"] += row["n"]
        hospital["status"][status_of(key.get("status_rank"))] += row["n"]
    hospitals = [
        HospitalSummary(
            hospital_id=hid,
            total=sum(counts["status"].values()),
            by_category=dict(counts["category"]),
            by_status=dict(counts["status"]),
        )
        for hid, counts in sorted(per_hospital.items())
    ]
    by_category: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for h in hospitals:
        by_category.update(h.by_category)
        by_status.update(h.by_status)
    return Summary(
        start=start,
        end=end,
        total=sum(h.total for h in hospitals),
        by_category=dict(by_category),
        by_status=dict(by_status),
        hospitals=hospitals,
    )
