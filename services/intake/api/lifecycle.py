"""The lifecycle commands people take on a case, one route per action, all from one table
(`COMMANDS`: the action's path, its body and its summary). Each route maps its body to the
domain command and hands it to the one runner (`Runner`): who acts is proven here, what
the command does is decided in services/intake/lifecycle/."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.intake.adapters.identity_reads import IdentityReadLog
from services.intake.api import schemas
from services.intake.api.deps import IdentityReadsDep, PortsDep
from services.intake.api.presentation import broken_rule, complaint_not_found, not_proven, shown
from services.intake.api.schemas import ComplaintRead
from services.intake.domain import authority
from services.intake.domain.commands import InvalidField, NotReady
from services.intake.domain.complaint import Action, IllegalTransition
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


@dataclass(frozen=True)
class CommandRoute:
    path: str  # under /v1/complaints/{complaint_id}/
    body: type[schemas.Command]
    summary: str


COMMANDS: dict[Action, CommandRoute] = {
    Action.ACCEPT: CommandRoute("accept", schemas.Command, "受理"),
    Action.REQUEST_SUPPLEMENT: CommandRoute(
        "supplement-request",
        schemas.SupplementRequest,
        "通知补充材料 (the clock waits until it arrives)",
    ),
    Action.SUPPLEMENT: CommandRoute(
        "supplement",
        schemas.SupplementReceived,
        "补齐材料后受理 (counting restarts from the day it arrived)",
    ),
    Action.NOT_ACCEPT: CommandRoute("not-accept", schemas.NotAcceptDecision, "不予受理"),
    Action.TRANSFER: CommandRoute("transfer", schemas.TransferDecision, "转交有关部门"),
    Action.RESOLVE_ON_SPOT: CommandRoute(
        "resolve-on-spot", schemas.OnSpotResolution, "当场协调解决并记录"
    ),
    Action.HAND_OVER: CommandRoute("hand-over", schemas.HandOver, "首诉负责人移交投诉管理部门"),
    Action.REROUTE: CommandRoute("reroute", schemas.Reroute, "改派科室"),
    Action.RECORD_NOTE: CommandRoute("notes", schemas.InvestigationNote, "记录调查情况"),
    Action.RECORD_FINDING: CommandRoute(
        "finding",
        schemas.FindingRecord,
        "处理意见：是否属实、责任科室与人员、补救措施、告知的法律途径",
    ),
    Action.REPLY: CommandRoute(
        "reply", schemas.ReplyCreate, "答复投诉人 (written complaints get a written reply)"
    ),
    Action.REQUEST_EXTENSION: CommandRoute(
        "extension-request", schemas.ExtensionRequest, "申请延期"
    ),
    Action.DECIDE_EXTENSION: CommandRoute(
        "extension-decision", schemas.ExtensionDecision, "院领导审批延期"
    ),
    Action.CLOSE: CommandRoute("close", schemas.Closure, "回访并办结"),
    Action.DISPUTE: CommandRoute("dispute", schemas.Dispute, "投诉人不服处理结果：复核"),
}


class CommandEndpoint:
    # One action's route. FastAPI reads the request body's schema from the endpoint's
    # signature, so each endpoint states its own body type there. (No docstring: FastAPI
    # would publish it as every operation's description.)

    def __init__(self, body: type[schemas.Command]) -> None:
        keyword = inspect.Parameter.KEYWORD_ONLY
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter("complaint_id", keyword, annotation=Id),
                inspect.Parameter("body", keyword, annotation=body),
                inspect.Parameter("run", keyword, annotation=Run),
            ],
            return_annotation=ComplaintRead,
        )

    async def __call__(
        self, *, complaint_id: str, body: schemas.Command, run: Runner
    ) -> ComplaintRead:
        return await run(complaint_id, body)


for action, route in COMMANDS.items():
    router.add_api_route(
        f"/complaints/{{complaint_id}}/{route.path}",
        CommandEndpoint(route.body),
        methods=["POST"],
        name=action.value,
        summary=route.summary,
        response_model=ComplaintRead,
        responses=error_responses(403, 404, 409),
    )
