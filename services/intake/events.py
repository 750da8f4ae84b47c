"""The events a complaint's changes publish, filled in from the stored complaint (their
contracts are in shared/contracts.py). Who is told what is notification's table; what
intake puts in an event is decided here: the complainant's address only where they may
be written to, and only to the receivers that need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from services.intake.domain.confidentiality import IdentityCipher
from shared.contracts import ComplaintAssigned, LifecycleEvent, Person

E = TypeVar("E", bound=LifecycleEvent)


def lifecycle_event(
    model: type[E], complaint: Mapping[str, Any], at: datetime, by: str | None, **fields: Any
) -> E:
    """An event about a step of the case: which case, its tracking code, when, by whom."""
    return model(
        case_number=complaint["case_number"],
        tracking_code=complaint["tracking_code"],
        at=at,
        by=by,
        **fields,
    )


def complainant_email(complaint: Mapping[str, Any], identity: IdentityCipher) -> str | None:
    """The address to write to, or None: anonymous complainants are never contacted."""
    if complaint.get("anonymous") or not complaint.get("complainant"):
        return None
    return identity.open(complaint["_id"], complaint["complainant"]).get("email")


def handler_of(complaint: Mapping[str, Any]) -> Person | None:
    handler = (complaint.get("assignment") or {}).get("handler")
    return Person.model_validate(handler) if handler else None


def pending_year(assignment: Mapping[str, Any]) -> int | None:
    """The year the reply deadline waits for (routing's calendar lacks it); None once it
    is a date."""
    if assignment.get("due_at") is not None:
        return None
    return assignment.get("deadline_pending_year")


def assigned_event(
    complaint: Mapping[str, Any], identity: IdentityCipher, assignment: Mapping[str, Any]
) -> tuple[ComplaintAssigned, dict[str, Any]]:
    """complaint.assigned for an accepted case, and the fields it sets: the complainant's
    receipt goes with the first assignment only."""
    first = not complaint.get("receipt_sent")
    # The handler's part of the stored decision (shared/contracts AssignedWork): the event
    # takes its own fields from it and ignores the rest.
    event = ComplaintAssigned.model_validate(
        {
            **assignment,
            "deadline_pending_year": pending_year(assignment),
            "case_number": complaint["case_number"],
            "tracking_code": complaint["tracking_code"],
            "received_at": complaint["received_at"],
            "complainant_email": complainant_email(complaint, identity) if first else None,
        }
    )
    return event, {"receipt_sent": True}
