"""The Chinese templates: what the handler and the complainant are told, in China time,
and what each must never learn (docs/rules.md#confidentiality: the complainant's identity
is confidential; anonymous wishes are respected)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.numbering import TRACKING_ALPHABET
from services.notification.domain.complainant_notices import (
    receipt_for_complainant,
    reply_for_complainant,
)
from services.notification.domain.messages import RecipientRole, mask_address
from services.notification.domain.notices import notices_for
from services.notification.domain.staff_notices import assignment_for_handler
from services.notification.domain.templates import NoticeContext
from shared.contracts import EVENT_TYPES, EventPayload, Person
from tests.support import events as sample
from tests.support.events import NURSING, every_event
from tests.unit.notification.fakes import emails, text_of

COMPLAINANT_EMAIL = "zhang.wei.1987@patients.example.org"
HANDLER = Person(staff_id="hz-001-nursing-3", name="孙护士长", email="nursing.3@hz1.example.org")
TRACKING_URL = "https://huiyin.example.org/v1/track/"
CONTEXT = NoticeContext(tracking_url=TRACKING_URL)

ASSIGNED = sample.assigned(
    **NURSING,
    handler=HANDLER,
    # 17:00Z on 31 January is 01:00 on 1 February in China.
    received_at=datetime(2026, 1, 31, 17, 0, tzinfo=UTC),
    due_at=datetime(2026, 2, 6, 15, 59, 59, tzinfo=UTC),
    complainant_email=COMPLAINANT_EMAIL,
)
REPLIED = sample.replied(
    replied_by=HANDLER.staff_id,
    reply="经调查核实，已对相关护士进行培训，感谢您的监督。",
    complainant_email=COMPLAINANT_EMAIL,
)


# --- the handler's assignment -------------------------------------------------------------


def test_the_handler_is_told_the_case_in_china_time() -> None:
    message = assignment_for_handler(ASSIGNED)
    assert message is not None
    assert message.role is RecipientRole.HANDLER
    assert message.to == "nursing.3@hz1.example.org"
    assert message.subject.startswith("【回音】") and ASSIGNED.case_number in message.subject
    body = message.body
    assert body.startswith("孙护士长：")
    for fact in (ASSIGNED.case_number, "护理部", "护理", "登录回音平台查阅"):
        assert fact in body
    assert "登记时间：2026年02月01日 01:00" in body  # not 31 January
    assert "答复期限：2026年02月06日 23:59" in body
    assert "保密" in body  # the confidentiality reminder


def test_the_handler_never_learns_who_complained() -> None:
    message = assignment_for_handler(ASSIGNED)
    assert message is not None
    text = text_of(message)
    assert COMPLAINANT_EMAIL not in text
    assert "zhang.wei" not in text and "patients.example.org" not in text
    # The tracking code is the complainant's credential for the case, not the staff's.
    assert ASSIGNED.tracking_code not in text


@settings(max_examples=30, deadline=None)
@given(emails)
def test_no_complainant_address_ever_reaches_the_handler(email: str) -> None:
    message = assignment_for_handler(ASSIGNED.model_copy(update={"complainant_email": email}))
    assert message is not None
    local = email.partition("@")[0]
    assert email not in text_of(message) and local not in message.body
    assert message.to == HANDLER.email


def test_the_handler_mail_is_the_same_whether_or_not_the_complainant_is_anonymous() -> None:
    named = assignment_for_handler(ASSIGNED)
    anonymous = assignment_for_handler(ASSIGNED.model_copy(update={"complainant_email": None}))
    assert named == anonymous


def test_no_handler_means_no_handler_notice() -> None:
    assert assignment_for_handler(ASSIGNED.model_copy(update={"handler": None})) is None


def test_a_handler_without_an_address_is_told_by_other_channels_only() -> None:
    # The contact book may reach them by SMS or a group; the e-mail channel has no address.
    handler = Person(staff_id="hz-001-nursing-9", name="无邮箱")
    message = assignment_for_handler(ASSIGNED.model_copy(update={"handler": handler}))
    assert message is not None and message.to is None and message.staff_id == handler.staff_id


# --- the complainant's receipt ------------------------------------------------------------


def test_the_receipt_carries_the_tracking_code_and_its_link() -> None:
    message = receipt_for_complainant(ASSIGNED, CONTEXT)
    assert message is not None
    assert message.role is RecipientRole.COMPLAINANT
    assert message.to == COMPLAINANT_EMAIL
    assert ASSIGNED.case_number in message.subject
    assert f"查询码：{ASSIGNED.tracking_code}" in message.body
    assert f"{TRACKING_URL}{ASSIGNED.tracking_code}" in message.body
    assert "2026年02月01日 01:00" in message.body  # registered, in China time
    assert "2026年02月06日 23:59" in message.body  # promised reply


def test_the_receipt_names_no_staff_member() -> None:
    message = receipt_for_complainant(ASSIGNED, CONTEXT)
    assert message is not None
    text = text_of(message)
    assert HANDLER.name not in text and HANDLER.staff_id not in text
    assert str(HANDLER.email) not in text and "hz1.example.org" not in text


def test_an_anonymous_complainant_gets_no_receipt() -> None:
    anonymous = ASSIGNED.model_copy(update={"complainant_email": None})
    assert receipt_for_complainant(anonymous, CONTEXT) is None


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(TRACKING_ALPHABET), min_size=12, max_size=12).map("".join))
def test_every_receipt_carries_its_own_tracking_code(raw: str) -> None:
    code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    message = receipt_for_complainant(ASSIGNED.model_copy(update={"tracking_code": code}), CONTEXT)
    assert message is not None and message.body.count(code) == 2


# --- the reply ----------------------------------------------------------------------------


def test_the_reply_carries_the_answer_and_how_to_dispute_it() -> None:
    message = reply_for_complainant(REPLIED)
    assert message is not None
    assert message.role is RecipientRole.COMPLAINANT and message.to == COMPLAINANT_EMAIL
    assert REPLIED.case_number in message.subject
    assert REPLIED.reply in message.body
    assert REPLIED.tracking_code in message.body and "复核" in message.body
    assert REPLIED.replied_by not in text_of(message)


def test_an_anonymous_complainant_gets_no_reply_mail() -> None:
    assert reply_for_complainant(REPLIED.model_copy(update={"complainant_email": None})) is None


def test_every_template_is_chinese() -> None:
    messages = [
        assignment_for_handler(ASSIGNED),
        receipt_for_complainant(ASSIGNED, CONTEXT),
        reply_for_complainant(REPLIED),
    ]
    for message in messages:
        assert message is not None
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message.subject)
        assert message.body.endswith("\n")


# --- masking addresses for delivery logs --------------------------------------------------


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("lina@patients.example.org", "l***@patients.example.org"),
        ("z@example.org", "z***@example.org"),
        ("李娜@例子.中国", "李***@例子.中国"),
        ("@example.org", "***@example.org"),
        ("broken", "***"),
        ("", "***"),
        ("trailing@", "***"),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


@settings(max_examples=30, deadline=None)
@given(emails)
def test_a_masked_address_keeps_the_domain_and_one_letter(address: str) -> None:
    local, _, domain = address.partition("@")
    masked = mask_address(address)
    assert masked == f"{local[0]}***@{domain}"
    assert local[1:] not in masked.partition("@")[0]


# --- the complainant's address on the bus -------------------------------------------------


def _written_to_complainant(event: EventPayload) -> bool:
    try:
        messages = notices_for(event, tracking_url=TRACKING_URL)
    except TypeError:  # an event notification is not told of
        return False
    return any(m.role is RecipientRole.COMPLAINANT for m in messages)


def test_the_complainants_address_travels_only_where_notification_writes_to_them() -> None:
    # docs/rules.md#confidentiality: an event carries the address exactly when the
    # complainant is written to about it; each sample carries one where it can.
    carriers = {n for n, model in EVENT_TYPES.items() if "complainant_email" in model.model_fields}
    written = {name for name, event in every_event().items() if _written_to_complainant(event)}
    assert carriers == written


@pytest.mark.parametrize(
    "name", sorted(n for n, m in EVENT_TYPES.items() if "complainant_email" in m.model_fields)
)
def test_without_the_address_the_complainant_is_not_written_to(name: str) -> None:
    # Intake leaves it out for an anonymous or unreachable complainant.
    unreachable = every_event()[name].model_copy(update={"complainant_email": None})
    assert not _written_to_complainant(unreachable)
