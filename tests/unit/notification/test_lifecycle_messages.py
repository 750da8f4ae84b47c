"""The notices of the lifecycle: supplement, not accepted, transferred, extended,
escalated, and the handler's assignment with priority and co-handling departments. Who is
told, in Chinese, and who is not told at all (no address, anonymous)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings

from services.notification import consumers
from services.notification.domain.complainant_notices import (
    extension_for_complainant,
    not_accepted_for_complainant,
    receipt_for_complainant,
    supplement_request_for_complainant,
    transfer_for_complainant,
)
from services.notification.domain.messages import RecipientRole
from services.notification.domain.notices import NOTICES, notices_for
from services.notification.domain.staff_notices import (
    assignment_for_handler,
    extension_for_handler,
    ladder_notices,
)
from services.notification.domain.templates import NoticeContext
from shared.contracts import ComplaintEscalated, DepartmentRef, EventPayload, Person
from shared.topology import subscriptions
from tests.support import events as sample
from tests.support.events import CASE_NUMBER, NURSING, OFFICE, TRACKING_CODE
from tests.unit.notification.fakes import emails, text_of

AT = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
EMAIL = sample.COMPLAINANT_EMAIL
URL = "https://huiyin.example.org/v1/track/"
CONTEXT = NoticeContext(tracking_url=URL)
HANDLER = Person(staff_id="hz-001-finance-2", name="李磊", email="finance.2@hz1.example.org")
LEADERS = [
    Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org"),
    Person(staff_id="hz-001-leadership-2", name="孙院长", email="president@hz1.example.org"),
    Person(staff_id="hz-001-leadership-3", name="无邮箱", email=None),
]

SUPPLEMENT = sample.supplement_requested(at=AT, complainant_email=EMAIL)
REFUSED = sample.not_accepted(at=AT, refer_to="杭州市医疗保障局", complainant_email=EMAIL)
TRANSFERRED = sample.transferred(at=AT, note="涉及药店经营行为", complainant_email=EMAIL)
EXTENDED = sample.extended(
    at=AT,
    due_at=datetime(2026, 11, 20, 15, 59, 59, tzinfo=UTC),
    reason="需调取医保结算系统日志",
    handler=HANDLER,
    complainant_email=EMAIL,
)
ESCALATED = sample.escalated(recipients=LEADERS)
ASSIGNED = sample.assigned(
    **NURSING,
    handler=HANDLER,
    received_at=AT,
    due_at=AT + timedelta(days=7),
    priority="urgent",
    action_due_at=AT + timedelta(hours=24),
    co_departments=[
        DepartmentRef(code="finance", label="财务科"),
        DepartmentRef(code="medical_affairs", label="医务科"),
    ],
    revision=2,
    reason="属护理问题，改派护理部",
    complainant_email=EMAIL,
)
REPLIED = sample.replied(replied_by="hz-001-nursing-3", complainant_email=EMAIL)
TO_COMPLAINANT: list[EventPayload] = [SUPPLEMENT, REFUSED, TRANSFERRED, EXTENDED, REPLIED]
EVERYTHING: list[EventPayload] = [*TO_COMPLAINANT, ASSIGNED, ESCALATED]


# --- one table for every notified event ---------------------------------------------------


def test_every_event_the_queue_receives_has_its_notices_or_the_service_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stub: Any = object()
    assert set(consumers.handlers(ports=stub, settings=stub, ladder=stub)) == set(
        subscriptions("notification")
    )
    without = {model: write for model, write in NOTICES.items() if model is not ComplaintEscalated}
    monkeypatch.setattr(consumers, "NOTICES", without)
    with pytest.raises(LookupError, match=r"no handler for \['complaint.escalated'\]"):
        consumers.handlers(ports=stub, settings=stub, ladder=stub)


def test_an_event_without_notices_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="no notices"):
        notices_for(sample.accepted(), tracking_url=URL)


# --- complainant: supplement, not accepted, transfer, extension ---------------------------


def test_supplement_request_says_what_is_missing_and_when_counting_restarts() -> None:
    message = supplement_request_for_complainant(SUPPLEMENT, CONTEXT)
    assert message is not None and message.to == EMAIL
    assert message.role is RecipientRole.COMPLAINANT
    assert "补充" in message.subject and CASE_NUMBER in message.subject
    assert "收费票据复印件" in message.body and "补齐之日起" in message.body
    assert f"查询码：{TRACKING_CODE}" in message.body
    assert URL + TRACKING_CODE in message.body


def test_not_accepted_gives_the_rule_the_explanation_and_where_to_go() -> None:
    message = not_accepted_for_complainant(REFUSED)
    assert message is not None and "不予受理" in message.subject
    assert CASE_NUMBER in message.subject
    assert "依据：不属于本院职责范围" in message.body
    assert "说明：药品价格由医保部门核定。" in message.body
    assert "您可以向杭州市医疗保障局反映" in message.body
    no_referral = not_accepted_for_complainant(REFUSED.model_copy(update={"refer_to": None}))
    assert no_referral is not None and "反映" not in no_referral.body


def test_transfer_names_the_competent_body_and_the_note() -> None:
    message = transfer_for_complainant(TRANSFERRED)
    assert message is not None and "转交" in message.subject
    assert "已转交杭州市市场监督管理局处理" in message.body
    assert "说明：涉及药店经营行为" in message.body
    bare = transfer_for_complainant(TRANSFERRED.model_copy(update={"note": None}))
    assert bare is not None and "说明" not in bare.body


def test_extension_tells_the_complainant_the_new_date_and_why() -> None:
    told = extension_for_complainant(EXTENDED, CONTEXT)
    assert told is not None and "延期" in told.subject and told.to == EMAIL
    assert "延期理由：需调取医保结算系统日志" in told.body
    assert "新的答复期限：2026年11月20日 23:59" in told.body  # China time
    assert URL + TRACKING_CODE in told.body


@pytest.mark.parametrize("event", TO_COMPLAINANT, ids=lambda e: e.event_type)
def test_no_address_no_mail_to_the_complainant(event: EventPayload) -> None:
    silent = event.model_copy(update={"complainant_email": None})
    assert all(
        m.role is not RecipientRole.COMPLAINANT for m in notices_for(silent, tracking_url=URL)
    )
    assert any(m.role is RecipientRole.COMPLAINANT for m in notices_for(event, tracking_url=URL))


@pytest.mark.parametrize("event", TO_COMPLAINANT, ids=lambda e: e.event_type)
def test_complainant_notices_name_no_staff_member(event: EventPayload) -> None:
    [message] = [
        m for m in notices_for(event, tracking_url=URL) if m.role is RecipientRole.COMPLAINANT
    ]
    text = text_of(message)
    for staff in (HANDLER.name, HANDLER.staff_id, str(HANDLER.email), OFFICE, "hz1.example.org"):
        assert staff not in text
    assert REPLIED.replied_by not in text


def test_the_receipt_goes_only_with_an_address_and_never_names_the_handler() -> None:
    receipt = receipt_for_complainant(ASSIGNED, CONTEXT)
    assert receipt is not None and HANDLER.name not in text_of(receipt)
    later = ASSIGNED.model_copy(update={"complainant_email": None})  # a re-assignment
    assert [m.role for m in notices_for(later, tracking_url=URL)] == [RecipientRole.HANDLER]


def test_a_re_review_reply_says_it_answers_the_dispute() -> None:
    [first] = notices_for(REPLIED, tracking_url=URL)
    [again] = notices_for(REPLIED.model_copy(update={"round": 1}), tracking_url=URL)
    assert "复核申请" not in first.subject and "复核申请已答复" in again.subject
    assert REPLIED.reply in again.body


# --- staff: assignment, extension, escalation ---------------------------------------------


def test_an_urgent_assignment_says_so_and_lists_co_handling_departments() -> None:
    message = assignment_for_handler(ASSIGNED)
    assert message is not None and message.subject.startswith("【回音】【紧急】")
    assert "优先级：紧急" in message.body
    assert "须于2026年11月03日 10:00前采取措施" in message.body  # China time
    assert "配合科室：财务科、医务科" in message.body
    assert "改派/委托原因：属护理问题，改派护理部" in message.body


def test_an_urgent_assignment_without_an_action_deadline_asks_for_action_at_once() -> None:
    message = assignment_for_handler(ASSIGNED.model_copy(update={"action_due_at": None}))
    assert message is not None and "立即采取积极措施" in message.body


def test_a_calm_first_assignment_has_no_urgency_no_co_handlers_and_no_reason() -> None:
    calm = ASSIGNED.model_copy(
        update={"priority": "normal", "revision": 1, "co_departments": [], "action_due_at": None}
    )
    message = assignment_for_handler(calm)
    assert message is not None and "【紧急】" not in message.subject
    body = message.body
    assert "优先级：一般" in body
    assert "紧急" not in body and "配合科室" not in body and "改派" not in body


def test_a_high_priority_assignment_is_marked_but_not_urgent() -> None:
    message = assignment_for_handler(ASSIGNED.model_copy(update={"priority": "high"}))
    assert message is not None and "【紧急】" not in message.subject
    assert "优先级：优先" in message.body and "采取措施" not in message.body


def test_a_reassignment_without_a_reason_still_says_it_is_one() -> None:
    message = assignment_for_handler(ASSIGNED.model_copy(update={"reason": None}))
    assert message is not None and "改派/委托原因：重新分派" in message.body


def test_the_handler_is_told_the_new_deadline_of_an_extension() -> None:
    message = extension_for_handler(EXTENDED)
    assert message is not None and message.role is RecipientRole.HANDLER
    assert message.to == HANDLER.email and "延期" in message.subject
    assert "新的答复期限：2026年11月20日 23:59" in message.body
    assert EMAIL not in text_of(message)
    roles = [m.role for m in notices_for(EXTENDED, tracking_url=URL)]
    assert roles == [RecipientRole.COMPLAINANT, RecipientRole.HANDLER]


def test_no_handler_means_no_extension_notice_to_staff() -> None:
    assert extension_for_handler(EXTENDED.model_copy(update={"handler": None})) is None


def test_a_handler_without_an_address_is_still_told_by_other_channels() -> None:
    handler = Person(staff_id="hz-001-finance-9", name="无邮箱")
    message = extension_for_handler(EXTENDED.model_copy(update={"handler": handler}))
    assert message is not None and message.to is None and message.staff_id == handler.staff_id


def test_escalation_goes_to_every_leader_separately() -> None:
    messages = notices_for(ESCALATED, tracking_url=URL)
    # The leader without an e-mail address is told too: the contact book may have an SMS.
    assert [m.to for m in messages] == ["vp@hz1.example.org", "president@hz1.example.org", None]
    assert [m.recipient_key for m in messages] == [leader.staff_id for leader in LEADERS]
    assert all(m.role is RecipientRole.LEADERSHIP for m in messages)
    for message, leader in zip(messages, LEADERS, strict=True):
        assert "督办" in message.subject and CASE_NUMBER in message.subject
        assert message.body.startswith(f"{leader.name}：")
        assert "原因：投诉第2次被申请复核" in message.body and "级别：院领导督办" in message.body


@pytest.mark.parametrize(
    ("level", "role", "label"),
    [
        ("bureau", RecipientRole.SUPERVISOR, "卫健委督办"),
        ("complaint_office", RecipientRole.COMPLAINT_OFFICE, "投诉管理部门督办"),
        ("leadership", RecipientRole.LEADERSHIP, "院领导督办"),
    ],
)
def test_each_escalation_level_reads_as_its_audience(
    level: str, role: RecipientRole, label: str
) -> None:
    [message] = ladder_notices(
        ESCALATED.model_copy(update={"level": level, "recipients": LEADERS[:1]})
    )
    assert message.role is role and f"级别：{label}" in message.body


def test_an_escalation_without_a_case_number_still_reads() -> None:
    [message] = ladder_notices(
        ESCALATED.model_copy(update={"case_number": None, "recipients": LEADERS[:1]})
    )
    assert "（无编号）" in message.subject


def test_nobody_to_tell_means_no_escalation_notice() -> None:
    assert notices_for(ESCALATED.model_copy(update={"recipients": []}), tracking_url=URL) == []


@settings(max_examples=30, deadline=None)
@given(emails)
def test_staff_notices_never_carry_the_complainant_address(email: str) -> None:
    local = email.partition("@")[0]
    for event in (ASSIGNED, EXTENDED):
        with_address = event.model_copy(update={"complainant_email": email})
        for message in notices_for(with_address, tracking_url=URL):
            if message.role is not RecipientRole.COMPLAINANT:
                assert email not in text_of(message) and local not in message.body
                assert TRACKING_CODE not in message.body


# --- every template -----------------------------------------------------------------------


@pytest.mark.parametrize("event", EVERYTHING, ids=lambda e: e.event_type)
def test_every_notice_is_chinese_and_ends_with_a_newline(event: EventPayload) -> None:
    messages = notices_for(event, tracking_url=URL)
    assert messages
    for message in messages:
        assert message.subject.startswith("【回音】")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message.body)
        assert message.body.endswith("\n")
