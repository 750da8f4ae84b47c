"""The delivery log, through the API: who was told what, when, through which channel, with
what outcome, for a case or for a person (GET /v1/complaints/{id}/deliveries, GET
/v1/staff/{staff_id}/deliveries).

Read by `_id` only (ARCHITECTURE.md "Storage"): the case's or the person's month's index
document lists the deliveries (records.py), each then read by its `_id`. A hospital sees
its own deliveries; the bureau every hospital's. Addresses are shown masked; a notice's
text, and a group's URL, never.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from services.notification.adapters.deliveries import (
    DELIVERIES,
    INDEX,
    complaint_index,
    person_index,
)
from services.notification.delivery_policy import REASON_LABELS
from services.notification.domain.messages import RecipientRole
from shared.auth import CurrentPrincipal, Principal
from shared.contracts import DeliveryChannel, LadderLevel
from shared.errors import error_responses, invalid

router = APIRouter(prefix="/v1", tags=["delivery log"], responses=error_responses(401, 422, 503))

STATUS_LABELS = {
    "queued": "待发送",
    "deferred": "等待工作时间发送",
    "sending": "发送中",
    "retrying": "等待重试",
    "unknown": "结果未知",
    "sent": "已发送",
    "failed": "发送失败",
}
PAGE = 50


class AttemptRead(BaseModel):
    attempt: int
    at: datetime
    outcome: str
    reason_code: str | None = None


class DeliveryRead(BaseModel):
    delivery_id: str
    complaint_id: str
    hospital_id: str
    case_number: str | None = None
    level: str | None = Field(default=None, description="the ladder level (LadderLevel code)")
    level_label: str | None = None
    round: int | None = None
    channel: str
    channel_label: str
    recipient_role: str
    recipient_role_label: str
    recipient_staff_id: str | None = Field(
        default=None, description="None: a group or the complainant"
    )
    recipient: str = Field(description="masked address, phone or group name")
    subject: str | None = None
    status: str
    status_label: str
    attempts: int
    created_at: datetime | None = None
    release_at: datetime | None = Field(default=None, description="held for office hours until")
    finished_at: datetime | None = None
    reason_code: str | None = None
    reason: str | None = None
    history: list[AttemptRead] = []


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None = Field(default=None, description="pass as `cursor` for the next page")


def _label(enum: Any, code: str | None) -> str | None:
    if code is None:
        return None
    try:
        return str(enum(code).label)
    except ValueError:
        return code


def read(document: dict[str, Any]) -> DeliveryRead:
    channel = document.get("channel", "email")
    status = document.get("status", "")
    code = document.get("reason_code")
    return DeliveryRead(
        delivery_id=document["_id"],
        complaint_id=document.get("complaint_id", ""),
        hospital_id=document.get("hospital_id", ""),
        case_number=document.get("case_number"),
        level=document.get("level"),
        level_label=_label(LadderLevel, document.get("level")),
        round=document.get("round"),
        channel=channel,
        channel_label=_label(DeliveryChannel, channel) or channel,
        recipient_role=document.get("recipient_role", ""),
        recipient_role_label=_label(RecipientRole, document.get("recipient_role")) or "",
        recipient_staff_id=document.get("recipient_staff_id"),
        recipient=document.get("recipient", ""),
        subject=document.get("subject"),
        status=status,
        status_label=STATUS_LABELS.get(status, status),
        attempts=int(document.get("attempts", 0)),
        created_at=document.get("created_at"),
        release_at=document.get("release_at"),
        finished_at=document.get("finished_at"),
        reason_code=code,
        reason=REASON_LABELS.get(code) if code else None,
        history=[
            AttemptRead(
                attempt=h.get("attempt", 0),
                at=h["at"],
                outcome=h.get("outcome", ""),
                reason_code=h.get("reason_code"),
            )
            for h in document.get("history", [])
        ],
    )


async def _page_of(
    request: Request, principal: Principal, index_id: str, cursor: str | None, limit: int
) -> DeliveryPage:
    """One page of the deliveries an index document lists, in the order they were stored,
    each read by `_id`; what the caller may not see is left out."""
    db = request.app.state.deliveries.collection.database
    index = await db[INDEX].find_one({"_id": index_id})
    ids = list((index or {}).get("ids", []))
    start = 0
    if cursor is not None:
        if not cursor.isdigit():
            raise invalid("cursor", "not a cursor this list returned", location="query")
        start = int(cursor)
    following = start + limit
    hidden = {"outbox": 0, "message": 0, "address": 0}  # the text, the address, the events
    found = await asyncio.gather(
        *(db[DELIVERIES].find_one({"_id": i}, hidden) for i in ids[start:following])
    )
    documents = [d for d in found if d and principal.may_see(d.get("hospital_id", ""))]
    documents.sort(key=lambda d: d.get("created_at") or datetime.min.replace(tzinfo=UTC))
    return DeliveryPage(
        items=[read(d) for d in documents],
        next_cursor=str(following) if following < len(ids) else None,
    )


Limit = Annotated[int, Query(ge=1, le=200, description="deliveries per page")]
Cursor = Annotated[str | None, Query(max_length=12)]


@router.get(
    "/complaints/{complaint_id}/deliveries",
    response_model=DeliveryPage,
    summary="投诉的通知记录：通知了谁、何时、通过什么渠道、结果如何",
    description="Every notice of one case and its deliveries, oldest first: each person or "
    "group, channel, status and every attempt. A hospital sees its own cases (another's: "
    "an empty list, never whether it exists).",
)
async def for_complaint(
    request: Request,
    principal: CurrentPrincipal,
    complaint_id: Annotated[str, Path(max_length=64)],
    limit: Limit = PAGE,
    cursor: Cursor = None,
) -> DeliveryPage:
    return await _page_of(request, principal, complaint_index(complaint_id), cursor, limit)


@router.get(
    "/staff/{staff_id}/deliveries",
    response_model=DeliveryPage,
    summary="某人收到的通知记录（按月）",
    description="What one staff member or supervisor was sent in a month (default: this "
    "month, UTC), oldest first. A hospital sees what its own cases sent.",
)
async def for_person(
    request: Request,
    principal: CurrentPrincipal,
    staff_id: Annotated[str, Path(max_length=64)],
    month: Annotated[
        str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    ] = None,
    limit: Limit = PAGE,
    cursor: Cursor = None,
) -> DeliveryPage:
    when = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC) if month else datetime.now(UTC)
    return await _page_of(request, principal, person_index(staff_id, when), cursor, limit)
