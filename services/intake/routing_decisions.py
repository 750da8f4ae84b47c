"""Applying routing's decisions to the complaint (intake is its single writer):
complaint.routed (department, handler, priority, deadlines) and complaint.deadline_changed
(a supplement, an extension, a re-review, or the calendar year the deadline waited for).

Each is a pure change of the complaint (consumers.py applies it once per event); an older
decision or deadline arriving after a newer one is recorded as seen, never applied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.intake.change import Change, Entry
from services.intake.domain.complaint import TRANSITIONS, Action, ComplaintStatus, next_status
from services.intake.domain.confidentiality import IdentityCipher
from services.intake.events import (
    assigned_event,
    complainant_email,
    handler_of,
    lifecycle_event,
    pending_year,
)
from shared.contracts import (
    ComplaintExtended,
    ComplaintRouted,
    DeadlineChanged,
    DeadlineSet,
    Envelope,
    RoutingDecision,
)


class RoutingNotApplied(LookupError):
    """Transient: an event about the routing decision arrived before the decision."""


def routed_change(
    complaint: dict[str, Any],
    envelope: Envelope,
    routed: ComplaintRouted,
    *,
    identity: IdentityCipher,
    now: datetime,
) -> Change:
    """Record routing's newest decision. An accepted case becomes assigned and announced;
    one still under acceptance review keeps the decision until the office accepts it."""
    current = complaint.get("assignment") or {}
    if current and current.get("revision", 1) >= routed.revision:
        return Change()  # an older decision arriving late
    # The complaint keeps routing's whole decision as its assignment (shared/contracts
    # RoutingDecision); BSON has no dates without a time, so the counting day is ISO text.
    assignment = routed.model_dump(mode="python", include=set(RoutingDecision.model_fields))
    day = routed.counting_day
    assignment["counting_day"] = day.isoformat() if day else None
    changed_at = current.get("deadline_changed_at")
    if changed_at is not None and changed_at >= envelope.occurred_at:
        # A deadline routing set after this decision was made (the year's calendar
        # loaded, an extension) was applied first: the decision does not undo it.
        for key in ("due_at", "deadline_pending_year", "deadline_changed_at"):
            assignment[key] = current.get(key)
    change = Change(set={"assignment": assignment})
    status = ComplaintStatus(complaint["status"])
    if Action.ASSIGN in TRANSITIONS[status]:
        after = next_status(status, Action.ASSIGN)
        change.set["status"] = after.value
        if after in (ComplaintStatus.ASSIGNED, ComplaintStatus.REOPENED):
            event, fields = assigned_event(complaint, identity, assignment)
            change.events.append(event)
            change.set.update(fields)
    handler = routed.handler.name if routed.handler else "无可用承办人"
    waiting = pending_year(assignment)
    note = f"{routed.department_label} / {routed.category_label} / {handler}"
    if waiting is not None:
        note += f" / 办理时限待{waiting}年法定节假日安排载入后确定"
    change.entries.append(
        Entry(
            "assigned" if routed.revision == 1 else "reassigned",
            "routing",
            note,
            data={
                "revision": routed.revision,
                "reason": routed.reason,
                "department": routed.department,
                "handler": routed.handler.staff_id if routed.handler else None,
                "priority": routed.priority,
                "matched_keywords": routed.matched_keywords,
                "recused": routed.recused,
            },
        )
    )
    return change


def deadline_change(
    complaint: dict[str, Any],
    envelope: Envelope,
    changed: DeadlineChanged,
    *,
    identity: IdentityCipher,
    now: datetime,
) -> Change:
    """Routing moved the reply deadline, or it now waits for a year's calendar (no date is
    shown rather than a wrong one). An approved extension is told to the complainant
    (延期须告知理由) once its date is known."""
    assignment = complaint.get("assignment")
    if not assignment:
        # Published after complaint.routed but consumed first: retry until it lands.
        raise RoutingNotApplied(f"complaint {complaint['_id']} has no routing decision yet")
    last = assignment.get("deadline_changed_at")
    if last is not None and envelope.occurred_at <= last:
        return Change()  # an older change arriving after a newer one
    waiting = changed.deadline_pending_year
    note = changed.reason
    if waiting is not None:
        note += f"；办理时限待{waiting}年法定节假日安排载入后确定"
    change = Change(
        set={
            "assignment.due_at": changed.due_at,
            "assignment.deadline_pending_year": waiting,
            "assignment.deadline_changed_at": envelope.occurred_at,
        },
        entries=[
            Entry(
                "deadline_changed",
                "routing",
                note,
                data={
                    "due_at": changed.due_at,
                    "working_days": changed.working_days,
                    "deadline_pending_year": waiting,
                },
            )
        ],
    )
    extension = complaint.get("extension") or {}
    was_pending = assignment.get("due_at") is None and assignment.get("deadline_pending_year")
    # An extension whose new date waits for the calendar is told once it is a date.
    if extension.get("awaiting_deadline") and changed.due_at is not None:
        change.set["extension.awaiting_deadline"] = False
        change.events.append(
            lifecycle_event(
                ComplaintExtended,
                complaint,
                now,
                extension.get("approved_by"),
                due_at=changed.due_at,
                reason=extension.get("reason") or changed.reason,
                handler=handler_of(complaint),
                complainant_email=complainant_email(complaint, identity),
            )
        )
    elif was_pending and changed.due_at is not None and complaint.get("receipt_sent"):
        # Handler and complainant were told the deadline waits for the calendar: now
        # they learn its date. (A case not yet assigned learns it with its assignment.)
        change.events.append(
            lifecycle_event(
                DeadlineSet,
                complaint,
                now,
                "routing",
                due_at=changed.due_at,
                handler=handler_of(complaint),
                complainant_email=complainant_email(complaint, identity),
            )
        )
    return change
