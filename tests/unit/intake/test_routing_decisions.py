"""Applying routing's decisions without servers (services/intake/routing_decisions.py):
the newest decision assigns an accepted case, an older one arriving late changes nothing,
and a moved deadline is told to whoever was told it waits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.intake.api.schemas import Assignment
from services.intake.events import assigned_event
from services.intake.routing_decisions import (
    RoutingNotApplied,
    deadline_change,
    routed_change,
)
from shared.contracts import (
    AssignedWork,
    ComplaintRouted,
    DeadlineChanged,
    DepartmentRef,
    Envelope,
    Priority,
    RoutingDecision,
)
from tests.support import events as sample
from tests.unit.intake.factories import ASSIGNMENT, HANDLER, IDENTITY, LEADER, NOW, complaint

DUE = NOW + timedelta(days=21)


def decision(revision: int = 1, **fields: Any) -> ComplaintRouted:
    handler = {"staff_id": HANDLER.staff_id, "name": HANDLER.name}
    given = {"revision": revision, "handler": handler, "working_days": 15, "due_at": DUE}
    return sample.routed(**(given | fields))


def sent(event: Any, at: Any = NOW) -> Envelope:
    return event.envelope(hospital_id="hz-001", complaint_id="c-0001", occurred_at=at)


def test_an_accepted_case_is_assigned_and_the_complainant_gets_the_receipt() -> None:
    routed = decision()
    change = routed_change(
        complaint(status="accepted"), sent(routed), routed, identity=IDENTITY, now=NOW
    )
    assert change.set["status"] == "assigned" and change.set["receipt_sent"] is True
    assert change.set["assignment"]["handler"] == {
        "staff_id": HANDLER.staff_id,
        "name": "王会计",
        "email": None,
    }
    [event] = change.events
    assert event.event_type == "complaint.assigned"
    assert event.complainant_email == "li.na@example.org"
    assert [(e.type, e.by) for e in change.entries] == [("assigned", "routing")]


def test_the_whole_decision_is_kept_shown_and_its_handlers_part_announced() -> None:
    # One model of the decision (shared/contracts RoutingDecision): what routing decided is
    # what the complaint keeps, what the API shows (the handler without their address) and,
    # for the handler's part (AssignedWork), what complaint.assigned tells.
    routed = decision(
        revision=2,
        reason="改派",
        matched_keywords=["收费"],
        co_departments=[DepartmentRef(code="insurance_office", label="医保办")],
        recused=["hz-001-finance-9"],
        priority=Priority.URGENT,
        case_type="multi_department",
        counting_day=NOW.date(),
        acceptance_due_at=NOW + timedelta(days=7),
        action_due_at=NOW + timedelta(hours=24),
    )
    change = routed_change(
        complaint(status="accepted"), sent(routed), routed, identity=IDENTITY, now=NOW
    )
    decided = routed.model_dump(include=set(RoutingDecision.model_fields), exclude={"handler"})
    shown = Assignment.model_validate(change.set["assignment"])
    assert shown.model_dump(exclude={"handler"}) == decided
    assert shown.handler is not None and shown.handler.model_dump() == {
        "staff_id": HANDLER.staff_id,
        "name": HANDLER.name,
    }
    [event] = change.events
    work = set(AssignedWork.model_fields)
    assert event.model_dump(include=work) == routed.model_dump(include=work)


def test_a_case_under_acceptance_review_keeps_the_decision_for_later() -> None:
    routed = decision()
    change = routed_change(complaint(), sent(routed), routed, identity=IDENTITY, now=NOW)
    assert change.set["status"] == "received" and change.events == []
    assert change.set["assignment"]["department"] == "finance"


def test_an_older_decision_arriving_late_changes_nothing() -> None:
    newer = complaint(status="assigned", assignment=ASSIGNMENT | {"revision": 2})
    routed = decision(revision=2)
    assert routed_change(newer, sent(routed), routed, identity=IDENTITY, now=NOW).set == {}


def test_a_deadline_set_after_the_decision_was_made_is_not_undone_by_it() -> None:
    later = NOW + timedelta(minutes=1)
    kept = ASSIGNMENT | {"due_at": DUE + timedelta(days=5), "deadline_changed_at": later}
    routed = decision(revision=2)
    change = routed_change(
        complaint(status="assigned", assignment=kept),
        sent(routed),
        routed,
        identity=IDENTITY,
        now=NOW,
    )
    assert change.set["assignment"]["due_at"] == DUE + timedelta(days=5)
    assert [e.type for e in change.entries] == ["reassigned"]


def test_a_decision_waiting_for_the_calendar_says_so_in_the_timeline() -> None:
    routed = decision(due_at=None, deadline_pending_year=2027)
    change = routed_change(
        complaint(status="accepted"), sent(routed), routed, identity=IDENTITY, now=NOW
    )
    assert change.entries[0].note is not None and "2027年" in change.entries[0].note


def moved(**fields: Any) -> DeadlineChanged:
    given: dict[str, Any] = {"due_at": DUE, "working_days": 15, "reason": "延期获批"}
    return sample.deadline_changed(**(given | fields))


def test_a_deadline_before_its_decision_is_retried() -> None:
    change = moved()
    with pytest.raises(RoutingNotApplied):
        deadline_change(complaint(), sent(change), change, identity=IDENTITY, now=NOW)


def test_an_older_deadline_arriving_after_a_newer_one_changes_nothing() -> None:
    stored = complaint(status="assigned", assignment=ASSIGNMENT | {"deadline_changed_at": NOW})
    change = moved()
    stale = deadline_change(
        stored, sent(change, NOW - timedelta(seconds=1)), change, identity=IDENTITY, now=NOW
    )
    assert stale.set == {} and stale.entries == []


def test_an_approved_extension_is_told_once_its_date_is_known() -> None:
    extension = {"awaiting_deadline": True, "reason": "需要会诊", "approved_by": LEADER.staff_id}
    stored = complaint(status="assigned", assignment=ASSIGNMENT, extension=extension)
    change = moved()
    applied = deadline_change(stored, sent(change), change, identity=IDENTITY, now=NOW)
    assert applied.set["assignment.due_at"] == DUE
    assert applied.set["extension.awaiting_deadline"] is False
    [event] = applied.events
    assert event.event_type == "complaint.extended" and event.by == LEADER.staff_id
    assert event.reason == "需要会诊" and event.handler is not None


@pytest.mark.parametrize(("receipt_sent", "told"), [(True, True), (False, False)])
def test_a_deadline_that_waited_for_the_calendar_is_told_when_it_is_a_date(
    receipt_sent: bool, told: bool
) -> None:
    waiting = ASSIGNMENT | {"due_at": None, "deadline_pending_year": 2027}
    stored = complaint(status="assigned", assignment=waiting, receipt_sent=receipt_sent)
    change = moved(reason="2027年日历已载入")
    applied = deadline_change(stored, sent(change), change, identity=IDENTITY, now=NOW)
    assert [e.event_type for e in applied.events] == (["complaint.deadline_set"] if told else [])


def test_no_text_the_complainant_wrote_reaches_the_handler() -> None:
    """Identity can be typed into free text (content, demand, the office's summary of
    them): the handler's event carries the case's facts only (docs/rules.md
    #confidentiality Q6), the same rule as the dispute text at escalation."""
    written = "我叫张伟，电话13912345678，住在西湖区文三路88号。"
    stored = complaint(content=written, demand=written, summary=written)
    event, _ = assigned_event(stored, IDENTITY, ASSIGNMENT)
    sent = event.model_dump_json()
    for fragment in ("张伟", "13912345678", "文三路"):
        assert fragment not in sent
