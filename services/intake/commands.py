"""The lifecycle commands people take on a case (受理审查, 调查处理, 答复, 延期, 回访办结, 复核).

Every command runs the same way (`perform`): the hospital's own case only, the staff
member proven by the request's signed assertion as the actor, the state machine's
transition, the authority rule, then the command's own decision, all written in one
document update with hash-chained timeline entries and the events it causes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from services.intake.api import schemas
from services.intake.case_record import Change, Entry, complainant_email
from services.intake.domain import authority
from services.intake.domain.authority import Actor, CaseParties
from services.intake.domain.complaint import (
    Action,
    Channel,
    ComplaintStatus,
    next_status,
)
from services.intake.domain.outcomes import (
    FINDING_LABELS,
    NOT_ACCEPTED_LABELS,
    REPLY_FORM_LABELS,
    SATISFACTION_LABELS,
    ReplyForm,
    flagged_for_leadership,
    reply_form_problem,
)
from services.intake.service import (
    ComplaintNotFound,
    IntakePorts,
    InvalidField,
    _lifecycle,
    assigned_event,
)
from shared import dates
from shared.contracts import (
    ComplaintAccepted,
    ComplaintClosed,
    ComplaintNotAccepted,
    ComplaintReopened,
    ComplaintReplied,
    ComplaintResolvedOnSpot,
    ComplaintSupplemented,
    ComplaintTransferred,
    ExtensionApproved,
    RerouteRequested,
    SupplementRequested,
)
from shared.staff_assertion import StaffAssertion


class Refused(Exception):
    """The transition exists but the case is not ready for it (e.g. no finding yet)."""


class NotPermitted(Exception):
    pass


@dataclass(frozen=True)
class Situation:
    """What a command's decision sees: the case as stored, who acts, and when."""

    document: dict[str, Any]
    actor: Actor
    now: datetime
    status_after: ComplaintStatus
    identity: Any


Decide = Callable[[Situation], Change]


def parties(document: dict[str, Any]) -> CaseParties:
    assignment = document.get("assignment") or {}
    return CaseParties(
        first_receiver=(document.get("first_receiver") or {}).get("accountable"),
        handler=(assignment.get("handler") or {}).get("staff_id"),
        department=assignment.get("department"),
        co_departments=frozenset(d["code"] for d in assignment.get("co_departments", [])),
        complained_about=document.get("target_staff_id"),
    )


async def resolve_actor(hospital_id: str | None, staff_id: str, ports: IntakePorts) -> Actor:
    if hospital_id is None:
        raise NotPermitted("the bureau key reads and supervises; case handling is the hospital's")
    actor = await ports.directory.actor(hospital_id, staff_id)
    if actor is None:
        raise InvalidField("actor", f"no staff member {staff_id} in hospital {hospital_id}")
    return actor


async def perform(
    complaint_id: str,
    action: Action,
    decide: Decide,
    *,
    hospital_id: str | None,
    proven: StaffAssertion,
    ports: IntakePorts,
) -> dict[str, Any]:
    """`proven` is the staff member the request's assertion proves: the actor, recorded
    with the assertion's key and id on every timeline entry they make."""
    actor = await resolve_actor(hospital_id, proven.staff_id, ports)
    produced: list[Any] = []

    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        if document["hospital_id"] != hospital_id:
            raise ComplaintNotFound(complaint_id)
        status_after = next_status(ComplaintStatus(document["status"]), action)
        try:
            authority.check(action, actor, parties(document))
        except authority.NotPermitted as refusal:
            raise NotPermitted(str(refusal)) from refusal
        now = datetime.now(UTC)
        step = decide(Situation(document, actor, now, status_after, ports.identity))
        step.set.setdefault("status", status_after.value)
        step.entries[:] = [_with_proof(entry, actor, proven) for entry in step.entries]
        update, envelopes = step.write(document, now=now)
        produced[:] = envelopes
        return update

    document = await ports.repository.change(complaint_id, mutate)
    if document is None:
        raise ComplaintNotFound(complaint_id)
    if produced:
        ports.relay.notify(document["_id"], produced)
    return document


def _with_proof(entry: Entry, actor: Actor, proven: StaffAssertion) -> Entry:
    if entry.by != actor.staff_id:
        return entry
    return replace(entry, data={**(entry.data or {}), "proof": proven.proof()})


def _text_of(document: dict[str, Any]) -> str:
    return " ".join(filter(None, [document["content"], document.get("demand")]))


def _by(s: Situation) -> str:
    return s.actor.staff_id


def _accepted(s: Situation, step: Change, note: str | None) -> Change:
    """Acceptance ends the first receiver's accountability; a routing decision already
    waiting takes effect at once."""
    step.set["acceptance"] = {"decision": "accepted", "at": s.now, "by": _by(s), "note": note}
    step.set["first_receiver.accountable"] = None
    step.entries.append(Entry("accepted", _by(s), note))
    step.events.append(_lifecycle(ComplaintAccepted, s.document, s.now, _by(s)))
    assignment = s.document.get("assignment")
    if assignment:
        event, fields = assigned_event(s.document, s.identity, assignment)
        step.set["status"] = next_status(ComplaintStatus.ACCEPTED, Action.ASSIGN).value
        step.set.update(fields)
        step.events.append(event)
    return step


def accept(command: schemas.Command) -> Decide:
    return lambda s: _accepted(s, Change(), command.note)


def request_supplement(command: schemas.SupplementRequest) -> Decide:
    def decide(s: Situation) -> Change:
        return Change(
            set={
                "supplement": {
                    "missing": command.missing,
                    "requested_at": s.now,
                    "requested_by": _by(s),
                }
            },
            entries=[
                Entry("supplement_requested", _by(s), command.note, {"missing": command.missing})
            ],
            events=[
                _lifecycle(
                    SupplementRequested,
                    s.document,
                    s.now,
                    _by(s),
                    missing=command.missing,
                    complainant_email=complainant_email(s.document, s.identity),
                )
            ],
        )

    return decide


def supplement(command: schemas.SupplementReceived) -> Decide:
    def decide(s: Situation) -> Change:
        arrived = (command.received_at or s.now).astimezone(UTC)
        # A hospital recording its history may date a supplement before the request was
        # entered here, but never before the complaint itself.
        problem = dates.problem_with(
            arrived,
            now=s.now,
            not_before=s.document["received_at"],
            not_before_what="the complaint was received",
        )
        if problem:
            raise InvalidField("received_at", problem)
        step = Change(
            set={"supplement.supplied_at": arrived, "supplement.content": command.content},
            entries=[Entry("supplemented", _by(s), command.note, {"content": command.content})],
            events=[_lifecycle(ComplaintSupplemented, s.document, arrived, _by(s))],
        )
        return _accepted(s, step, "材料补齐后受理")

    return decide


def not_accept(command: schemas.NotAcceptDecision) -> Decide:
    def decide(s: Situation) -> Change:
        label = NOT_ACCEPTED_LABELS[command.reason]
        return Change(
            set={
                "acceptance": {
                    "decision": "not_accepted",
                    "reason": command.reason.value,
                    "reason_label": label,
                    "explanation": command.explanation,
                    "refer_to": command.refer_to,
                    "at": s.now,
                    "by": _by(s),
                },
                "first_receiver.accountable": None,
            },
            entries=[Entry("not_accepted", _by(s), label, {"reason": command.reason.value})],
            events=[
                _lifecycle(
                    ComplaintNotAccepted,
                    s.document,
                    s.now,
                    _by(s),
                    reason=command.reason.value,
                    reason_label=label,
                    explanation=command.explanation,
                    refer_to=command.refer_to,
                    complainant_email=complainant_email(s.document, s.identity),
                )
            ],
        )

    return decide


def transfer(command: schemas.TransferDecision) -> Decide:
    def decide(s: Situation) -> Change:
        return Change(
            set={
                "transfer": {"to_body": command.to_body, "at": s.now, "by": _by(s)},
                "first_receiver.accountable": None,
            },
            entries=[Entry("transferred", _by(s), command.note, {"to_body": command.to_body})],
            events=[
                _lifecycle(
                    ComplaintTransferred,
                    s.document,
                    s.now,
                    _by(s),
                    to_body=command.to_body,
                    note=command.note,
                    complainant_email=complainant_email(s.document, s.identity),
                )
            ],
        )

    return decide


def resolve_on_spot(command: schemas.OnSpotResolution) -> Decide:
    def decide(s: Situation) -> Change:
        return Change(
            set={
                "on_spot": {"outcome": command.outcome, "at": s.now, "by": _by(s)},
                "first_receiver.accountable": None,
            },
            entries=[Entry("resolved_on_spot", _by(s), command.outcome)],
            events=[
                _lifecycle(
                    ComplaintResolvedOnSpot, s.document, s.now, _by(s), outcome=command.outcome
                )
            ],
        )

    return decide


def hand_over(command: schemas.HandOver, receiver: Actor) -> Decide:
    def decide(s: Situation) -> Change:
        return Change(
            set={"first_receiver.accountable": receiver.staff_id},
            entries=[Entry("handed_over", _by(s), command.note, {"to": receiver.staff_id})],
        )

    return decide


def reroute(command: schemas.Reroute) -> Decide:
    def decide(s: Situation) -> Change:
        current = (s.document.get("assignment") or {}).get("department")
        if current == command.department:
            raise Refused(f"department: the case is already with {command.department}")
        return Change(
            entries=[
                Entry(
                    "reroute_requested",
                    _by(s),
                    command.reason,
                    {"from": current, "to": command.department},
                )
            ],
            events=[
                _lifecycle(
                    RerouteRequested,
                    s.document,
                    s.now,
                    _by(s),
                    department=command.department,
                    reason=command.reason,
                    content=_text_of(s.document),
                    target_staff_id=s.document.get("target_staff_id"),
                )
            ],
        )

    return decide


def record_note(command: schemas.InvestigationNote) -> Decide:
    def decide(s: Situation) -> Change:
        return Change(
            inc={"notes_count": 1},
            entries=[
                Entry(
                    "investigation_note",
                    _by(s),
                    command.content,
                    {"department": s.actor.department},
                )
            ],
        )

    return decide


def record_finding(command: schemas.FindingRecord) -> Decide:
    def decide(s: Situation) -> Change:
        finding = command.model_dump(mode="json", exclude={"actor", "note"})
        finding |= {
            "result_label": FINDING_LABELS[command.result],
            "by": _by(s),
            "at": s.now,
            "round": s.document.get("reopen_count", 0),
        }
        return Change(
            set={"finding": finding},
            entries=[
                Entry(
                    "finding",
                    _by(s),
                    command.summary,
                    {
                        "result": command.result.value,
                        "responsible_department": command.responsible_department,
                        "responsible_staff": command.responsible_staff,
                        "remedy": finding.get("remedy"),
                        "legal_channels": finding["legal_channels"],
                    },
                )
            ],
        )

    return decide


def reply(command: schemas.ReplyCreate) -> Decide:
    def decide(s: Situation) -> Change:
        document = s.document
        finding = document.get("finding")
        if not finding or finding.get("round", 0) != document.get("reopen_count", 0):
            raise Refused("record_finding: a reply needs this round's finding (处理意见) first")
        channel = Channel(document["channel"])
        form = command.form or (
            ReplyForm.WRITTEN if reply_form_problem(channel, ReplyForm.PHONE) else ReplyForm.PHONE
        )
        problem = reply_form_problem(channel, form)
        if problem:
            raise InvalidField("form", problem.partition(": ")[2])
        received_at = document["received_at"].replace(tzinfo=UTC)
        event = ComplaintReplied(
            case_number=document["case_number"],
            tracking_code=document["tracking_code"],
            received_at=received_at,
            replied_at=s.now,
            replied_by=_by(s),
            reply=command.content,
            response_seconds=(s.now - received_at).total_seconds(),
            complainant_email=complainant_email(document, s.identity),
            round=document.get("reopen_count", 0),
        )
        return Change(
            set={
                "reply": {
                    "content": command.content,
                    "form": form.value,
                    "form_label": REPLY_FORM_LABELS[form],
                    "replied_by": _by(s),
                    "replied_at": s.now,
                    "round": document.get("reopen_count", 0),
                }
            },
            entries=[Entry("replied", _by(s), command.content, {"form": form.value})],
            events=[event],
        )

    return decide


def request_extension(command: schemas.ExtensionRequest) -> Decide:
    def decide(s: Situation) -> Change:
        if (s.document.get("extension") or {}).get("pending"):
            raise Refused("extension: a request is already waiting for leadership's decision")
        pending = {
            "working_days": command.working_days,
            "reason": command.reason,
            "requested_by": _by(s),
            "requested_at": s.now,
        }
        return Change(
            set={"extension.pending": pending},
            entries=[
                Entry(
                    "extension_requested",
                    _by(s),
                    command.reason,
                    {"working_days": command.working_days},
                )
            ],
        )

    return decide


def decide_extension(command: schemas.ExtensionDecision) -> Decide:
    def decide(s: Situation) -> Change:
        pending = (s.document.get("extension") or {}).get("pending")
        if not pending:
            raise Refused("extension: there is no request to decide")
        decided = pending | {"approved": command.approve, "decided_by": _by(s), "at": s.now}
        step = Change(
            set={"extension.pending": None},
            push={"extension_history": decided},
            entries=[
                Entry(
                    "extension_approved" if command.approve else "extension_refused",
                    _by(s),
                    command.note,
                    {"working_days": pending["working_days"]},
                )
            ],
        )
        if command.approve:
            step.set |= {
                "extension.awaiting_deadline": True,
                "extension.reason": pending["reason"],
                "extension.approved_by": _by(s),
            }
            step.inc["extensions"] = 1
            step.events.append(
                _lifecycle(
                    ExtensionApproved,
                    s.document,
                    s.now,
                    _by(s),
                    working_days=pending["working_days"],
                    reason=pending["reason"],
                )
            )
        return step

    return decide


def close(command: schemas.Closure) -> Decide:
    def decide(s: Situation) -> Change:
        visit = command.return_visit.model_dump(mode="python")
        visit["at"] = (visit.get("at") or s.now).astimezone(UTC)
        problem = dates.problem_with(
            visit["at"],
            now=s.now,
            not_before=s.document["received_at"],
            not_before_what="the complaint was received",
        )
        if problem:
            raise InvalidField("return_visit.at", problem)
        assignment = s.document.get("assignment") or {}
        finding = s.document.get("finding") or {}
        return Change(
            set={
                "closure": {
                    "satisfaction": command.satisfaction.value,
                    "satisfaction_label": SATISFACTION_LABELS[command.satisfaction],
                    "return_visit": visit,
                    "closed_at": s.now,
                    "closed_by": _by(s),
                }
            },
            entries=[
                Entry(
                    "closed",
                    _by(s),
                    command.return_visit.record,
                    {"satisfaction": command.satisfaction.value, "visit": visit["method"]},
                )
            ],
            events=[
                _lifecycle(
                    ComplaintClosed,
                    s.document,
                    s.now,
                    _by(s),
                    satisfaction=command.satisfaction.value,
                    finding=finding.get("result"),
                    category=assignment.get("category"),
                    department=assignment.get("department"),
                    round=s.document.get("reopen_count", 0),
                )
            ],
        )

    return decide


def dispute(command: schemas.Dispute) -> Decide:
    def decide(s: Situation) -> Change:
        count = s.document.get("reopen_count", 0) + 1
        flagged = flagged_for_leadership(count)
        return Change(
            set={"reopen_count": count, "flagged": flagged, "reopened_at": s.now},
            entries=[
                Entry(
                    "reopened",
                    _by(s),
                    command.reason,
                    {"reopen_count": count, "flagged": flagged},
                )
            ],
            events=[
                _lifecycle(
                    ComplaintReopened,
                    s.document,
                    s.now,
                    _by(s),
                    reason=command.reason,
                    reopen_count=count,
                    flagged=flagged,
                    department=(s.document.get("assignment") or {}).get("department"),
                )
            ],
        )

    return decide
