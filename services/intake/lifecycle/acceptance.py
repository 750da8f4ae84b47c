"""Acceptance review (受理审查) and the first receiver's hand-over: accept, ask for a
supplement (the clock waits), record the supplement, refuse with a regulation's reason,
transfer out of the hospital's remit, settle on the spot, hand over to the office.

Each decide function is pure: the situation and the command in, the Change out.
"""

from __future__ import annotations

from services.intake.change import Change, Entry
from services.intake.domain.commands import (
    Accept,
    HandOver,
    NotAccept,
    RequestSupplement,
    ResolveOnSpot,
    Supplement,
    Transfer,
)
from services.intake.domain.complaint import Action, ComplaintStatus, next_status
from services.intake.events import assigned_event
from services.intake.lifecycle.situation import Situation
from shared.contracts import (
    ComplaintAccepted,
    ComplaintNotAccepted,
    ComplaintResolvedOnSpot,
    ComplaintSupplemented,
    ComplaintTransferred,
    SupplementRequested,
)


def _accepted(s: Situation, change: Change, note: str | None) -> Change:
    """Acceptance ends the first receiver's accountability; a routing decision already
    waiting takes effect at once."""
    change.set["acceptance"] = {"decision": "accepted", "at": s.now, "by": s.by, "note": note}
    change.set["first_receiver.accountable"] = None
    change.entries.append(Entry("accepted", s.by, note))
    change.events.append(s.event(ComplaintAccepted))
    assignment = s.complaint.get("assignment")
    if assignment:
        event, fields = assigned_event(s.complaint, s.identity, assignment)
        change.set["status"] = next_status(ComplaintStatus.ACCEPTED, Action.ASSIGN).value
        change.set.update(fields)
        change.events.append(event)
    return change


def accept(s: Situation, command: Accept) -> Change:
    return _accepted(s, Change(), command.note)


def request_supplement(s: Situation, command: RequestSupplement) -> Change:
    return Change(
        set={
            "supplement": {"missing": command.missing, "requested_at": s.now, "requested_by": s.by}
        },
        entries=[Entry("supplement_requested", s.by, command.note, {"missing": command.missing})],
        events=[
            s.event(
                SupplementRequested,
                missing=command.missing,
                complainant_email=s.complainant_email,
            )
        ],
    )


def supplement(s: Situation, command: Supplement) -> Change:
    arrived = s.dated("received_at", command.received_at)
    change = Change(
        set={"supplement.supplied_at": arrived, "supplement.content": command.content},
        entries=[Entry("supplemented", s.by, command.note, {"content": command.content})],
        events=[s.event(ComplaintSupplemented, at=arrived)],
    )
    return _accepted(s, change, "材料补齐后受理")


def not_accept(s: Situation, command: NotAccept) -> Change:
    label = command.reason.label
    return Change(
        set={
            "acceptance": {
                "decision": "not_accepted",
                "reason": command.reason.value,
                "reason_label": label,
                "explanation": command.explanation,
                "refer_to": command.refer_to,
                "at": s.now,
                "by": s.by,
            },
            "first_receiver.accountable": None,
        },
        entries=[Entry("not_accepted", s.by, label, {"reason": command.reason.value})],
        events=[
            s.event(
                ComplaintNotAccepted,
                reason=command.reason.value,
                reason_label=label,
                explanation=command.explanation,
                refer_to=command.refer_to,
                complainant_email=s.complainant_email,
            )
        ],
    )


def transfer(s: Situation, command: Transfer) -> Change:
    return Change(
        set={
            "transfer": {"to_body": command.to_body, "at": s.now, "by": s.by},
            "first_receiver.accountable": None,
        },
        entries=[Entry("transferred", s.by, command.note, {"to_body": command.to_body})],
        events=[
            s.event(
                ComplaintTransferred,
                to_body=command.to_body,
                note=command.note,
                complainant_email=s.complainant_email,
            )
        ],
    )


def resolve_on_spot(s: Situation, command: ResolveOnSpot) -> Change:
    return Change(
        set={
            "on_spot": {"outcome": command.outcome, "at": s.now, "by": s.by},
            "first_receiver.accountable": None,
        },
        entries=[Entry("resolved_on_spot", s.by, command.outcome)],
        events=[s.event(ComplaintResolvedOnSpot, outcome=command.outcome)],
    )


def hand_over(s: Situation, command: HandOver) -> Change:
    """The receiver is complaint-office staff: runner.py checks it in the directory."""
    return Change(
        set={"first_receiver.accountable": command.to},
        entries=[Entry("handed_over", s.by, command.note, {"to": command.to})],
    )
