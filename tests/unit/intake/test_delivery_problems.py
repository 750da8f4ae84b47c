"""What the complaint keeps of a notice that could not be delivered (通知发送失败)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.intake.delivery_problems import failure_change, note_of, problem_of
from shared.contracts import NotificationFailed
from tests.support import events as sample
from tests.unit.intake.factories import IDENTITY, complaint

AT = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def failed(role: str, recipient: str) -> NotificationFailed:
    return sample.notification_failed(
        delivery_id=f"e-1:{role}",
        recipient_role=role,
        error="邮件服务器暂不接收（稍后重试）（451 4.3.0 try later）",
        reason_code="deferred",
        recipient=recipient,
    )


def test_a_staff_recipient_is_named_by_role_and_masked_address() -> None:
    problem = problem_of(failed("handler", "p***@hz1.example.org"), at=AT)
    assert problem["role_label"] == "承办人" and problem["recipient"] == "p***@hz1.example.org"
    assert note_of(problem) == (
        "通知发送失败：承办人（p***@hz1.example.org），"
        "邮件服务器暂不接收（稍后重试）（451 4.3.0 try later），共尝试5次"
    )


def test_the_complainants_address_is_not_kept_even_masked() -> None:
    problem = problem_of(failed("complainant", "z***@patients.example.org"), at=AT)
    assert problem["recipient"] is None and problem["role_label"] == "投诉人"
    assert "@" not in note_of(problem)


def test_a_failed_delivery_is_kept_on_the_complaint_and_in_its_timeline() -> None:
    notice = failed("handler", "p***@hz1.example.org")
    sent = notice.envelope(hospital_id="hz-001", complaint_id="c-0001")
    change = failure_change(complaint(), sent, notice, identity=IDENTITY, now=AT)
    [problem] = [change.push["delivery_problems"]]
    assert problem["recipient_role"] == "handler" and problem["at"] == AT
    [entry] = change.entries
    assert (entry.type, entry.by) == ("notification_failed", "notification")
    assert entry.data is not None and "at" not in entry.data
    assert change.events == []
