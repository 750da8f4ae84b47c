"""The notices of the lifecycle: supplement, not accepted, transferred, extended,
escalated, and the handler's assignment with priority and co-handling departments. Who is
told, in Chinese, and who is not told at all (no address, anonymous)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notification.domain.messages import (
    RecipientRole,
    assignment_for_handler,
    escalation_for,
    extension_for_complainant,
    extension_for_handler,
    not_accepted_for_complainant,
    supplement_request_for_complainant,
    transfer_for_complainant,
)
from services.notification.service import messages_for
from shared.contracts import (
    ComplaintAssigned,
    ComplaintEscalated,
    ComplaintExtended,
    ComplaintNotAccepted,
    ComplaintTransferred,
    DepartmentRef,
    Person,
    SupplementRequested,
)

AT = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
EMAIL = "lina@patients.example.org"
URL = "https://huiyin.example.org/v1/track/"
STEP = {"case_number": "HZ-001-202611-00007", "tracking_code": "ABCD-EFGH-JKLM", "at": AT}
HANDLER = Person(staff_id="hz-001-finance-2", name="李磊", email="finance.2@hz1.example.org")
LEADERS = [
    Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org"),
    Person(staff_id="hz-001-leadership-2", name="孙院长", email="president@hz1.example.org"),
    Person(staff_id="hz-001-leadership-3", name="无邮箱", email=None),
]

SUPPLEMENT = SupplementRequested(**STEP, missing="收费票据复印件", complainant_email=EMAIL)
REFUSED = ComplaintNotAccepted(
    **STEP,
    reason="outside_remit",
    reason_label="不属于本院职责范围",
    explanation="药品价格由医保部门核定。",
    refer_to="杭州市医疗保障局",
    complainant_email=EMAIL,
)
TRANSFERRED = ComplaintTransferred(**STEP, to_body="杭州市市场监督管理局", complainant_email=EMAIL)
EXTENDED = ComplaintExtended(
    **STEP,
    due_at=datetime(2026, 11, 20, 15, 59, 59, tzinfo=UTC),
    reason="需调取医保结算系统日志",
    handler=HANDLER,
    complainant_email=EMAIL,
)
ESCALATED = ComplaintEscalated(
    case_number=STEP["case_number"],
    level="leadership",
    reason="投诉第2次被申请复核",
    recipients=LEADERS,
)


def test_supplement_request_says_what_is_missing_and_when_counting_restarts() -> None:
    message = supplement_request_for_complainant(SUPPLEMENT, tracking_url=URL)
    assert message is not None and message.to == EMAIL
    assert "补充" in message.subject and STEP["case_number"] in message.subject
    assert "收费票据复印件" in message.body and "补齐之日起" in message.body
    assert URL + STEP["tracking_code"] in message.body


def test_not_accepted_gives_the_rule_the_explanation_and_where_to_go() -> None:
    message = not_accepted_for_complainant(REFUSED)
    assert message is not None and "不予受理" in message.subject
    for text in ("不属于本院职责范围", "药品价格由医保部门核定", "杭州市医疗保障局"):
        assert text in message.body
    no_referral = REFUSED.model_copy(update={"refer_to": None})
    assert "反映" not in not_accepted_for_complainant(no_referral).body  # type: ignore[union-attr]


def test_transfer_names_the_competent_body() -> None:
    message = transfer_for_complainant(TRANSFERRED)
    assert message is not None and "杭州市市场监督管理局" in message.body


def test_extension_tells_the_complainant_why_and_the_handler_the_new_date() -> None:
    told = extension_for_complainant(EXTENDED, tracking_url=URL)
    assert told is not None and "延期" in told.subject
    assert "需调取医保结算系统日志" in told.body
    assert "2026年11月20日 23:59" in told.body  # China time
    handler = extension_for_handler(EXTENDED)
    assert handler is not None and handler.role is RecipientRole.HANDLER
    assert handler.to == HANDLER.email and EMAIL not in handler.body


@pytest.mark.parametrize(
    "event", [SUPPLEMENT, REFUSED, TRANSFERRED, EXTENDED], ids=lambda e: e.event_type
)
def test_no_address_no_mail_to_the_complainant(event) -> None:  # type: ignore[no-untyped-def]
    silent = event.model_copy(update={"complainant_email": None})
    sent = [m for m in messages_for(silent, tracking_url=URL) if m is not None]
    assert all(m.role is not RecipientRole.COMPLAINANT for m in sent)


def test_escalation_goes_to_every_leader_with_an_address_separately() -> None:
    messages = [m for m in messages_for(ESCALATED, tracking_url=URL) if m is not None]
    assert [m.to for m in messages] == ["vp@hz1.example.org", "president@hz1.example.org"]
    assert {m.recipient_key for m in messages} == {"hz-001-leadership-1", "hz-001-leadership-2"}
    assert all(m.role is RecipientRole.LEADERSHIP for m in messages)
    assert all("督办" in m.subject and "投诉第2次被申请复核" in m.body for m in messages)
    bureau = ESCALATED.model_copy(update={"level": "bureau"})
    assert escalation_for(bureau, LEADERS[0]).role is RecipientRole.SUPERVISOR  # type: ignore[union-attr]


def test_an_urgent_assignment_says_so_and_lists_co_handling_departments() -> None:
    assigned = ComplaintAssigned(
        case_number=STEP["case_number"],
        tracking_code=STEP["tracking_code"],
        category="nursing",
        category_label="护理",
        department="nursing",
        department_label="护理部",
        handler=HANDLER,
        received_at=AT,
        due_at=AT + timedelta(days=7),
        summary="坠床后无人处理",
        priority="urgent",
        action_due_at=AT + timedelta(hours=24),
        co_departments=[DepartmentRef(code="finance", label="财务科")],
        revision=2,
        reason="属护理问题，改派护理部",
    )
    message = assignment_for_handler(assigned)
    assert message is not None and "【紧急】" in message.subject
    assert "须于2026年11月03日 10:00前采取措施" in message.body
    assert "配合科室：财务科" in message.body and "改派护理部" in message.body
    calm = assigned.model_copy(update={"priority": "normal", "revision": 1, "co_departments": []})
    body = assignment_for_handler(calm).body  # type: ignore[union-attr]
    assert "紧急" not in body and "配合科室" not in body and "改派" not in body


def test_staff_notices_never_carry_the_complainant_address() -> None:
    for message in messages_for(ESCALATED, tracking_url=URL) + [extension_for_handler(EXTENDED)]:
        assert message is None or EMAIL not in message.body
