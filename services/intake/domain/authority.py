"""Who may take which action on a case (pure: the staff member and the case's parties in,
a decision out).

The rules (docs/rules.md#actors gives each one's source):
- The complaint office (投诉管理部门) runs acceptance review, re-routing, closure and the
  recording of disputes; it may also write notes, findings and replies for any case.
- The first receiver (首诉负责人) stays accountable until the office accepts or they hand
  the case over; any staff member may settle an oral complaint on the spot (当场协调解决).
- The handling department works the case: its assigned handler and its head write
  findings and replies and ask for extensions; co-handling departments (配合科室) add
  investigation notes.
- Only hospital leadership (分管院领导) approves or refuses an extension.
- The person complained about never acts on their own case (回避, docs/rules.md#recusal).
- An escalation (督办) is acknowledged by the supervisors it went up to, each level by its
  own: the complaint office, hospital leadership, the bureau's supervisors
  (`ACKNOWLEDGERS`, docs/rules.md#escalation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from services.intake.domain.complaint import Action
from shared.contracts import LadderLevel

OFFICE = "complaint_office"
LEADERSHIP = "leadership"
HEAD = "department_head"
HANDLER = "handler"
# A supervisor of the bureau (卫健委督办), from the region file's `bureau.supervisors`.
BUREAU_SUPERVISOR = "bureau_supervisor"


@dataclass(frozen=True)
class Actor:
    """A staff member as the hospital's directory knows them."""

    staff_id: str
    department: str
    roles: frozenset[str] = frozenset()
    name: str = ""


@dataclass(frozen=True)
class CaseParties:
    """The people and departments a case involves, as far as authority is concerned."""

    first_receiver: str | None = None
    handler: str | None = None
    department: str | None = None
    co_departments: frozenset[str] = field(default_factory=frozenset)
    complained_about: str | None = None


class NotPermitted(Exception):
    """The actor exists but may not take this action on this case."""


def _office(actor: Actor) -> bool:
    return OFFICE in actor.roles


def _lead(actor: Actor, case: CaseParties) -> bool:
    """The assigned handler, or the head of the lead department."""
    if case.handler is not None and actor.staff_id == case.handler:
        return True
    return HEAD in actor.roles and actor.department == case.department


def _investigator(actor: Actor, case: CaseParties) -> bool:
    return _lead(actor, case) or actor.department in case.co_departments


RULES = {
    Action.ACCEPT: (_office, "只有投诉管理部门可以受理"),
    Action.REQUEST_SUPPLEMENT: (_office, "只有投诉管理部门可以通知补充材料"),
    Action.SUPPLEMENT: (_office, "只有投诉管理部门可以登记补充材料"),
    Action.NOT_ACCEPT: (_office, "只有投诉管理部门可以作出不予受理决定"),
    Action.TRANSFER: (_office, "只有投诉管理部门可以转交有关部门"),
    Action.RESOLVE_ON_SPOT: (lambda actor: True, ""),
    Action.REROUTE: (_office, "只有投诉管理部门可以改派科室"),
    Action.CLOSE: (_office, "只有投诉管理部门可以回访办结"),
    Action.DISPUTE: (_office, "复核申请由投诉管理部门登记"),
    Action.DECIDE_EXTENSION: (lambda actor: LEADERSHIP in actor.roles, "延期须经院领导审批"),
}


# Who acknowledges an escalation of each level (督办确认) and notes what they ordered: the
# supervisors the case went up to, each level by its own people. The ladder's lower steps
# (warning, deadlines due) are told to the handler and the department head and are not
# acknowledged; they have no row.
ACKNOWLEDGERS: dict[str, tuple[Callable[[Actor], bool], str]] = {
    LadderLevel.COMPLAINT_OFFICE: (_office, "投诉管理部门督办须由投诉管理部门确认"),
    LadderLevel.LEADERSHIP: (lambda actor: LEADERSHIP in actor.roles, "院领导督办须由院领导确认"),
    LadderLevel.BUREAU: (
        lambda actor: BUREAU_SUPERVISOR in actor.roles,
        "卫健委督办须由卫健委督办人员确认",
    ),
}


def check_acknowledgement(level: str, actor: Actor, case: CaseParties) -> None:
    """Raise NotPermitted with the reason when `actor` may not acknowledge an escalation
    of `level` on this case (a level without a row is nobody's to acknowledge)."""
    if case.complained_about is not None and actor.staff_id == case.complained_about:
        raise NotPermitted(
            "actor: 被投诉人须回避，不得确认本投诉的督办 (the person complained about)"
        )
    allowed, reason = ACKNOWLEDGERS.get(level, (lambda actor: False, f"{level} 无须确认"))
    if not allowed(actor):
        raise NotPermitted(f"actor: {reason}")


def check(action: Action, actor: Actor, case: CaseParties) -> None:
    """Raise NotPermitted with the reason in Chinese and English when `actor` may not."""
    if case.complained_about is not None and actor.staff_id == case.complained_about:
        raise NotPermitted("actor: 被投诉人须回避，不得办理本投诉 (the person complained about)")
    if action is Action.ASSIGN:
        raise NotPermitted("actor: 分派由路由服务决定 (routing assigns; no person does)")
    if action is Action.HAND_OVER:
        if actor.staff_id == case.first_receiver or _office(actor):
            return
        raise NotPermitted("actor: 只有首诉负责人或投诉管理部门可以移交")
    if action in RULES:
        allowed, reason = RULES[action]
        if not allowed(actor):
            raise NotPermitted(f"actor: {reason}")
        return
    if action is Action.RECORD_NOTE:
        if _office(actor) or _investigator(actor, case):
            return
        raise NotPermitted("actor: 只有承办、配合科室或投诉管理部门可以记录调查情况")
    if action in (Action.RECORD_FINDING, Action.REPLY):
        if _office(actor) or _lead(actor, case):
            return
        raise NotPermitted("actor: 只有承办人、承办科室负责人或投诉管理部门可以形成意见和答复")
    if action is Action.REQUEST_EXTENSION:
        if _lead(actor, case):
            return
        raise NotPermitted("actor: 只有承办人或承办科室负责人可以申请延期")
    raise NotPermitted(f"actor: no rule for {action}")  # pragma: no cover - table is complete


def may(action: Action, actor: Actor, case: CaseParties) -> bool:
    try:
        check(action, actor, case)
    except NotPermitted:
        return False
    return True
