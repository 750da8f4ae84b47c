"""The lifecycle commands people take on a case, one route per action. Each route maps its
body to the domain command and hands it to the one runner (`Runner`): who acts is proven
here, what the command does is decided in services/intake/lifecycle/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from services.intake.adapters.identity_reads import IdentityReadLog
from services.intake.api import schemas
from services.intake.api.deps import IdentityReadsDep, PortsDep
from services.intake.api.presentation import broken_rule, complaint_not_found, not_proven, shown
from services.intake.api.schemas import ComplaintRead
from services.intake.domain import authority
from services.intake.domain.commands import InvalidField, NotReady
from services.intake.domain.complaint import IllegalTransition
from services.intake.lifecycle import runner
from services.intake.ports import IntakePorts
from shared.auth import CurrentPrincipal, Principal
from shared.errors import conflict, error_responses, forbidden, invalid
from shared.staff_assertion import ProvenStaff, StaffAssertion, assertion_required

router = APIRouter(prefix="/v1", responses=error_responses(401, 422, 503))


@dataclass(frozen=True)
class Runner:
    """Runs one command for this request: its body read as the domain command, the actor
    proven, the command performed, and the complaint shown as the actor may see it."""

    principal: Principal
    proven: StaffAssertion | None
    ports: IntakePorts
    reads: IdentityReadLog

    async def __call__(self, complaint_id: str, body: schemas.Command) -> ComplaintRead:
        try:
            command = body.to_command()
        except InvalidField as broken:
            raise broken_rule(broken) from broken
        acting = self._acting(body)
        try:
            complaint = await runner.perform(
                complaint_id,
                command,
                principal=self.principal,
                proven_by=acting,
                ports=self.ports,
            )
        except runner.ComplaintNotFound as missing:
            raise complaint_not_found(complaint_id) from missing
        except IllegalTransition as illegal:
            raise conflict(
                str(illegal),
                code="illegal_transition",
                status=illegal.status,
                allowed=list(illegal.allowed),
            ) from illegal
        except NotReady as not_ready:
            raise conflict(str(not_ready), code="not_ready") from not_ready
        except authority.NotPermitted as refusal:
            raise forbidden(str(refusal), code="not_permitted") from refusal
        except InvalidField as wrong:
            raise invalid(wrong.field, wrong.message) from wrong
        via = command.action.value
        return await shown(complaint, self.principal, acting, self.ports, self.reads, via=via)

    def _acting(self, body: schemas.Command) -> StaffAssertion:
        """Who takes the action: the staff member the assertion proves. A body `actor` (kept
        for older clients) must name the same person."""
        if self.principal.is_bureau:
            raise forbidden(
                "the bureau key reads and supervises; case handling is the hospital's",
                code="not_permitted",
            )
        proven = self.proven
        if proven is None:
            raise assertion_required("every case action")
        if body.actor is not None and body.actor != proven.staff_id:
            message = (
                f"{body.actor} is not the staff member the assertion proves ({proven.staff_id})"
            )
            raise not_proven("actor", "body", message)
        return proven


def _runner(
    principal: CurrentPrincipal, proven: ProvenStaff, ports: PortsDep, reads: IdentityReadsDep
) -> Runner:
    return Runner(principal, proven, ports, reads)


Run = Annotated[Runner, Depends(_runner)]
Id = Annotated[str, Path(max_length=64)]
COMMAND: dict[str, Any] = {
    "response_model": ComplaintRead,
    "responses": error_responses(403, 404, 409),
}


@router.post("/complaints/{complaint_id}/accept", **COMMAND, summary="受理")
async def accept(complaint_id: Id, body: schemas.Command, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post(
    "/complaints/{complaint_id}/supplement-request",
    **COMMAND,
    summary="通知补充材料 (the clock waits until it arrives)",
)
async def request_supplement(
    complaint_id: Id, body: schemas.SupplementRequest, run: Run
) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post(
    "/complaints/{complaint_id}/supplement",
    **COMMAND,
    summary="补齐材料后受理 (counting restarts from the day it arrived)",
)
async def supplement(complaint_id: Id, body: schemas.SupplementReceived, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post("/complaints/{complaint_id}/not-accept", **COMMAND, summary="不予受理")
async def not_accept(complaint_id: Id, body: schemas.NotAcceptDecision, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post("/complaints/{complaint_id}/transfer", **COMMAND, summary="转交有关部门")
async def transfer(complaint_id: Id, body: schemas.TransferDecision, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post("/complaints/{complaint_id}/resolve-on-spot", **COMMAND, summary="当场协调解决并记录")
async def resolve_on_spot(
    complaint_id: Id, body: schemas.OnSpotResolution, run: Run
) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post(
    "/complaints/{complaint_id}/hand-over", **COMMAND, summary="首诉负责人移交投诉管理部门"
)
async def hand_over(complaint_id: Id, body: schemas.HandOver, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post("/complaints/{complaint_id}/reroute", **COMMAND, summary="改派科室")
async def reroute(complaint_id: Id, body: schemas.Reroute, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post("/complaints/{complaint_id}/notes", **COMMAND, summary="记录调查情况")
async def record_note(complaint_id: Id, body: schemas.InvestigationNote, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post(
    "/complaints/{complaint_id}/finding",
    **COMMAND,
    summary="处理意见：是否属实、责任科室与人员、补救措施、告知的法律途径",
)
async def record_finding(complaint_id: Id, body: schemas.FindingRecord, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post(
    "/complaints/{complaint_id}/reply",
    **COMMAND,
    summary="答复投诉人 (written complaints get a written reply)",
)
async def reply(complaint_id: Id, body: schemas.ReplyCreate, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post("/complaints/{complaint_id}/extension-request", **COMMAND, summary="申请延期")
async def request_extension(
    complaint_id: Id, body: schemas.ExtensionRequest, run: Run
) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post("/complaints/{complaint_id}/extension-decision", **COMMAND, summary="院领导审批延期")
async def decide_extension(
    complaint_id: Id, body: schemas.ExtensionDecision, run: Run
) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post("/complaints/{complaint_id}/close", **COMMAND, summary="回访并办结")
async def close(complaint_id: Id, body: schemas.Closure, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)


@router.post("/complaints/{complaint_id}/dispute", **COMMAND, summary="投诉人不服处理结果：复核")
async def dispute(complaint_id: Id, body: schemas.Dispute, run: Run) -> ComplaintRead:
    return await run(complaint_id, body)
