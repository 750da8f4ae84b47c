"""The complaint resource: register (one or a batch), read, list, the identity access log,
the timeline's proof, and the complainant's tracking page. The lifecycle commands on a
complaint are in lifecycle.py; both show a complaint as presentation.py says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response, status
from pydantic import ValidationError

from services.intake import registration
from services.intake.adapters.complaint_views import DAYS_PER_PAGE
from services.intake.adapters.complaints import encode_cursor
from services.intake.api import schemas
from services.intake.api.deps import IdentityReadsDep, PortsDep
from services.intake.api.presentation import (
    broken_rule,
    complaint_not_found,
    not_proven,
    receipt,
    shown,
)
from services.intake.api.schemas import (
    BatchCreate,
    BatchResult,
    ComplaintCreate,
    ComplaintPage,
    ComplaintRead,
    ComplaintReceipt,
    IdentityRead,
    IdentityReadPage,
    TimelineVerdict,
    TrackingRead,
)
from services.intake.api.worklists import list_item, position_of
from services.intake.domain import timeline
from services.intake.domain.commands import InvalidField
from services.intake.domain.complaint import (
    Channel,
    ComplaintStatus,
)
from services.intake.domain.confidentiality import FULL_VIEW_ROLES
from services.intake.domain.worklists import REGION
from services.intake.ports import IntakePorts
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


def _seen(
    complaint: dict[str, Any] | None, principal: Principal, missing: ApiError
) -> dict[str, Any]:
    """The complaint if the principal may see it; another hospital's is `missing` (a 404,
    as for none: a hospital is not told another's case exists)."""
    if complaint is None or not principal.may_see(complaint["hospital_id"]):
        raise missing
    return complaint


async def _visible(complaint_id: str, principal: Principal, ports: IntakePorts) -> dict[str, Any]:
    complaint = await ports.repository.get(complaint_id)
    return _seen(complaint, principal, complaint_not_found(complaint_id))


# --- registration -------------------------------------------------------------------------


def _registering_hospital(principal: Principal, requested: str | None) -> str:
    hospital_id = principal.hospital_scope(requested)
    if hospital_id is None:
        raise invalid("hospital_id", "the bureau must name the hospital")
    return hospital_id


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
    hospital_id = _registering_hospital(principal, body.hospital_id)
    try:
        command = body.to_command(hospital_id=hospital_id)
    except InvalidField as broken:
        raise broken_rule(broken) from broken
    try:
        registered = await registration.register(
            command,
            hospital_id=hospital_id,
            idempotency_key=idempotency_key,
            ports=ports,
            proven_by=proven,
        )
    except registration.IdempotencyConflict as clash:
        raise conflict(str(clash), code="idempotency_conflict") from clash
    except registration.ProofRequired as missing:
        raise assertion_required(str(missing)) from missing
    except registration.RegistrationRefused as refusal:
        raise forbidden(str(refusal), code="not_permitted") from refusal
    except InvalidField as wrong:
        raise invalid(wrong.field, wrong.message) from wrong
    if registered.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/complaints/{registered.complaint['_id']}"
    return receipt(registered.complaint)


@router.post(
    "/complaints/batch",
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
    hospital_id = _registering_hospital(principal, body.hospital_id)
    results = [
        await _register_item(index, item, hospital_id=hospital_id, proven=proven, ports=ports)
        for index, item in enumerate(body.items)
    ]
    return BatchResult(
        created=sum(r.outcome == "created" for r in results),
        replayed=sum(r.outcome == "replayed" for r in results),
        failed=sum(r.outcome in ("invalid", "conflict", "refused") for r in results),
        items=results,
    )


async def _register_item(
    index: int,
    item: schemas.BatchItem,
    *,
    hospital_id: str,
    proven: StaffAssertion | None,
    ports: IntakePorts,
) -> schemas.BatchItemResult:
    """One item's outcome: each refusal becomes the item's errors, never the batch's."""
    where = f"items.{index}.complaint"
    outcome: dict[str, Any] = {"index": index, "idempotency_key": item.idempotency_key}

    def failed(
        kind: Literal["invalid", "conflict", "refused"], field: str, message: str, code: str
    ) -> schemas.BatchItemResult:
        error = ErrorItem(field=field, location="body", message=message, code=code)
        return schemas.BatchItemResult(**outcome, outcome=kind, errors=[error])

    try:
        request = ComplaintCreate.model_validate(item.complaint)
    except ValidationError as problems:
        errors = [
            ErrorItem(
                field=".".join([where, *(str(p) for p in error["loc"])]),
                location="body",
                message=str(error["msg"]).removeprefix("Value error, "),
                code=str(error["type"]),
            )
            for error in problems.errors()
        ]
        return schemas.BatchItemResult(**outcome, outcome="invalid", errors=errors)
    if request.hospital_id not in (None, hospital_id):
        return failed(
            "invalid", f"{where}.hospital_id", "differs from the batch's hospital", "invalid"
        )
    try:
        command = request.to_command(hospital_id=hospital_id)
    except InvalidField as broken:
        return failed("invalid", f"{where}.{broken.field}", broken.message, "value_error")
    try:
        registered = await registration.register(
            command,
            hospital_id=hospital_id,
            idempotency_key=item.idempotency_key,
            ports=ports,
            proven_by=proven,
        )
    except InvalidField as wrong:
        return failed("invalid", f"{where}.{wrong.field}", wrong.message, "invalid")
    except registration.ProofRequired as missing:
        message = f"{missing} needs the X-Huiyin-Staff-Assertion of received_by"
        return failed("refused", f"{where}.accepted", message, "assertion_required")
    except registration.RegistrationRefused as refusal:
        return failed("refused", f"{where}.accepted", str(refusal), "not_permitted")
    except registration.IdempotencyConflict as clash:
        field = f"items.{index}.idempotency_key"
        return failed("conflict", field, str(clash), "idempotency_conflict")
    return schemas.BatchItemResult(
        **outcome,
        outcome="replayed" if registered.replayed else "created",
        id=registered.complaint["_id"],
        case_number=registered.complaint["case_number"],
        tracking_code=registered.complaint["tracking_code"],
    )


# --- reading ------------------------------------------------------------------------------


@router.get(
    "/complaints/{complaint_id}",
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
    _check_reader(staff, proven)
    complaint = await _visible(complaint_id, principal, ports)
    return await shown(complaint, principal, proven, ports, reads, via="read")


@router.get(
    "/complaints/by-case-number/{case_number}",
    responses=error_responses(403, 404),
    summary="One complaint by its case number (按案件编号查询)",
    description="The same answer as `GET /v1/complaints/{id}`, for staff who have the case "
    "number (HZ-001-202611-00042) at hand; read by the number's lookup key, not by a search.",
)
async def read_by_case_number(
    case_number: Annotated[str, Path(max_length=64)],
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
    staff: StaffHeader = None,
) -> ComplaintRead:
    _check_reader(staff, proven)
    number = case_number.strip().upper()
    complaint = await ports.repository.by_case_number(number)
    missing = not_found(f"case_number: no complaint {number}")
    return await shown(
        _seen(complaint, principal, missing), principal, proven, ports, reads, via="read"
    )


def _check_reader(staff: str | None, proven: StaffAssertion | None) -> None:
    """The deprecated staff header, if sent, must name the staff member proven."""
    if staff is not None and proven is None:
        raise assertion_required(f"reading as {STAFF_HEADER} {staff}")
    if staff is not None and proven is not None and staff != proven.staff_id:
        message = f"{staff} is not the staff member the assertion proves ({proven.staff_id})"
        raise not_proven(STAFF_HEADER, "header", message)


@router.get(
    "/complaints/{complaint_id}/identity-reads",
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
    complaint = await _visible(complaint_id, principal, ports)
    if not principal.is_bureau:
        if proven is None:
            raise assertion_required("the identity access log")
        reader = await ports.directory.actor(complaint["hospital_id"], proven.staff_id)
        if reader is None or not FULL_VIEW_ROLES & reader.roles:
            raise forbidden(
                "only the complaint office and leadership read the identity access log",
                code="not_permitted",
            )
    entries = await reads.of(complaint_id)
    shown_reads = [IdentityRead.model_validate(entry) for entry in entries[-limit:]]
    return IdentityReadPage(total=len(entries), items=shown_reads)


@router.get(
    "/complaints/{complaint_id}/timeline/verify",
    responses=error_responses(404),
    summary="Prove the timeline is complete and unaltered (防篡改校验)",
)
async def verify_timeline(
    complaint_id: str, principal: CurrentPrincipal, ports: PortsDep
) -> TimelineVerdict:
    complaint = await _visible(complaint_id, principal, ports)
    verdict = timeline.verify(
        complaint_id, complaint.get("timeline", []), complaint.get("timeline_head")
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
    responses=error_responses(403),
    summary="List complaints, newest first (投诉列表)",
    description="Read from the history's day buckets (one document per hospital, or for the "
    "bureau without `hospital_id` the region's, per day received, China time), walking back "
    "from `received_to` (or today) and filtering each day's complaints. One request reads at "
    f"most {DAYS_PER_PAGE} days: a page may then hold fewer than `limit` items, even none, "
    "with a `next_cursor` that goes on from the day it stopped at; the list ends where "
    "`next_cursor` is null.",
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
    wanted: dict[str, str] = {}
    if status_:
        wanted["status"] = status_.value
    if channel:
        wanted["channel"] = channel.value
    if category:
        wanted["category"] = category
    if department:
        wanted["department"] = department
    found, position = await ports.views.history(
        scope=principal.hospital_scope(hospital_id) or REGION,
        matches=lambda row: all(row.get(k) == v for k, v in wanted.items()),
        limit=limit,
        below=position_of(cursor),
        received_from=received_from,
        received_to=received_to,
        now=datetime.now(UTC),
    )
    return ComplaintPage(
        items=[list_item(row) for row in found],
        next_cursor=encode_cursor(*position) if position else None,
    )


@router.get(
    "/track/{tracking_code}",
    responses=error_responses(404),
    summary="Progress for the complainant (no login; the tracking code is the secret)",
)
async def track(tracking_code: str, ports: PortsDep) -> TrackingRead:
    complaint = await ports.repository.by_tracking_code(tracking_code.strip().upper())
    if complaint is None:
        raise not_found("tracking_code: unknown")
    state = ComplaintStatus(complaint["status"])
    acceptance = complaint.get("acceptance") or {}
    return TrackingRead(
        case_number=complaint["case_number"],
        status=state,
        status_label=state.label,
        received_at=complaint["received_at"],
        due_at=(complaint.get("assignment") or {}).get("due_at"),
        replied_at=(complaint.get("reply") or {}).get("replied_at"),
        missing=(complaint.get("supplement") or {}).get("missing")
        if state is ComplaintStatus.NEEDS_SUPPLEMENT
        else None,
        not_accepted_reason=acceptance.get("reason_label"),
        refer_to=acceptance.get("refer_to"),
        transferred_to=(complaint.get("transfer") or {}).get("to_body"),
    )
