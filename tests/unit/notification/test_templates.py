"""The templates (domain/templates.py): one per event and audience, Chinese, each with the
case number, department, deadline, level and link it promises; never the complainant's
identity or words to staff (docs/rules.md#confidentiality Q3, Q6), in any form (e-mail,
robot markdown, SMS values, the facts a hospital system receives); and a hospital's
override checked when it is loaded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notification.domain.messages import Message, RecipientRole
from services.notification.domain.notices import notices_for
from services.notification.domain.staff_notices import ladder_notices
from services.notification.domain.templates import (
    CATALOG,
    SMS_PARAM_CHARS,
    NoticeContext,
    TemplateBook,
    TemplateOverride,
    check_overrides,
    placeholders_in,
)
from shared.contracts import EventPayload, LadderLevel, Person
from tests.support import events as sample
from tests.support.events import CASE_NUMBER, COMPLAINANT_EMAIL, HANDLER, TRACKING_CODE

URL = "https://huiyin.example.org/v1/track/"
LINK = "https://huiyin.example.org/cases/c-0001"
HEAD = Person(staff_id="hz-001-finance-9", name="财务科长", email="head@hz1.example.org")
OFFICE = Person(staff_id="hz-001-complaint_office-1", name="田桂英", email="office@hz1.example.org")
LEADER = sample.LEADER
SUPERVISOR = Person(staff_id="bureau-sup-1", name="周督办", email="sup@bureau.example.org")
STEP = {
    "due_at": sample.DUE,
    "department": "finance",
    "department_label": "财务科",
    "overdue_working_days": 2,
    "round": 0,
}


def every_notice() -> list[Message]:
    """Every template, rendered from a sample event with every fact filled."""
    events: list[EventPayload] = [
        *sample.every_event().values(),
        sample.sla_warning(**STEP, recipients=[HANDLER]),
        sample.overdue(**STEP, recipients=[HANDLER, HEAD]),
        sample.overdue(**STEP, level="acceptance_due", recipients=[OFFICE]),
        sample.escalated(**STEP, level="complaint_office", recipients=[OFFICE]),
        sample.escalated(**STEP, level="leadership", recipients=[LEADER]),
        sample.escalated(**STEP, level="bureau", recipients=[SUPERVISOR]),
    ]
    messages: list[Message] = []
    for event in events:
        try:
            messages += notices_for(event, tracking_url=URL, case_link=LINK, directory=Directory())
        except TypeError:  # an event nobody is told of
            continue
    return messages


class Directory:
    """The contact book's knowledge of roles: HEAD heads finance."""

    def roles_of(self, staff_id: str) -> tuple[str | None, frozenset[str]]:
        if staff_id == HEAD.staff_id:
            return "finance", frozenset({"department_head", "handler"})
        return "finance", frozenset({"handler"})


MESSAGES = every_notice()
STAFF = [m for m in MESSAGES if m.role is not RecipientRole.COMPLAINANT]


def test_every_template_of_the_catalog_is_written_by_some_event() -> None:
    written = {(m.event_type, m.role) for m in MESSAGES}
    assert written == set(CATALOG)


def test_every_template_declares_exactly_the_facts_it_is_given() -> None:
    for message in MESSAGES:
        assert set(message.facts) == CATALOG[(message.event_type, message.role)].placeholders


@pytest.mark.parametrize("message", STAFF, ids=lambda m: f"{m.event_type}/{m.role}")
def test_a_staff_notice_carries_the_case_and_the_link_in_every_form(message: Message) -> None:
    assert CASE_NUMBER in message.subject and CASE_NUMBER in message.body
    assert f"查看案件：{LINK}" in message.body
    assert CASE_NUMBER in message.short and f"[查看案件]({LINK})" in message.short
    assert message.short.startswith("#### 【回音】")
    assert message.sms is not None and message.sms.params["case"] == CASE_NUMBER
    assert all(0 < len(value) <= SMS_PARAM_CHARS for value in message.sms.params.values())
    assert message.staff_id and message.to


@pytest.mark.parametrize(
    "message", [m for m in STAFF if m.level], ids=lambda m: f"{m.event_type}/{m.role}"
)
def test_a_ladder_notice_names_its_level_in_chinese_and_the_deadline(message: Message) -> None:
    label = LadderLevel(message.level).label
    assert label in message.body and label in message.short
    if message.event_type != "complaint.escalation_acknowledged":
        assert "财务科" in message.body and "2026年11月06日 23:59" in message.body
        assert "期限：2026年11月06日 23:59" in message.short


@pytest.mark.parametrize("message", STAFF, ids=lambda m: f"{m.event_type}/{m.role}")
def test_no_staff_notice_carries_the_complainant_in_any_form(message: Message) -> None:
    forms = [
        message.subject,
        message.body,
        message.short,
        *(message.sms.params.values() if message.sms else []),
        *message.facts.values(),
    ]
    text = "\n".join(forms)
    assert COMPLAINANT_EMAIL not in text and "lina" not in text
    assert TRACKING_CODE not in text  # the complainant's credential
    assert sample.received().content not in text


def test_no_staff_template_is_given_a_fact_about_the_complainant() -> None:
    # So no hospital's override can put one in: the placeholders are all it may use.
    about_the_complainant = {
        "tracking_code",
        "tracking_link",
        "reply",
        "missing",
        "explanation",
        "when_we_answer",
    }
    for (_, role), entry in CATALOG.items():
        if role is not RecipientRole.COMPLAINANT:
            assert not entry.placeholders & about_the_complainant


def test_complainant_templates_are_e_mail_only_and_never_link_to_the_case() -> None:
    for message in MESSAGES:
        if message.role is RecipientRole.COMPLAINANT:
            assert message.sms is None and message.short == "" and LINK not in message.body
            assert message.to == COMPLAINANT_EMAIL


def test_every_subject_and_body_is_chinese() -> None:
    for message in MESSAGES:
        assert message.subject.startswith("【回音】")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message.body)
        assert message.body.endswith("\n")


# --- who reads which text of a ladder step ------------------------------------------------


def test_a_department_head_told_of_an_overdue_case_reads_the_heads_text() -> None:
    step = sample.overdue(**STEP, recipients=[HANDLER, HEAD])
    context = NoticeContext(directory=Directory())
    handler, head = ladder_notices(step, context)
    assert (handler.role, head.role) == (RecipientRole.HANDLER, RecipientRole.DEPARTMENT_HEAD)
    assert "您承办的案件已超过期限" in handler.body and "贵科室承办的案件" in head.body
    # Without the contact book's roles, both read the handler's text.
    assert {m.role for m in ladder_notices(step)} == {RecipientRole.HANDLER}


def test_a_head_of_another_department_reads_the_handlers_text() -> None:
    step = sample.overdue(**(STEP | {"department": "nursing"}), recipients=[HEAD])
    [message] = ladder_notices(step, NoticeContext(directory=Directory()))
    assert message.role is RecipientRole.HANDLER


@pytest.mark.parametrize(
    ("level", "role"),
    [
        ("warning", RecipientRole.HANDLER),
        ("acceptance_due", RecipientRole.COMPLAINT_OFFICE),
        ("action_due", RecipientRole.HANDLER),
        ("reply_due", RecipientRole.HANDLER),
    ],
)
def test_each_deadline_level_addresses_its_audience(level: str, role: RecipientRole) -> None:
    factory = sample.sla_warning if level == "warning" else sample.overdue
    [message] = ladder_notices(factory(**STEP, level=level, recipients=[OFFICE]))
    assert message.role is role and message.level == level


def test_each_person_is_told_once_even_if_listed_twice() -> None:
    step = sample.escalated(**STEP, recipients=[LEADER, LEADER])
    assert len(ladder_notices(step)) == 1


def test_an_urgent_step_says_so_and_optional_facts_leave_no_empty_line() -> None:
    urgent = sample.overdue(
        **(STEP | {"overdue_working_days": 0}), urgent=True, recipients=[HANDLER]
    )
    [message] = ladder_notices(urgent)
    assert message.subject.startswith("【回音】【紧急】")
    assert "已超期" not in message.body and "查看案件" not in message.body  # no link given
    assert "：\n" not in message.body.split("\n", 2)[2]  # no "label：" left without a value
    no_deadline = sample.escalated(level="leadership", recipients=[LEADER])  # a twice-reopened case
    [reopened] = ladder_notices(no_deadline)
    assert "期限" not in reopened.body and "原因：投诉第2次被申请复核" in reopened.body


def test_an_acknowledgement_tells_the_handler_what_was_ordered() -> None:
    event = sample.escalation_acknowledged(handler=HANDLER, note="请财务科三日内书面说明")
    [message] = notices_for(event, tracking_url=URL, case_link=LINK)
    assert message.role is RecipientRole.HANDLER and message.to == HANDLER.email
    assert "请财务科三日内书面说明" in message.body and "院领导督办" in message.body
    assert notices_for(event.model_copy(update={"handler": None}), tracking_url=URL) == []


def test_sms_values_are_cut_to_the_providers_limit() -> None:
    long_reason = "原因" * 40
    book = TemplateBook(
        check_overrides(
            {
                "complaint.overdue": {
                    RecipientRole.HANDLER: TemplateOverride.model_validate(
                        {"sms": {"code": "SMS_1", "params": {"why": "{reason}"}}}
                    )
                }
            }
        )
    )
    step = sample.overdue(**STEP, reason=long_reason, recipients=[HANDLER])
    [message] = ladder_notices(step, NoticeContext(templates=book))
    assert message.sms is not None and message.sms.code == "SMS_1"
    assert message.sms.params == {"why": long_reason[:SMS_PARAM_CHARS]}


# --- a hospital's own words ---------------------------------------------------------------


def _override(event_type: str, role: RecipientRole, **forms: object) -> TemplateBook:
    override = TemplateOverride.model_validate(forms)
    return TemplateBook(check_overrides({event_type: {role: override}}))


def test_an_override_replaces_only_the_forms_it_gives() -> None:
    book = _override(
        "complaint.escalated",
        RecipientRole.LEADERSHIP,
        subject="{urgent}院领导督办 {case_number}",
        short="**{level}** {case_number} [办理]({link})",
    )
    step = sample.escalated(**STEP, recipients=[LEADER])
    [message] = ladder_notices(step, NoticeContext(templates=book, case_link=LINK))
    assert message.subject == f"【回音】院领导督办 {CASE_NUMBER}"
    assert message.short == f"**院领导督办** {CASE_NUMBER} [办理]({LINK})"
    [default] = ladder_notices(step, NoticeContext(case_link=LINK))
    assert message.body == default.body and message.sms == default.sms


@pytest.mark.parametrize(
    ("forms", "complaint"),
    [
        ({"subject": "{complainant_name} 投诉"}, "unknown placeholder"),
        ({"body": "{tracking_code}"}, "unknown placeholder"),
        ({"body": "{case_number.__class__}"}, "not a plain placeholder"),
        ({"body": "{0}"}, "not a plain placeholder"),
        ({"body": "{case_number!r}"}, "not a plain placeholder"),
        ({"body": "{due_at:>20}"}, "not a plain placeholder"),
        ({"body": "案件 {case_number"}, "expected '}'"),
        ({"sms": {"code": "SMS_1", "params": {"x": "{phone}"}}}, "sms.params.x: unknown"),
    ],
)
def test_an_override_using_what_its_template_does_not_know_is_refused(
    forms: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        _override("complaint.overdue", RecipientRole.HANDLER, **forms)


def test_an_override_of_a_template_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="no such template"):
        _override("complaint.received", RecipientRole.HANDLER, subject="x")
    with pytest.raises(ValueError, match="no such template"):
        _override("complaint.sla_warning", RecipientRole.LEADERSHIP, subject="x")


def test_the_complainant_cannot_be_given_a_robot_or_sms_form() -> None:
    with pytest.raises(ValueError, match="e-mail only"):
        _override("complaint.replied", RecipientRole.COMPLAINANT, short="{reply}")


def test_placeholders_are_read_as_plain_names() -> None:
    assert placeholders_in("案件 {case_number}（{level}）{{字面}}") == {"case_number", "level"}


def test_a_deadline_counted_from_a_far_day_still_reads_in_china_time() -> None:
    late = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 January in China
    [message] = ladder_notices(
        sample.sla_warning(**(STEP | {"due_at": late + timedelta(0)}), recipients=[HANDLER])
    )
    assert "2027年01月01日 00:30" in message.body
