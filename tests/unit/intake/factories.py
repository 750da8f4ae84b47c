"""Stored complaints, staff and situations for the decide functions' unit tests (no
servers): a complaint is what registration stores, then changed as the test needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.domain.authority import Actor
from services.intake.domain.commands import RegisterComplaint
from services.intake.domain.complaint import Action, Channel, ComplaintStatus, next_status
from services.intake.domain.confidentiality import IdentityCipher
from services.intake.lifecycle.situation import Situation
from services.intake.registration import new_complaint
from shared.staff_assertion import StaffAssertion

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
RECEIVED = NOW - timedelta(days=3)
IDENTITY = IdentityCipher(bytes(range(32)))
HOSPITAL = "hz-001"

OFFICE = Actor("hz-001-office-1", "complaint_office", frozenset({"complaint_office"}), "周敏")
HANDLER = Actor("hz-001-finance-2", "finance", frozenset({"handler"}), "王会计")
LEADER = Actor("hz-001-leader-1", "leadership", frozenset({"leadership"}), "李院长")
NURSE = Actor("hz-001-nursing-3", "nursing", frozenset({"handler"}), "陈护士")

ASSIGNMENT: dict[str, Any] = {
    "revision": 1,
    "category": "billing",
    "category_label": "收费",
    "department": "finance",
    "department_label": "财务科",
    "co_departments": [],
    "handler": {"staff_id": HANDLER.staff_id, "name": HANDLER.name},
    "priority": "normal",
    "due_at": NOW + timedelta(days=20),
    "deadline_pending_year": None,
}


def assertion(actor: Actor) -> StaffAssertion:
    return StaffAssertion(
        hospital_id=HOSPITAL,
        staff_id=actor.staff_id,
        kid="his-2026",
        jti=f"jti-{actor.staff_id}-0001",
        issued_at=NOW,
        expires_at=NOW + timedelta(minutes=5),
    )


def registration(**fields: Any) -> RegisterComplaint:
    given: dict[str, Any] = {
        "channel": Channel.PHONE,
        "content": "出院结算时重复收取CT检查费。",
        "demand": "退还多收的费用",
        "fingerprint": "f" * 64,
        "complainant": {"name": "李娜", "phone": "13800001111", "email": "li.na@example.org"},
        "received_at": RECEIVED,
    }
    return RegisterComplaint(**(given | fields))


def complaint(**fields: Any) -> dict[str, Any]:
    """A complaint as registration stored it, with `fields` as later changes left them."""
    command = registration()
    stored, _ = new_complaint(
        command,
        complaint_id="c-0001",
        hospital_id=HOSPITAL,
        number="HZ-001-202611-00001",
        idempotency_key=None,
        received_at=RECEIVED,
        now=RECEIVED,
        identity=IDENTITY,
        proven_by=None,
    )
    return stored | fields


def situation(stored: dict[str, Any], action: Action, actor: Actor = OFFICE) -> Situation:
    status_after = next_status(ComplaintStatus(stored["status"]), action)
    return Situation(stored, actor, NOW, status_after, IDENTITY)
