"""Worklists (工作台): a handler's open cases, a department's queue, the complaint office's
acceptance queue and the overdue cases, each one document read by `_id` (the read models of
domain/worklists.py), scoped like the complaint list: a hospital sees its own, the bureau
names the hospital (or, for overdue cases, sees the region's)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.intake.adapters.complaints import decode_cursor, encode_cursor
from services.intake.api.deps import PortsDep
from services.intake.api.presentation import receipt
from services.intake.api.schemas import ComplaintListItem, WorklistItem, WorklistPage
from services.intake.domain.worklists import (
    ACCEPTANCE,
    DEPARTMENT,
    HANDLER,
    OVERDUE,
    REGION,
    Worklist,
    worklist_view,
)
from services.intake.ports import IntakePorts
from shared.auth import CurrentPrincipal, Principal
from shared.errors import error_responses, invalid

router = APIRouter(
    prefix="/v1/worklists", tags=["worklists"], responses=error_responses(401, 422, 503)
)

Limit = Annotated[int, Query(ge=1, le=200, description="at most this many cases")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="the next_cursor of the page before")
]
HospitalId = Annotated[
    str | None, Query(max_length=64, description="the bureau names the hospital")
]
PAGING = "Oldest first (the longest waiting at the top), `limit` a page with `next_cursor`."


def list_item(row: dict[str, Any]) -> ComplaintListItem:
    """A row of the views as the complaint list shows it."""
    return ComplaintListItem(**_listed(row))


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **receipt(row | {"_id": row["id"]}),
        "channel": row["channel"],
        "kind": row["kind"],
        "received_at": row["received_at"],
        "category": row.get("category"),
        "department": row.get("department"),
        "due_at": row.get("due_at"),
    }


def position_of(cursor: str | None) -> tuple[datetime, str] | None:
    """Where a page goes on from: the `cursor` query parameter decoded (422 if it is not one)."""
    try:
        return decode_cursor(cursor) if cursor else None
    except ValueError as error:
        raise invalid("cursor", str(error), location="query") from error


def _hospital(principal: Principal, requested: str | None) -> str:
    hospital_id = principal.hospital_scope(requested)
    if hospital_id is None:
        raise invalid("hospital_id", "the bureau must name the hospital", location="query")
    return hospital_id


async def _page(
    ports: IntakePorts,
    worklist: Worklist,
    *,
    scope: str,
    member: str | None,
    limit: int,
    cursor: str | None,
) -> WorklistPage:
    above = position_of(cursor)
    rows, total, position = await ports.views.worklist(
        worklist_view(worklist, scope, member), limit=limit, above=above
    )
    return WorklistPage(
        worklist=worklist.code,
        label=worklist.label,
        hospital_id=None if scope == REGION else scope,
        member=member,
        total=total,
        items=[
            WorklistItem(
                **_listed(row),
                handler=row.get("handler"),
                handler_name=row.get("handler_name"),
                overdue=row.get("overdue", False),
            )
            for row in rows
        ],
        next_cursor=encode_cursor(*position) if position else None,
    )


@router.get(
    "/handlers/{staff_id}",
    responses=error_responses(403),
    summary="A handler's open cases (承办人在办案件)",
    description="Cases assigned to the handler and being handled (accepted, assigned, in "
    f"progress, under re-review). {PAGING}",
)
async def handler_cases(
    staff_id: Annotated[str, Path(max_length=64)],
    principal: CurrentPrincipal,
    ports: PortsDep,
    hospital_id: HospitalId = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorklistPage:
    scope = _hospital(principal, hospital_id)
    return await _page(ports, HANDLER, scope=scope, member=staff_id, limit=limit, cursor=cursor)


@router.get(
    "/departments/{department}",
    responses=error_responses(403),
    summary="A department's queue (科室待办队列)",
    description=f"Cases being handled whose lead or co-handling department this is. {PAGING}",
)
async def department_queue(
    department: Annotated[str, Path(max_length=64)],
    principal: CurrentPrincipal,
    ports: PortsDep,
    hospital_id: HospitalId = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorklistPage:
    scope = _hospital(principal, hospital_id)
    return await _page(
        ports, DEPARTMENT, scope=scope, member=department, limit=limit, cursor=cursor
    )


@router.get(
    "/acceptance",
    responses=error_responses(403),
    summary="The acceptance queue (待受理队列)",
    description="Cases received and not yet decided on: registered, or waiting for the "
    f"complainant's supplement. {PAGING}",
)
async def acceptance_queue(
    principal: CurrentPrincipal,
    ports: PortsDep,
    hospital_id: HospitalId = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorklistPage:
    scope = _hospital(principal, hospital_id)
    return await _page(ports, ACCEPTANCE, scope=scope, member=None, limit=limit, cursor=cursor)


@router.get(
    "/overdue",
    responses=error_responses(403),
    summary="Overdue cases (超期案件)",
    description="Open cases whose deadline passed (the escalation ladder recorded it, for "
    "the deadline the case has now: an extension takes a case off until its new deadline "
    f"passes). The bureau without `hospital_id` sees the region's. {PAGING}",
)
async def overdue_cases(
    principal: CurrentPrincipal,
    ports: PortsDep,
    hospital_id: HospitalId = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WorklistPage:
    scope = principal.hospital_scope(hospital_id) or REGION
    return await _page(ports, OVERDUE, scope=scope, member=None, limit=limit, cursor=cursor)
