"""Every service's parked messages, for the bureau's operators (shared/parking.py says how
they get there and what a replay does). `huiyin-admin parked` calls these routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.auth import CurrentPrincipal, Principal
from shared.dates import stored_utc
from shared.errors import conflict, error_responses, not_found, unavailable
from shared.parking import (
    PARKED_ID_PATTERN,
    NotParked,
    ParkedMessages,
    ReplayUnavailable,
    UnknownParkedMessage,
)

router = APIRouter(
    prefix="/v1/admin/parked",
    tags=["parked messages"],
    responses=error_responses(401, 403, 422, 503),
)

ParkedId = Annotated[str, Path(pattern=PARKED_ID_PATTERN, description="a parked message's id")]
Operator = Annotated[
    str | None,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(description="who at the bureau acts (recorded with the key's principal)"),
]


def bureau_only(principal: CurrentPrincipal) -> Principal:
    principal.only_bureau("handles parked messages")
    return principal


Bureau = Annotated[Principal, Depends(bureau_only)]


class ParkedAction(BaseModel):
    action: Literal["replayed", "discarded"]
    at: datetime
    by: str = Field(description="the API key's principal")
    operator: str | None = None
    reason: str | None = None


class ParkedRead(BaseModel):
    id: str
    queue: str
    status: Literal["parked", "replayed", "discarded"]
    source: Literal["consumer", "broker", "unknown"] = Field(
        description="consumer: the service parked it with a reason; broker: dead-lettered "
        "(x-death), e.g. its delivery limit after the handler kept failing"
    )
    reason: str
    event_type: str
    event_id: str | None
    complaint_id: str | None
    hospital_id: str | None
    parked_at: datetime
    age_seconds: int = Field(description="seconds since it was parked")
    history: list[ParkedAction]

    @classmethod
    def of(cls, record: dict[str, Any]) -> ParkedRead:
        parked_at = stored_utc(record["parked_at"])
        return cls.model_validate(
            {k: record.get(k) for k in cls.model_fields if k not in ("id", "age_seconds")}
            | {
                "id": record["_id"],
                "age_seconds": max(0, int((datetime.now(UTC) - parked_at).total_seconds())),
            }
        )


class ParkedPage(BaseModel):
    items: list[ParkedRead]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")
    parked: int = Field(description="messages parked now, all types")


class ReplayOne(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator: Operator = None


class ReplayAll(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_type: str | None = Field(default=None, max_length=64, description="only this type")
    limit: int = Field(
        default=50,
        ge=1,
        le=200,
        description="at most this many per call (each is confirmed by the broker before the "
        "next; the request's database deadline bounds a call)",
    )
    up_to: str | None = Field(
        default=None,
        pattern=PARKED_ID_PATTERN,
        description="the `up_to` of the first call: later calls replay no message parked "
        "after it (one that fails again is not replayed in a loop)",
    )
    operator: Operator = None


class ReplayAllResult(BaseModel):
    replayed: list[str] = Field(description="ids replayed, in parking order")
    remaining: int = Field(description="parked ones up to `up_to` still to replay")
    up_to: str | None


class Discard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        Field(description="why it is not replayed"),
    ]
    operator: Operator = None


def parked_messages(request: Request) -> ParkedMessages:
    parked: ParkedMessages = request.app.state.runtime.parked
    return parked


Parked = Annotated[ParkedMessages, Depends(parked_messages)]


@router.get("", summary="Parked messages, newest first (bureau)")
async def list_parked(
    parked: Parked,
    principal: Bureau,
    status: Literal["parked", "replayed", "discarded", "all"] = "parked",
    event_type: Annotated[str | None, Query(alias="type", max_length=64)] = None,
    order: Literal["newest", "oldest"] = "newest",
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    cursor: Annotated[str | None, Query(pattern=PARKED_ID_PATTERN)] = None,
) -> ParkedPage:
    items, next_cursor, count = await parked.page(
        status=status,
        event_type=event_type,
        oldest_first=order == "oldest",
        limit=limit,
        cursor=cursor,
    )
    return ParkedPage(
        items=[ParkedRead.of(item) for item in items], next_cursor=next_cursor, parked=count
    )


@router.get(
    "/{parked_id}",
    responses=error_responses(404),
    summary="One parked message (bureau)",
)
async def read_parked(parked_id: ParkedId, parked: Parked, principal: Bureau) -> ParkedRead:
    record = await parked.get(parked_id)
    if record is None:
        raise not_found(f"no parked message {parked_id}")
    return ParkedRead.of(record)


@router.post(
    "/replay",
    summary="Replay every parked message (or every one of a type), in parking order (bureau)",
)
async def replay_all(parked: Parked, principal: Bureau, body: ReplayAll) -> ReplayAllResult:
    try:
        done = await parked.replay_all(
            by=principal.name,
            operator=body.operator,
            event_type=body.event_type,
            limit=body.limit,
            up_to=body.up_to,
        )
    except ReplayUnavailable as error:
        raise unavailable(str(error)) from error
    return ReplayAllResult(replayed=done.replayed, remaining=done.remaining, up_to=done.up_to)


@router.post(
    "/{parked_id}/replay",
    responses=error_responses(404, 409),
    summary="Deliver a parked message again, as it first arrived (bureau)",
)
async def replay_one(
    parked_id: ParkedId, parked: Parked, principal: Bureau, body: ReplayOne | None = None
) -> ParkedRead:
    operator = body.operator if body else None
    try:
        return ParkedRead.of(await parked.replay(parked_id, by=principal.name, operator=operator))
    except UnknownParkedMessage as error:
        raise not_found(f"no parked message {parked_id}") from error
    except NotParked as error:
        raise conflict(str(error), code="not_parked", status=error.status, allowed=[]) from error
    except ReplayUnavailable as error:
        raise unavailable(str(error)) from error


@router.post(
    "/{parked_id}/discard",
    responses=error_responses(404, 409),
    summary="Give up on a parked message, with the reason (bureau)",
)
async def discard(
    parked_id: ParkedId, parked: Parked, principal: Bureau, body: Discard
) -> ParkedRead:
    try:
        record = await parked.discard(
            parked_id, by=principal.name, reason=body.reason, operator=body.operator
        )
    except UnknownParkedMessage as error:
        raise not_found(f"no parked message {parked_id}") from error
    except NotParked as error:
        raise conflict(str(error), code="not_parked", status=error.status, allowed=[]) from error
    return ParkedRead.of(record)
