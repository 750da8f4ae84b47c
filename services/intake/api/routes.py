"""Intake's HTTP API: a thin layer over the commands in service.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from pydantic import AwareDatetime

from services.intake import service
from services.intake.api.deps import RelayDep, RepositoryDep
from services.intake.api.schemas import (
    ComplaintCreate,
    ComplaintListItem,
    ComplaintPage,
    ComplaintRead,
    ComplaintReceipt,
    ReplyCreate,
    TrackingRead,
)
from services.intake.domain.complaint import (
    CHANNEL_LABELS,
    STATUS_LABELS,
    Channel,
    ComplaintStatus,
    IllegalTransition,
    is_contactable,
)
from shared.auth import CurrentPrincipal, Principal

router = APIRouter(prefix="/v1")


def _not_found(complaint_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"complaint {complaint_id} not found")


def _receipt(document: dict[str, Any]) -> dict[str, Any]:
    state = ComplaintStatus(document["status"])
    return {
        "id": document["_id"],
        "hospital_id": document["hospital_id"],
        "case_number": document["case_number"],
        "tracking_code": document["tracking_code"],
        "status": state,
        "status_label": STATUS_LABELS[state],
    }


def _read(document: dict[str, Any]) -> ComplaintRead:
    complainant = document.get("complainant") or {}
    return ComplaintRead(
        **_receipt(document),
        channel=document["channel"],
        channel_label=CHANNEL_LABELS[Channel(document["channel"])],
        kind=document["kind"],
        anonymous=document["anonymous"],
        contactable=is_contactable(
            anonymous=document["anonymous"],
            email=complainant.get("email"),
            phone=complainant.get("phone"),
        ),
        complainant=document.get("complainant"),
        target_department=document.get("target_department"),
        target_staff_id=document.get("target_staff_id"),
        summary=document.get("summary"),
        content=document["content"],
        demand=document.get("demand"),
        received_at=document["received_at"],
        received_by=document.get("received_by"),
        assignment=document.get("assignment"),
        reply=document.get("reply"),
        timeline=document.get("timeline", []),
        version=document["version"],
    )


def _hospital_for(principal: Principal, requested: str | None) -> str:
    if principal.is_bureau:
        if not requested:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=[
                    {"loc": ["body", "hospital_id"], "msg": "the bureau must name the hospital"}
                ],
            )
        return requested
    if requested and requested != principal.hospital_id:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="hospital_id: a hospital registers only its own complaints",
        )
    assert principal.hospital_id is not None
    return principal.hospital_id


@router.post(
    "/complaints",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintReceipt,
    summary="Register a complaint (登记投诉)",
)
async def register(
    body: ComplaintCreate,
    principal: CurrentPrincipal,
    repository: RepositoryDep,
    relay: RelayDep,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)
    ] = None,
) -> dict[str, Any]:
    hospital_id = _hospital_for(principal, body.hospital_id)
    try:
        document, replayed = await service.register_complaint(
            request=body,
            hospital_id=hospital_id,
            idempotency_key=idempotency_key,
            repository=repository,
            relay=relay,
        )
    except service.IdempotencyConflict as conflict:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(conflict)) from conflict
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/complaints/{document['_id']}"
    return _receipt(document)


@router.get("/complaints/{complaint_id}", response_model=ComplaintRead, summary="One complaint")
async def read(
    complaint_id: str, principal: CurrentPrincipal, repository: RepositoryDep
) -> ComplaintRead:
    document = await repository.get(complaint_id)
    if document is None or not principal.may_see(document["hospital_id"]):
        raise _not_found(complaint_id)
    return _read(document)


@router.get("/complaints", response_model=ComplaintPage, summary="List complaints, newest first")
async def list_complaints(
    principal: CurrentPrincipal,
    repository: RepositoryDep,
    hospital_id: str | None = None,
    status_: Annotated[ComplaintStatus | None, Query(alias="status")] = None,
    channel: Channel | None = None,
    category: str | None = Query(default=None, max_length=64),
    department: str | None = Query(default=None, max_length=64),
    received_from: AwareDatetime | None = None,
    received_to: AwareDatetime | None = None,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=512),
) -> ComplaintPage:
    filters: dict[str, Any] = {}
    if principal.is_bureau:
        if hospital_id:
            filters["hospital_id"] = hospital_id
    else:
        if hospital_id and hospital_id != principal.hospital_id:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="hospital_id: not your hospital")
        filters["hospital_id"] = principal.hospital_id
    if status_:
        filters["status"] = status_.value
    if channel:
        filters["channel"] = channel.value
    if category:
        filters["assignment.category"] = category
    if department:
        filters["assignment.department"] = department
    window: dict[str, datetime] = {}
    if received_from:
        window["$gte"] = received_from
    if received_to:
        window["$lt"] = received_to
    if window:
        filters["received_at"] = window
    try:
        documents, next_cursor = await repository.page(filters=filters, limit=limit, cursor=cursor)
    except ValueError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[{"loc": ["query", "cursor"], "msg": str(error)}],
        ) from error
    items = [
        ComplaintListItem(
            **_receipt(d),
            channel=d["channel"],
            kind=d["kind"],
            received_at=d["received_at"],
            category=(d.get("assignment") or {}).get("category"),
            department=(d.get("assignment") or {}).get("department"),
            due_at=(d.get("assignment") or {}).get("due_at"),
        )
        for d in documents
    ]
    return ComplaintPage(items=items, next_cursor=next_cursor)


@router.post(
    "/complaints/{complaint_id}/reply",
    response_model=ComplaintRead,
    summary="The handler's reply to the complainant (答复)",
)
async def reply(
    complaint_id: str,
    body: ReplyCreate,
    principal: CurrentPrincipal,
    repository: RepositoryDep,
    relay: RelayDep,
) -> ComplaintRead:
    try:
        document = await service.reply_to_complaint(
            complaint_id=complaint_id,
            reply=body,
            hospital_scope=principal.hospital_id,
            repository=repository,
            relay=relay,
        )
    except service.ComplaintNotFound as missing:
        raise _not_found(complaint_id) from missing
    except IllegalTransition as illegal:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail={"message": str(illegal), "status": illegal.status, "allowed": illegal.allowed},
        ) from illegal
    return _read(document)


@router.get(
    "/track/{tracking_code}",
    response_model=TrackingRead,
    summary="Progress for the complainant (no login; the tracking code is the secret)",
)
async def track(tracking_code: str, repository: RepositoryDep) -> TrackingRead:
    document = await repository.by_tracking_code(tracking_code.strip().upper())
    if document is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="tracking_code: unknown")
    state = ComplaintStatus(document["status"])
    return TrackingRead(
        case_number=document["case_number"],
        status=state,
        status_label=STATUS_LABELS[state],
        received_at=document["received_at"],
        due_at=(document.get("assignment") or {}).get("due_at"),
        replied_at=(document.get("reply") or {}).get("replied_at"),
    )
