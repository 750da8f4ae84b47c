"""Intake's HTTP API: a thin layer over the commands in service.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status
from pydantic import ValidationError

from services.intake import commands, service
from services.intake.api import schemas
from services.intake.api.deps import IdentityReadsDep, PortsDep
from services.intake.api.schemas import (
    BatchCreate,
    BatchResult,
    ComplaintCreate,
    ComplaintListItem,
    ComplaintPage,
    ComplaintRead,
    ComplaintReceipt,
    IdentityReadPage,
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
from services.intake.domain.confidentiality import FULL_VIEW_ROLES, IdentityView, mask, view_for
from shared.auth import CurrentPrincipal, Principal
from shared.dates import Instant
from shared.errors import (
    ApiError,
    ErrorItem,
    conflict,
    error_responses,
    forbidden,
    invalid,
    not_found,
)
from shared.staff_assertion import ProvenStaff, StaffAssertion, assertion_required

router = APIRouter(prefix="/v1", responses=error_responses(401, 422, 503))

STAFF_HEADER = "X-Huiyin-Staff"
StaffHeader = Annotated[
    str | None,
    Header(
        alias=STAFF_HEADER,
        max_length=64,
        deprecated=True,
        description="Deprecated: a claim, not a proof. If sent, it must equal the `sub` of "
        "X-Huiyin-Staff-Assertion, which decides how much of the complainant the reader sees",
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
    document: dict[str, Any], principal: Principal, proven: StaffAssertion | None, ports: Any
) -> IdentityView:
    """Only a proven reader's roles count: a hospital's or the bureau's key alone sees the
    complainant masked, whoever the request claims to come from."""
    actor = None
    if proven and principal.hospital_id == document["hospital_id"]:
        actor = await ports.directory.actor(document["hospital_id"], proven.staff_id)
    return view_for(
        roles=set(actor.roles) if actor else set(),
        actor_id=proven.staff_id if proven else None,
        complained_about=document.get("target_staff_id"),
        anonymous=document["anonymous"],
    )


async def _shown(
    document: dict[str, Any],
    principal: Principal,
    proven: StaffAssertion | None,
    ports: Any,
    reads: Any,
    *,
    via: str,
) -> ComplaintRead:
    """The complaint as this reader may see it; a full identity shown is logged first,
    with the proven reader (adapters/identity_reads.py)."""
    view = await _identity_view(document, principal, proven, ports)
    if view is IdentityView.FULL and proven is not None and document.get("complainant"):
        await reads.record(
            complaint_id=document["_id"],
            hospital_id=document["hospital_id"],
            reader=proven,
            via=via,
        )
    return _read(document, view, ports)


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
        delivery_problems=document.get("delivery_problems", []),
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
    description="The hospital's system registers with its API key. `accepted: true` is the "
    "accept action by `received_by`, who must be proven (X-Huiyin-Staff-Assertion with sub = "
    "received_by) and may accept (complaint office; never the person complained about).",
)
async def register(
    body: ComplaintCreate,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
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
            ports=ports,
            proven=proven,
        )
    except service.IdempotencyConflict as idempotency:
        raise conflict(str(idempotency), code="idempotency_conflict") from idempotency
    except service.ProofRequired as missing:
        raise assertion_required(str(missing)) from missing
    except service.RegistrationRefused as refusal:
        raise forbidden(str(refusal), code="not_permitted") from refusal
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
    "each item's result says created, replayed, invalid (with the fields), conflict or "
    "refused (an item accepted at registration without the proof of its received_by, or by "
    "someone who may not accept it; one X-Huiyin-Staff-Assertion covers the items its sub "
    "received).",
)
async def register_batch(
    body: BatchCreate, principal: CurrentPrincipal, proven: ProvenStaff, ports: PortsDep
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
                proven=proven,
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
        except (service.ProofRequired, service.RegistrationRefused) as refusal:
            missing = isinstance(refusal, service.ProofRequired)
            message = (
                f"{refusal} needs the X-Huiyin-Staff-Assertion of received_by"
                if missing
                else str(refusal)
            )
            errors = [
                ErrorItem(
                    field=f"items.{index}.complaint.accepted",
                    location="body",
                    message=message,
                    code="assertion_required" if missing else "not_permitted",
                )
            ]
            results.append(schemas.BatchItemResult(**outcome, outcome="refused", errors=errors))
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
        failed=sum(r.outcome in ("invalid", "conflict", "refused") for r in results),
        items=results,
    )


@router.get(
    "/complaints/{complaint_id}",
    response_model=ComplaintRead,
    responses=error_responses(403, 404),
    summary="One complaint",
    description="The complainant is shown as the proven reader (X-Huiyin-Staff-Assertion) may "
    "see them: in full to the complaint office and leadership (each such read is logged), "
    "masked to other staff, the bureau and a hospital's key alone, never to the person "
    "complained about or for an anonymous complaint.",
)
async def read(
    complaint_id: str,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
    staff: StaffHeader = None,
) -> ComplaintRead:
    if staff is not None and proven is None:
        raise assertion_required(f"reading as {STAFF_HEADER} {staff}")
    if staff is not None and proven is not None and staff != proven.staff_id:
        message = f"{staff} is not the staff member the assertion proves ({proven.staff_id})"
        raise _not_proven(STAFF_HEADER, "header", message)
    document = await ports.repository.get(complaint_id)
    if document is None or not principal.may_see(document["hospital_id"]):
        raise _not_found(complaint_id)
    return await _shown(document, principal, proven, ports, reads, via="read")


@router.get(
    "/complaints/{complaint_id}/identity-reads",
    response_model=IdentityReadPage,
    responses=error_responses(403, 404),
    summary="Who saw the complainant's full identity (身份信息查阅记录)",
    description="For the complaint office and leadership (proven by X-Huiyin-Staff-Assertion) "
    "and the bureau: every read that showed the full identity, newest last, with the proven "
    "reader and the assertion (kid, jti) that proved them.",
)
async def identity_reads(
    complaint_id: str,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
    limit: int = Query(default=100, ge=1, le=1000, description="the newest this many"),
) -> IdentityReadPage:
    document = await ports.repository.get(complaint_id)
    if document is None or not principal.may_see(document["hospital_id"]):
        raise _not_found(complaint_id)
    if not principal.is_bureau:
        if proven is None:
            raise assertion_required("the identity access log")
        reader = await ports.directory.actor(document["hospital_id"], proven.staff_id)
        if reader is None or not FULL_VIEW_ROLES & reader.roles:
            raise forbidden(
                "only the complaint office and leadership read the identity access log",
                code="not_permitted",
            )
    entries = await reads.of(complaint_id)
    return IdentityReadPage(total=len(entries), items=entries[-limit:])


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
    received_from: Instant | None = None,
    received_to: Instant | None = None,
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


def _not_proven(field: str, location: str, message: str) -> ApiError:
    item = ErrorItem(field=field, location=location, message=message, code="not_proven")
    return ApiError(403, "not_proven", f"{field}: {message}", errors=[item])


def _acting(
    body: schemas.Command, principal: Principal, proven: StaffAssertion | None
) -> StaffAssertion:
    """Who takes the action: the staff member the assertion proves. A body `actor` (kept
    for older clients) must name the same person."""
    if principal.is_bureau:
        raise forbidden(
            "the bureau key reads and supervises; case handling is the hospital's",
            code="not_permitted",
        )
    if proven is None:
        raise assertion_required("every case action")
    if body.actor is not None and body.actor != proven.staff_id:
        message = f"{body.actor} is not the staff member the assertion proves ({proven.staff_id})"
        raise _not_proven("actor", "body", message)
    return proven


async def _run(
    complaint_id: str,
    action: Action,
    body: schemas.Command,
    decide: commands.Decide,
    principal: Principal,
    proven: StaffAssertion | None,
    ports: Any,
    reads: Any,
) -> ComplaintRead:
    acting = _acting(body, principal, proven)
    try:
        document = await commands.perform(
            complaint_id,
            action,
            decide,
            hospital_id=principal.hospital_id,
            proven=acting,
            ports=ports,
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
    return await _shown(document, principal, acting, ports, reads, via=action.value)


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
    complaint_id: Id,
    body: schemas.Command,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    return await _run(
        complaint_id, Action.ACCEPT, body, commands.accept(body), principal, proven, ports, reads
    )


@router.post(
    "/complaints/{complaint_id}/supplement-request",
    **CommandResult,
    summary="通知补充材料 (the clock waits until it arrives)",
)
async def request_supplement(
    complaint_id: Id,
    body: schemas.SupplementRequest,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    decide = commands.request_supplement(body)
    return await _run(
        complaint_id, Action.REQUEST_SUPPLEMENT, body, decide, principal, proven, ports, reads
    )


@router.post(
    "/complaints/{complaint_id}/supplement",
    **CommandResult,
    summary="补齐材料后受理 (counting restarts from the day it arrived)",
)
async def supplement(
    complaint_id: Id,
    body: schemas.SupplementReceived,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    decide = commands.supplement(body)
    return await _run(
        complaint_id, Action.SUPPLEMENT, body, decide, principal, proven, ports, reads
    )


@router.post("/complaints/{complaint_id}/not-accept", **CommandResult, summary="不予受理")
async def not_accept(
    complaint_id: Id,
    body: schemas.NotAcceptDecision,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    decide = commands.not_accept(body)
    return await _run(
        complaint_id, Action.NOT_ACCEPT, body, decide, principal, proven, ports, reads
    )


@router.post("/complaints/{complaint_id}/transfer", **CommandResult, summary="转交有关部门")
async def transfer(
    complaint_id: Id,
    body: schemas.TransferDecision,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    decide = commands.transfer(body)
    return await _run(complaint_id, Action.TRANSFER, body, decide, principal, proven, ports, reads)


@router.post(
    "/complaints/{complaint_id}/resolve-on-spot", **CommandResult, summary="当场协调解决并记录"
)
async def resolve_on_spot(
    complaint_id: Id,
    body: schemas.OnSpotResolution,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    decide = commands.resolve_on_spot(body)
    return await _run(
        complaint_id, Action.RESOLVE_ON_SPOT, body, decide, principal, proven, ports, reads
    )


@router.post(
    "/complaints/{complaint_id}/hand-over", **CommandResult, summary="首诉负责人移交投诉管理部门"
)
async def hand_over(
    complaint_id: Id,
    body: schemas.HandOver,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    _acting(body, principal, proven)  # who acts is settled before what they ask is checked
    receiver = None
    if principal.hospital_id is not None:
        receiver = await ports.directory.actor(principal.hospital_id, body.to)
    if receiver is None or "complaint_office" not in receiver.roles:
        raise _field_error("to", f"to: {body.to} is not complaint-office staff of this hospital")
    decide = commands.hand_over(body, receiver)
    return await _run(complaint_id, Action.HAND_OVER, body, decide, principal, proven, ports, reads)


@router.post("/complaints/{complaint_id}/reroute", **CommandResult, summary="改派科室")
async def reroute(
    complaint_id: Id,
    body: schemas.Reroute,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    _acting(body, principal, proven)
    await _department_exists(principal, body.department, "department", ports)
    decide = commands.reroute(body)
    return await _run(complaint_id, Action.REROUTE, body, decide, principal, proven, ports, reads)


@router.post("/complaints/{complaint_id}/notes", **CommandResult, summary="记录调查情况")
async def record_note(
    complaint_id: Id,
    body: schemas.InvestigationNote,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    decide = commands.record_note(body)
    return await _run(
        complaint_id, Action.RECORD_NOTE, body, decide, principal, proven, ports, reads
    )


@router.post(
    "/complaints/{complaint_id}/finding",
    **CommandResult,
    summary="处理意见：是否属实、责任科室与人员、补救措施、告知的法律途径",
)
async def record_finding(
    complaint_id: Id,
    body: schemas.FindingRecord,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    _acting(body, principal, proven)
    await _department_exists(
        principal, body.responsible_department, "responsible_department", ports
    )
    decide = commands.record_finding(body)
    return await _run(
        complaint_id, Action.RECORD_FINDING, body, decide, principal, proven, ports, reads
    )


@router.post(
    "/complaints/{complaint_id}/reply",
    **CommandResult,
    summary="答复投诉人 (written complaints get a written reply)",
)
async def reply(
    complaint_id: Id,
    body: schemas.ReplyCreate,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    return await _run(
        complaint_id, Action.REPLY, body, commands.reply(body), principal, proven, ports, reads
    )


@router.post("/complaints/{complaint_id}/extension-request", **CommandResult, summary="申请延期")
async def request_extension(
    complaint_id: Id,
    body: schemas.ExtensionRequest,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    decide = commands.request_extension(body)
    return await _run(
        complaint_id, Action.REQUEST_EXTENSION, body, decide, principal, proven, ports, reads
    )


@router.post(
    "/complaints/{complaint_id}/extension-decision", **CommandResult, summary="院领导审批延期"
)
async def decide_extension(
    complaint_id: Id,
    body: schemas.ExtensionDecision,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    decide = commands.decide_extension(body)
    return await _run(
        complaint_id, Action.DECIDE_EXTENSION, body, decide, principal, proven, ports, reads
    )


@router.post("/complaints/{complaint_id}/close", **CommandResult, summary="回访并办结")
async def close(
    complaint_id: Id,
    body: schemas.Closure,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    return await _run(
        complaint_id, Action.CLOSE, body, commands.close(body), principal, proven, ports, reads
    )


@router.post(
    "/complaints/{complaint_id}/dispute", **CommandResult, summary="投诉人不服处理结果：复核"
)
async def dispute(
    complaint_id: Id,
    body: schemas.Dispute,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    return await _run(
        complaint_id, Action.DISPUTE, body, commands.dispute(body), principal, proven, ports, reads
    )


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
