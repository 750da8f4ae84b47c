"""Supervision of a case (督办): a supervisor acknowledges an escalation and notes what they
ordered. Who may is domain/authority.py's `ACKNOWLEDGERS`; what it records is
services/intake/escalations.py; the escalations themselves are shown with the complaint."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.intake import escalations
from services.intake.api.deps import IdentityReadsDep, PortsDep
from services.intake.api.presentation import broken_rule, complaint_not_found, shown
from services.intake.api.schemas import ComplaintRead, EscalationAcknowledgementCreate
from services.intake.domain import authority
from services.intake.domain.commands import InvalidField
from services.intake.lifecycle.runner import ComplaintNotFound
from shared.auth import CurrentPrincipal
from shared.errors import conflict, error_responses, forbidden, invalid, not_found
from shared.staff_assertion import ProvenStaff, assertion_required

router = APIRouter(prefix="/v1", responses=error_responses(401, 422, 503))

Id = Annotated[str, Path(max_length=64)]
Level = Annotated[
    str,
    Path(
        max_length=64,
        description="the escalation's level: complaint_office, leadership or bureau",
    ),
]


@router.post(
    "/complaints/{complaint_id}/escalations/{level}/acknowledge",
    response_model=ComplaintRead,
    responses=error_responses(403, 404, 409),
    summary="督办确认：确认已阅并记录督办意见",
    description="A supervisor of the escalation's level acknowledges it once and notes what "
    "they ordered (督办意见): complaint-office staff for complaint_office and hospital "
    "leadership for leadership, each proven by their hospital's X-Huiyin-Staff-Assertion; "
    "for bureau, one of the bureau's supervisors, with the bureau's key and an assertion the "
    "bureau's system signs (iss bureau, sub the supervisor). Publishes "
    "complaint.escalation_acknowledged. 404: no such escalation on the case (or not one a "
    "supervisor acknowledges); 403: not a supervisor of that level; 409: acknowledged before.",
)
async def acknowledge(
    complaint_id: Id,
    level: Level,
    body: EscalationAcknowledgementCreate,
    principal: CurrentPrincipal,
    proven: ProvenStaff,
    ports: PortsDep,
    reads: IdentityReadsDep,
) -> ComplaintRead:
    if proven is None:
        raise assertion_required("acknowledging an escalation")
    try:
        command = body.to_command(level=level)
    except InvalidField as broken:
        raise broken_rule(broken) from broken
    try:
        complaint = await escalations.acknowledge(
            complaint_id, command, principal=principal, proven_by=proven, ports=ports
        )
    except ComplaintNotFound as missing:
        raise complaint_not_found(complaint_id) from missing
    except escalations.EscalationNotFound as unknown:
        raise not_found(str(unknown)) from unknown
    except authority.NotPermitted as refusal:
        raise forbidden(str(refusal), code="not_permitted") from refusal
    except escalations.AlreadyAcknowledged as twice:
        raise conflict(str(twice), code="already_acknowledged") from twice
    except InvalidField as wrong:
        raise invalid(wrong.field, wrong.message, location="header") from wrong
    return await shown(complaint, principal, proven, ports, reads, via="acknowledge_escalation")
