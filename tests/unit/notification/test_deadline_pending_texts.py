"""A case whose deadline waits for next year's holiday notice (issue 9, finding 5): the
handler is told the case is theirs now and the deadline follows; the complainant's receipt
says the same; neither shows a date that could be wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.notification.domain.complainant_notices import receipt_for_complainant
from services.notification.domain.notices import notices_for
from services.notification.domain.staff_notices import assignment_for_handler
from services.notification.domain.templates import NoticeContext
from shared.contracts import ComplaintAssigned, Person
from tests.support import events as sample
from tests.support.events import NURSING

WAITING = sample.assigned(
    **NURSING,
    handler=Person(staff_id="hz-001-nursing-1", name="王芳", email="nursing.1@hz1.example.org"),
    received_at=datetime(2026, 12, 20, 2, tzinfo=UTC),
    due_at=None,
    deadline_pending_year=2027,
    complainant_email="lina@patients.example.org",
)
WAITS = "办理时限待2027年法定节假日安排载入后确定"


def test_the_handler_is_told_the_case_is_theirs_and_the_deadline_follows() -> None:
    message = assignment_for_handler(WAITING)
    assert message is not None and "新投诉待处理" in message.subject
    assert f"答复期限：{WAITS}（案件已分派，请即着手办理）" in message.body
    assert "2027年01月" not in message.body and "lina" not in message.body


def test_the_receipt_says_the_deadline_follows_and_how_to_see_it() -> None:
    message = receipt_for_complainant(
        WAITING, NoticeContext(tracking_url="https://huiyin.example.org/t/")
    )
    assert message is not None and WAITS in message.body
    assert "查询码：ABCD-EFGH-JKLM" in message.body and "前答复您" not in message.body


def test_a_dated_assignment_reads_as_before() -> None:
    dated = WAITING.model_copy(
        update={
            "due_at": datetime(2027, 1, 12, 15, 59, 59, tzinfo=UTC),
            "deadline_pending_year": None,
        }
    )
    handler = assignment_for_handler(dated)
    receipt = receipt_for_complainant(
        dated, NoticeContext(tracking_url="https://huiyin.example.org/t/")
    )
    assert handler is not None and "答复期限：2027年01月12日 23:59" in handler.body
    assert receipt is not None and "我们将在2027年01月12日 23:59前答复您" in receipt.body


def test_an_assignment_has_a_date_or_the_year_it_waits_for() -> None:
    fields = WAITING.model_dump() | {"deadline_pending_year": None}
    with pytest.raises(ValidationError, match="due_at"):
        ComplaintAssigned.model_validate(fields)


def test_when_the_year_is_loaded_handler_and_complainant_learn_the_date() -> None:
    """complaint.deadline_set: the date the earlier notices said would follow."""
    dated = sample.deadline_set(
        at=datetime(2027, 1, 5, 2, tzinfo=UTC),
        due_at=datetime(2027, 1, 12, 15, 59, 59, tzinfo=UTC),
        handler=WAITING.handler,
        complainant_email="lina@patients.example.org",
    )
    messages = notices_for(dated, tracking_url="https://huiyin.example.org/t/")
    by_role = {message.role.value: message for message in messages}
    assert set(by_role) == {"handler", "complainant"}
    for message in messages:
        assert "2027年01月12日" in message.body and dated.case_number in message.subject
    assert "lina" not in by_role["handler"].body  # never the complainant to staff
    assert "王芳" not in by_role["complainant"].body  # never staff names to the complainant
    assert "ABCD-EFGH-JKLM" in by_role["complainant"].body
    anonymous = dated.model_copy(update={"complainant_email": None, "handler": None})
    assert notices_for(anonymous, tracking_url="https://huiyin.example.org/t/") == []
