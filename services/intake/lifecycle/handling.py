"""Handling a case (调查处理): re-route it to another department, record investigation
notes and the finding (处理意见), reply to the complainant, ask leadership for an extension
and record its decision. Also what a re-review (复核) does, which works like handling.

Each decide function is pure: the situation and the command in, the Change out.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from services.intake.change import Change, Entry
from services.intake.domain.commands import (
    DecideExtension,
    InvalidField,
    NotReady,
    RecordFinding,
    RecordNote,
    Reply,
    RequestExtension,
    Reroute,
)
from services.intake.domain.complaint import Channel
from services.intake.domain.outcomes import (
    ReplyForm,
    reply_form_problem,
)
from services.intake.lifecycle.situation import Situation
from shared.contracts import ComplaintReplied, ExtensionApproved, RerouteRequested


def reroute(s: Situation, command: Reroute) -> Change:
    """Routing decides again for the named department (runner.py checks it exists)."""
    current = s.assignment.get("department")
    if current == command.department:
        raise NotReady(f"department: the case is already with {command.department}")
    text = " ".join(filter(None, [s.complaint["content"], s.complaint.get("demand")]))
    return Change(
        entries=[
            Entry(
                "reroute_requested",
                s.by,
                command.reason,
                {"from": current, "to": command.department},
            )
        ],
        events=[
            s.event(
                RerouteRequested,
                department=command.department,
                reason=command.reason,
                content=text,
                target_staff_id=s.complaint.get("target_staff_id"),
            )
        ],
    )


def record_note(s: Situation, command: RecordNote) -> Change:
    return Change(
        inc={"notes_count": 1},
        entries=[
            Entry("investigation_note", s.by, command.content, {"department": s.actor.department})
        ],
    )


def record_finding(s: Situation, command: RecordFinding) -> Change:
    """The finding of this round (a re-review needs its own before the next reply)."""
    remedy = command.remedy
    finding: dict[str, Any] = {
        "result": command.result.value,
        "summary": command.summary,
        "responsible_department": command.responsible_department,
        "responsible_staff": list(command.responsible_staff),
        "remedy": None
        if remedy is None
        else {
            "description": remedy.description,
            "refund_amount": _money(remedy.refund_amount),
            "travel_cost_amount": _money(remedy.travel_cost_amount),
        },
        "mediation_failed": command.mediation_failed,
        "legal_channels": [channel.value for channel in command.legal_channels],
        "result_label": command.result.label,
        "by": s.by,
        "at": s.now,
        "round": s.complaint.get("reopen_count", 0),
    }
    return Change(
        set={"finding": finding},
        entries=[
            Entry(
                "finding",
                s.by,
                command.summary,
                {
                    "result": command.result.value,
                    "responsible_department": command.responsible_department,
                    "responsible_staff": list(command.responsible_staff),
                    "remedy": finding["remedy"],
                    "legal_channels": finding["legal_channels"],
                },
            )
        ],
    )


def _money(amount: Any) -> str | None:
    """Amounts are kept as decimal text, never floats."""
    return None if amount is None else str(amount)


def reply(s: Situation, command: Reply) -> Change:
    """Only after this round's finding; a complaint received in writing is answered in
    writing (the form defaults so)."""
    complaint = s.complaint
    round_ = complaint.get("reopen_count", 0)
    finding = complaint.get("finding")
    if not finding or finding.get("round", 0) != round_:
        raise NotReady("record_finding: a reply needs this round's finding (处理意见) first")
    channel = Channel(complaint["channel"])
    form = command.form or (
        ReplyForm.WRITTEN if reply_form_problem(channel, ReplyForm.PHONE) else ReplyForm.PHONE
    )
    problem = reply_form_problem(channel, form)
    if problem:
        raise InvalidField("form", problem)
    received_at = complaint["received_at"].replace(tzinfo=UTC)
    event = ComplaintReplied(
        case_number=complaint["case_number"],
        tracking_code=complaint["tracking_code"],
        received_at=received_at,
        replied_at=s.now,
        replied_by=s.by,
        reply=command.content,
        response_seconds=(s.now - received_at).total_seconds(),
        complainant_email=s.complainant_email,
        round=round_,
    )
    return Change(
        set={
            "reply": {
                "content": command.content,
                "form": form.value,
                "form_label": form.label,
                "replied_by": s.by,
                "replied_at": s.now,
                "round": round_,
            }
        },
        # The deadline in force as the reply is given: reporting's rebuild judges the
        # reply on time or late by it (services/reporting/domain/intake_records.py).
        entries=[
            Entry(
                "replied",
                s.by,
                command.content,
                {"form": form.value, "due_at": s.assignment.get("due_at")},
            )
        ],
        events=[event],
    )


def request_extension(s: Situation, command: RequestExtension) -> Change:
    if (s.complaint.get("extension") or {}).get("pending"):
        raise NotReady("extension: a request is already waiting for leadership's decision")
    pending = {
        "working_days": command.working_days,
        "reason": command.reason,
        "requested_by": s.by,
        "requested_at": s.now,
    }
    return Change(
        set={"extension.pending": pending},
        entries=[
            Entry(
                "extension_requested",
                s.by,
                command.reason,
                {"working_days": command.working_days},
            )
        ],
    )


def decide_extension(s: Situation, command: DecideExtension) -> Change:
    """Leadership approves or refuses the waiting request; routing moves the deadline on
    extension_approved, and the complainant is told once its date is known
    (routing_decisions.py)."""
    pending = (s.complaint.get("extension") or {}).get("pending")
    if not pending:
        raise NotReady("extension: there is no request to decide")
    decided = pending | {"approved": command.approve, "decided_by": s.by, "at": s.now}
    change = Change(
        set={"extension.pending": None},
        push={"extension_history": decided},
        entries=[
            Entry(
                "extension_approved" if command.approve else "extension_refused",
                s.by,
                command.note,
                {"working_days": pending["working_days"]},
            )
        ],
    )
    if command.approve:
        change.set |= {
            "extension.awaiting_deadline": True,
            "extension.reason": pending["reason"],
            "extension.approved_by": s.by,
        }
        change.inc["extensions"] = 1
        change.events.append(
            s.event(
                ExtensionApproved,
                working_days=pending["working_days"],
                reason=pending["reason"],
            )
        )
    return change
