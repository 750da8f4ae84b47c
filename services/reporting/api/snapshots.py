"""The monthly report as filed on the 1st (services/reporting/snapshots.py), beside the live
table of GET /v1/reports/monthly that later events still move."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from services.reporting.api.schemas import MonthlyTable
from services.reporting.snapshots import MONTH, MonthlySnapshots
from shared.auth import CurrentPrincipal
from shared.errors import error_responses, not_found
from shared.http import from_app_state

SnapshotsDep = Annotated[MonthlySnapshots, from_app_state("snapshots")]

router = APIRouter(prefix="/v1/reports/monthly", responses=error_responses(401, 422, 503))


class MonthlySnapshot(BaseModel):
    month: str = Field(description="the month reported, YYYY-MM")
    taken_at: datetime = Field(description="when the table was filed (UTC)")
    table: MonthlyTable = Field(description="the table as GET /v1/reports/monthly gave it then")


@router.get(
    "/snapshots/{month}",
    responses=error_responses(403, 404),
    summary="The monthly classification table as filed on the 1st (投诉分类统计表存档)",
    response_model_by_alias=True,
)
async def monthly_snapshot(
    principal: CurrentPrincipal,
    snapshots: SnapshotsDep,
    month: Annotated[str, Path(pattern=MONTH.pattern, description="the month, YYYY-MM")],
    hospital_id: str | None = Query(default=None, max_length=64),
) -> MonthlySnapshot:
    """The bureau's table (category × hospital), or one hospital's (category × department):
    a hospital's key gets its own, the bureau's names one with `hospital_id`. A 404 when
    that month's report was not taken."""
    scope = principal.hospital_scope(hospital_id)
    found = await snapshots.get(month=month, hospital_id=scope)
    if found is None:
        raise not_found(f"no monthly report of {month} was taken")
    return MonthlySnapshot(month=found.month, taken_at=found.taken_at, table=found.table)
