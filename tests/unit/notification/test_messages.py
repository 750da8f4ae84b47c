"""What handlers and complainants are told, and what they must never learn."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notification.domain.messages import (
    RecipientRole,
    assignment_for_handler,
    mask_address,
    receipt_for_complainant,
    reply_for_complainant,
)
from shared.contracts import ComplaintAssigned, ComplaintReplied, Person

ASSIGNED = ComplaintAssigned(
    case_number="HZ-001-202611-00001",
    tracking_code="ABCD-EFGH-JKLM",
    category="fees",
    category_label="收费物价",
    department="finance",
    department_label="财务科",
    handler=Person(staff_id="hz-001-finance-1", name="钱会计", email="finance.1@hz1.example.org"),
    received_at=datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
    due_at=datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC),
    summary="出院结算重复收费",
    complainant_email="lina@patients.example.org",
)
REPLIED = ComplaintReplied(
    case_number=ASSIGNED.case_number,
    tracking_code=ASSIGNED.tracking_code,
    received_at=ASSIGNED.received_at,
    replied_at=datetime(2026, 11, 25, 2, 0, tzinfo=UTC),
    replied_by="hz-001-finance-1",
    reply="经核实确有重复收费，已办理退费。",
    response_seconds=176400,
    complainant_email="lina@patients.example.org",
)


def test_the_handler_gets_the_case_in_china_time_and_no_complainant() -> None:
    message = assignment_for_handler(ASSIGNED)
    assert message is not None and message.role is RecipientRole.HANDLER
    assert message.to == "finance.1@hz1.example.org"
    assert ASSIGNED.case_number in message.subject
    assert "2026年11月30日 23:59" in message.body  # the deadline as the handler reads it
    assert "lina" not in message.body and "ABCD-EFGH-JKLM" not in message.body


def test_no_handler_or_no_address_means_no_handler_mail() -> None:
    assert assignment_for_handler(ASSIGNED.model_copy(update={"handler": None})) is None
    unreachable = Person(staff_id="x", name="无邮箱")
    assert assignment_for_handler(ASSIGNED.model_copy(update={"handler": unreachable})) is None


def test_the_complainant_gets_a_receipt_with_tracking_code_and_no_staff_data() -> None:
    message = receipt_for_complainant(ASSIGNED, tracking_url="https://huiyin.example.org/t/")
    assert message is not None and message.to == "lina@patients.example.org"
    assert "https://huiyin.example.org/t/ABCD-EFGH-JKLM" in message.body
    assert "钱会计" not in message.body and "finance.1" not in message.body


def test_the_reply_reaches_the_complainant_without_staff_identity() -> None:
    message = reply_for_complainant(REPLIED)
    assert message is not None
    assert REPLIED.reply in message.body
    assert "hz-001-finance-1" not in message.body


def test_anonymous_complainants_get_nothing() -> None:
    assert (
        receipt_for_complainant(
            ASSIGNED.model_copy(update={"complainant_email": None}), tracking_url="x"
        )
        is None
    )
    assert reply_for_complainant(REPLIED.model_copy(update={"complainant_email": None})) is None


def test_delivery_logs_mask_addresses() -> None:
    assert mask_address("lina@patients.example.org") == "l***@patients.example.org"
    assert mask_address("broken") == "***"
