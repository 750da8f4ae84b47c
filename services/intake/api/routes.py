"""Intake's HTTP API: a thin layer over the commands in service.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status
from pydantic import AwareDatetime, ValidationError

from services.intake import commands, service
from services.intake.api import schemas
from services.intake.api.deps import PortsDep
from services.intake.api.schemas import (
    BatchCreate,
    BatchResult,
    ComplaintCreate,
    ComplaintListItem,
    ComplaintPage,
    ComplaintRead,
    ComplaintReceipt,
    TimelineVerdict,
    TrackingRead,
)
from services.intake.domain import timeline
from services.intake.domain.complaint import (
    CHANNEL_LABELS,
    STATUS_LABELS,
    Action,
    Channel,
    ComplaintStatus,
    IllegalTransition,
    allowed_actions,
    is_contactable,
)
from services.intake.domain.confidentiality import IdentityView, mask, view_for
from shared.auth import CurrentPrincipal, Principal
from shared.errors import (
    ApiError,
    ErrorItem,
    conflict,
    error_responses,
    forbidden,
    invalid,
    not_found,
)

router = APIRouter(prefix="/v1", responses=error_responses(401, 422, 503))

STAFF_HEADER = "X-Huiyin-Staff"
StaffHeader = Annotated[
    str | None,
    Header(
        alias=STAFF_HEADER,
        max_length=64,
        description="staff id of the reader; decides how much of the complainant they see",
    ),
]


def _not_found(complaint_id: str) -> ApiError:
    return not_found(f"complaint {complaint_id} not found")


def _field_error(field: str, message: str) -> ApiError:
    return invalid(field, message)


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


async def _identity_view(
    document: dict[str, Any], principal: Principal, staff_id: str | None, ports: Any
) -> IdentityView:
    actor = None
    if staff_id and principal.hospital_id == document["hospital_id"]:
        actor = await ports.directory.actor(document["hospital_id"], staff_id)
    return view_for(
        roles=set(actor.roles) if actor else set(),
        actor_id=actor.staff_id if actor else staff_id,
        complained_about=document.get("target_staff_id"),
        anonymous=document["anonymous"],
    )


def _read(document: dict[str, Any], view: IdentityView, ports: Any) -> ComplaintRead:
    identity = None
    if document.get("complainant"):
        identity = ports.identity.open(document["_id"], document["complainant"])
    shown = mask(identity, view)
    return ComplaintRead(
        **_receipt(document),
        channel=document["channel"],
        channel_label=CHANNEL_LABELS[Channel(document["channel"])],
        kind=document["kind"],
        anonymous=document["anonymous"],
        contactable=is_contactable(
            anonymous=document["anonymous"],
            email=(identity or {}).get("email"),
            phone=(identity or {}).get("phone"),
        ),
        identity_view=view.value,
        complainant=shown,
        **{
            key: document.get(key)
            for key in (
                "target_department",
                "target_staff_id",
                "summary",
                "content",
                "demand",
                "received_at",
                "received_by",
                "first_receiver",
                "acceptance",
                "supplement",
                "transfer",
                "on_spot",
                "assignment",
                "finding",
                "reply",
                "extension",
                "closure",
                "version",
            )
        },
        direct=document.get("direct", False),
        group=document.get("group", False),
        reopen_count=document.get("reopen_count", 0),
        flagged=document.get("flagged", False),
        allowed_actions=allowed_actions(ComplaintStatus(document["status"])),
        timeline=document.get("timeline", []),
    )


def _hospital_for(principal: Principal, requested: str | None) -> str:
    if principal.is_bureau:
        if not requested:
            raise _field_error("hospital_id", "the bureau must name the hospital")
        return requested
    if requested and requested != principal.hospital_id:
        raise forbidden("hospital_id: a hospital registers only its own complaints")
    assert principal.hospital_id is not None
    return principal.hospital_id


@router.post(
    "/complaints",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintReceipt,
    responses=error_responses(403, 409),
    summary="Register a complaint (登记投诉)",
)
async def register(
    body: ComplaintCreate,
    principal: CurrentPrincipal,
    ports: PortsDep,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128)
    ] = None,
) -> dict[str, Any]:
    hospital_id = _hospital_for(principal, body.hospital_id)
    try:
        document, replayed = await service.register_complaint(
            request=body, hospital_id=hospital_id, idempotency_key=idempotency_key, ports=ports
        )
    except service.IdempotencyConflict as idempotency:
        raise conflict(str(idempotency), code="idempotency_conflict") from idempotency
    except service.InvalidField as invalid:
        raise _field_error(invalid.field, str(invalid)) from invalid
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/complaints/{document['_id']}"
    return _receipt(document)


@router.post(
    "/complaints/batch",
    response_model=BatchResult,
    responses=error_responses(403),
    summary="Register many complaints at once (医院系统批量上传、意见箱批量登记)",
    description="Each item is registered on its own, idempotent by its key: a retried batch "
    "replays what was stored and stores what was not. One bad item never stops the others; "
    "each item's result says created, replayed, invalid (with the fields) or conflict.",
)
async def register_batch(
    body: BatchCreate, principal: CurrentPrincipal, ports: PortsDep
) -> BatchResult:
    hospital_id = _hospital_for(principal, body.hospital_id)
    results: list[schemas.BatchItemResult] = []
    for index, item in enumerate(body.items):
        outcome: dict[str, Any] = {"index": index, "idempotency_key": item.idempotency_key}
        try:
            request = ComplaintCreate.model_validate(item.complaint)
            if request.hospital_id not in (None, hospital_id):
                raise service.InvalidField("hospital_id", "differs from the batch's hospital")
            document, replayed = await service.register_complaint(
                request=request,
                hospital_id=hospital_id,
                idempotency_key=item.idempotency_key,
                ports=ports,
            )
        except ValidationError as problems:
            where = f"items.{index}.complaint"
            errors = [
                ErrorItem(
                    field=".".join([where, *(str(p) for p in error["loc"])]),
                    location="body",
                    message=str(error["msg"]).removeprefix("Value error, "),
                    code=str(error["type"]),
                )
                for error in problems.errors()
            ]
            results.append(schemas.BatchItemResult(**outcome, outcome="invalid", errors=errors))
            continue
        except service.InvalidField as wrong:
            errors = [
                ErrorItem(
                    field=f"items.{index}.complaint.{wrong.field}",
                    location="body",
                    message=str(wrong).removeprefix(f"{wrong.field}: "),
                    code="invalid",
                )
            ]
            results.append(schemas.BatchItemResult(**outcome, outcome="invalid", errors=errors))
            continue
        except service.IdempotencyConflict as clash:
            errors = [
                ErrorItem(
                    field=f"items.{index}.idempotency_key",
                    location="body",
                    message=str(clash),
                    code="idempotency_conflict",
                )
            ]
            results.append(schemas.BatchItemResult(**outcome, outcome="conflict", errors=errors))
            continue
        results.append(
            schemas.BatchItemResult(
                **outcome,
                outcome="replayed" if replayed else "created",
                id=document["_id"],
                case_number=document["case_number"],
                tracking_code=document["tracking_code"],
            )
        )
    return BatchResult(
        created=sum(r.outcome == "created" for r in results),
        replayed=sum(r.outcome == "replayed" for r in results),
        failed=sum(r.outcome in ("invalid", "conflict") for r in results),
        items=results,
    )


@router.get(
    "/complaints/{complaint_id}",
    response_model=ComplaintRead,
    responses=error_responses(404),
    summary="One complaint",
)
async def read(
    complaint_id: str, principal: CurrentPrincipal, ports: PortsDep, staff: StaffHeader = None
) -> ComplaintRead:
    document = await ports.repository.get(complaint_id)
    if document is None or not principal.may_see(document["hospital_id"]):
        raise _not_found(complaint_id)
    view = await _identity_view(document, principal, staff, ports)
    return _read(document, view, ports)


@router.get(
    "/complaints/{complaint_id}/timeline/verify",
    response_model=TimelineVerdict,
    responses=error_responses(404),
    summary="Prove the timeline is complete and unaltered (防篡改校验)",
)
async def verify_timeline(
    complaint_id: str, principal: CurrentPrincipal, ports: PortsDep
) -> TimelineVerdict:
    document = await ports.repository.get(complaint_id)
    if document is None or not principal.may_see(document["hospital_id"]):
        raise _not_found(complaint_id)
    verdict = timeline.verify(
        complaint_id, document.get("timeline", []), document.get("timeline_head")
    )
    return TimelineVerdict(
        ok=verdict.ok,
        count=verdict.count,
        head_hash=verdict.head_hash,
        first_bad_seq=verdict.first_bad_seq,
        problem=verdict.problem,
    )


@router.get(
    "/complaints",
    response_model=ComplaintPage,
    responses=error_responses(403),
    summary="List complaints, newest first",
)
async def list_complaints(
    principal: CurrentPrincipal,
    ports: PortsDep,
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
            raise forbidden("hospital_id: not your hospital")
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
        documents, next_cursor = await ports.repository.page(
            filters=filters, limit=limit, cursor=cursor
        )
    except ValueError as error:
        raise invalid("cursor", str(error), location="query") from error
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


# --- lifecycle commands -------------------------------------------------------------------


async def _run(
    complaint_id: str,
    action: Action,
    body: schemas.Command,
    decide: commands.Decide,
    principal: Principal,
    ports: Any,
) -> ComplaintRead:
    try:
        document = await commands.perform(
            complaint_id, action, body, decide, hospital_id=principal.hospital_id, ports=ports
        )
    except service.ComplaintNotFound as missing:
        raise _not_found(complaint_id) from missing
    except IllegalTransition as illegal:
        raise conflict(
            str(illegal),
            code="illegal_transition",
            status=illegal.status,
            allowed=list(illegal.allowed),
        ) from illegal
    except commands.Refused as refused:
        raise conflict(str(refused), code="not_ready") from refused
    except commands.NotPermitted as refusal:
        raise forbidden(str(refusal), code="not_permitted") from refusal
    except service.InvalidField as invalid:
        raise _field_error(invalid.field, str(invalid)) from invalid
    view = await _identity_view(document, principal, body.actor, ports)
    return _read(document, view, ports)


async def _department_exists(
    principal: Principal, code: str | None, field: str, ports: Any
) -> None:
    if code is None or principal.hospital_id is None:
        return
    departments = await ports.directory.departments(principal.hospital_id) or {}
    if code not in departments:
        raise _field_error(field, f"{field}: no department {code} in {principal.hospital_id}")


Id = Annotated[str, Path(max_length=64)]
CommandResult: dict[str, Any] = {
    "response_model": ComplaintRead,
    "responses": error_responses(403, 404, 409),
}


@router.post("/complaints/{complaint_id}/accept", **CommandResult, summary="受理")
async def accept(
    complaint_id: Id, body: schemas.Command, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    return await _run(complaint_id, Action.ACCEPT, body, commands.accept(body), principal, ports)


@router.post(
    "/complaints/{complaint_id}/supplement-request",
    **CommandResult,
    summary="通知补充材料 (the clock waits until it arrives)",
)
async def request_supplement(
    complaint_id: Id, body: schemas.SupplementRequest, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    decide = commands.request_supplement(body)
    return await _run(complaint_id, Action.REQUEST_SUPPLEMENT, body, decide, principal, ports)


@router.post(
    "/complaints/{complaint_id}/supplement",
    **CommandResult,
    summary="补齐材料后受理 (counting restarts from the day it arrived)",
)
async def supplement(
    complaint_id: Id, body: schemas.SupplementReceived, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    decide = commands.supplement(body)
    return await _run(complaint_id, Action.SUPPLEMENT, body, decide, principal, ports)


@router.post("/complaints/{complaint_id}/not-accept", **CommandResult, summary="不予受理")
async def not_accept(
    complaint_id: Id, body: schemas.NotAcceptDecision, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    decide = commands.not_accept(body)
    return await _run(complaint_id, Action.NOT_ACCEPT, body, decide, principal, ports)


@router.post("/complaints/{complaint_id}/transfer", **CommandResult, summary="转交有关部门")
async def transfer(
    complaint_id: Id, body: schemas.TransferDecision, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    decide = commands.transfer(body)
    return await _run(complaint_id, Action.TRANSFER, body, decide, principal, ports)


@router.post(
    "/complaints/{complaint_id}/resolve-on-spot", **CommandResult, summary="当场协调解决并记录"
)
async def resolve_on_spot(
    complaint_id: Id, body: schemas.OnSpotResolution, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    decide = commands.resolve_on_spot(body)
    return await _run(complaint_id, Action.RESOLVE_ON_SPOT, body, decide, principal, ports)


@router.post(
    "/complaints/{complaint_id}/hand-over", **CommandResult, summary="首诉负责人移交投诉管理部门"
)
async def hand_over(
    complaint_id: Id, body: schemas.HandOver, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    receiver = None
    if principal.hospital_id is not None:
        receiver = await ports.directory.actor(principal.hospital_id, body.to)
    if receiver is None or "complaint_office" not in receiver.roles:
        raise _field_error("to", f"to: {body.to} is not complaint-office staff of this hospital")
    decide = commands.hand_over(body, receiver)
    return await _run(complaint_id, Action.HAND_OVER, body, decide, principal, ports)


@router.post("/complaints/{complaint_id}/reroute", **CommandResult, summary="改派科室")
async def reroute(
    complaint_id: Id, body: schemas.Reroute, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    await _department_exists(principal, body.department, "department", ports)
    decide = commands.reroute(body)
    return await _run(complaint_id, Action.REROUTE, body, decide, principal, ports)


@router.post("/complaints/{complaint_id}/notes", **CommandResult, summary="记录调查情况")
async def record_note(
    complaint_id: Id, body: schemas.InvestigationNote, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    decide = commands.record_note(body)
    return await _run(complaint_id, Action.RECORD_NOTE, body, decide, principal, ports)


@router.post(
    "/complaints/{complaint_id}/finding",
    **CommandResult,
    summary="处理意见：是否属实、责任科室与人员、补救措施、告知的法律途径",
)
async def record_finding(
    complaint_id: Id, body: schemas.FindingRecord, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    await _department_exists(
        principal, body.responsible_department, "responsible_department", ports
    )
    decide = commands.record_finding(body)
    return await _run(complaint_id, Action.RECORD_FINDING, body, decide, principal, ports)


@router.post(
    "/complaints/{complaint_id}/reply",
    **CommandResult,
    summary="答复投诉人 (written complaints get a written reply)",
)
async def reply(
    complaint_id: Id, body: schemas.ReplyCreate, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    return await _run(complaint_id, Action.REPLY, body, commands.reply(body), principal, ports)


@router.post("/complaints/{complaint_id}/extension-request", **CommandResult, summary="申请延期")
async def request_extension(
    complaint_id: Id, body: schemas.ExtensionRequest, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    decide = commands.request_extension(body)
    return await _run(complaint_id, Action.REQUEST_EXTENSION, body, decide, principal, ports)


@router.post(
    "/complaints/{complaint_id}/extension-decision", **CommandResult, summary="院领导审批延期"
)
async def decide_extension(
    complaint_id: Id, body: schemas.ExtensionDecision, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    decide = commands.decide_extension(body)
    return await _run(complaint_id, Action.DECIDE_EXTENSION, body, decide, principal, ports)


@router.post("/complaints/{complaint_id}/close", **CommandResult, summary="回访并办结")
async def close(
    complaint_id: Id, body: schemas.Closure, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    return await _run(complaint_id, Action.CLOSE, body, commands.close(body), principal, ports)


@router.post(
    "/complaints/{complaint_id}/dispute", **CommandResult, summary="投诉人不服处理结果：复核"
)
async def dispute(
    complaint_id: Id, body: schemas.Dispute, principal: CurrentPrincipal, ports: PortsDep
) -> ComplaintRead:
    return await _run(complaint_id, Action.DISPUTE, body, commands.dispute(body), principal, ports)


@router.get(
    "/track/{tracking_code}",
    response_model=TrackingRead,
    responses=error_responses(404),
    summary="Progress for the complainant (no login; the tracking code is the secret)",
)
async def track(tracking_code: str, ports: PortsDep) -> TrackingRead:
    document = await ports.repository.by_tracking_code(tracking_code.strip().upper())
    if document is None:
        raise not_found("tracking_code: unknown")
    state = ComplaintStatus(document["status"])
    acceptance = document.get("acceptance") or {}
    return TrackingRead(
        case_number=document["case_number"],
        status=state,
        status_label=STATUS_LABELS[state],
        received_at=document["received_at"],
        due_at=(document.get("assignment") or {}).get("due_at"),
        replied_at=(document.get("reply") or {}).get("replied_at"),
        missing=(document.get("supplement") or {}).get("missing")
        if state is ComplaintStatus.NEEDS_SUPPLEMENT
        else None,
        not_accepted_reason=acceptance.get("reason_label"),
        refer_to=acceptance.get("refer_to"),
        transferred_to=(document.get("transfer") or {}).get("to_body"),
    )
