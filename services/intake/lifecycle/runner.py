"""How every lifecycle command runs, and the one table from action to decide function.

`perform` takes the same steps for every command:
1. the bureau reads and supervises; only a hospital's staff handle cases;
2. the people and departments the command names are this hospital's (directory);
3. the actor is the staff member the request's assertion proves, as the directory knows them;
4. then, on the complaint as stored (shared/records.py: one change of it at a time): the
   acting hospital's own case only (shared/auth.py), the state machine's transition
   (domain/complaint.py), the authority rule (domain/authority.py), and the command's
   decide function from DECISIONS; every entry the actor makes carries their proof, and
   the fields, entries and events are one write (change.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.intake.change import Change, proven
from services.intake.domain import authority
from services.intake.domain.authority import OFFICE
from services.intake.domain.commands import (
    HandOver,
    InvalidField,
    LifecycleCommand,
    RecordFinding,
    Reroute,
)
from services.intake.domain.complaint import Action, ComplaintStatus, next_status
from services.intake.lifecycle import acceptance, closure, handling
from services.intake.lifecycle.situation import Situation, parties
from services.intake.ports import IntakePorts
from shared.auth import Principal
from shared.records import Decision
from shared.staff_assertion import StaffAssertion

Decide = Callable[[Situation, Any], Change]

# Every action a person takes, and the function that decides what it does to the case.
DECISIONS: Mapping[Action, Decide] = {
    Action.ACCEPT: acceptance.accept,
    Action.REQUEST_SUPPLEMENT: acceptance.request_supplement,
    Action.SUPPLEMENT: acceptance.supplement,
    Action.NOT_ACCEPT: acceptance.not_accept,
    Action.TRANSFER: acceptance.transfer,
    Action.RESOLVE_ON_SPOT: acceptance.resolve_on_spot,
    Action.HAND_OVER: acceptance.hand_over,
    Action.REROUTE: handling.reroute,
    Action.RECORD_NOTE: handling.record_note,
    Action.RECORD_FINDING: handling.record_finding,
    Action.REPLY: handling.reply,
    Action.REQUEST_EXTENSION: handling.request_extension,
    Action.DECIDE_EXTENSION: handling.decide_extension,
    Action.CLOSE: closure.close,
    Action.DISPUTE: closure.dispute,
}


class ComplaintNotFound(Exception):
    """No such complaint, or not the acting hospital's (the same answer for both)."""


async def perform(
    complaint_id: str,
    command: LifecycleCommand,
    *,
    principal: Principal,
    proven_by: StaffAssertion,
    ports: IntakePorts,
) -> dict[str, Any]:
    """Run `command` on the complaint as `proven_by`; returns the complaint as stored."""
    hospital_id = principal.hospital_id
    if hospital_id is None:
        raise authority.NotPermitted(
            "the bureau key reads and supervises; case handling is the hospital's"
        )
    await check_names(command, hospital_id=hospital_id, ports=ports)
    actor = await ports.directory.actor(hospital_id, proven_by.staff_id)
    if actor is None:
        raise InvalidField(
            "actor", f"no staff member {proven_by.staff_id} in hospital {hospital_id}"
        )
    action = command.action
    decide_command = DECISIONS[action]

    def decide(complaint: dict[str, Any]) -> Decision:
        if not principal.may_see(complaint["hospital_id"]):
            raise ComplaintNotFound(complaint_id)
        status_after = next_status(ComplaintStatus(complaint["status"]), action)
        authority.check(action, actor, parties(complaint))
        now = datetime.now(UTC)
        change = decide_command(
            Situation(complaint, actor, now, status_after, ports.identity), command
        )
        change.set.setdefault("status", status_after.value)
        change.entries[:] = [
            proven(entry, proven_by) if entry.by == actor.staff_id else entry
            for entry in change.entries
        ]
        return change.decision(complaint, now=now)

    changed = await ports.complaints.change(complaint_id, decide)
    if changed is None:
        raise ComplaintNotFound(complaint_id)
    return changed.after


async def check_names(command: LifecycleCommand, *, hospital_id: str, ports: IntakePorts) -> None:
    """The people and departments a command names are this hospital's: a hand-over goes
    to complaint-office staff, a re-route and a finding's responsible department exist."""
    if isinstance(command, HandOver):
        receiver = await ports.directory.actor(hospital_id, command.to)
        if receiver is None or OFFICE not in receiver.roles:
            raise InvalidField("to", f"{command.to} is not complaint-office staff of this hospital")
    elif isinstance(command, Reroute):
        await _department_exists(command.department, "department", hospital_id, ports)
    elif isinstance(command, RecordFinding) and command.responsible_department is not None:
        await _department_exists(
            command.responsible_department, "responsible_department", hospital_id, ports
        )


async def _department_exists(code: str, field: str, hospital_id: str, ports: IntakePorts) -> None:
    departments = await ports.directory.departments(hospital_id) or {}
    if code not in departments:
        raise InvalidField(field, f"no department {code} in {hospital_id}")
