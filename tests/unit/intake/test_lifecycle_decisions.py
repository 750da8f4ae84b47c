"""Every lifecycle command's decide function, without servers: a stored complaint and a
command in, the change (fields, timeline entries, events) or the refusal out."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.intake.domain import commands, outcomes
from services.intake.domain.commands import InvalidField, NotReady
from services.intake.domain.complaint import Action, Channel
from services.intake.lifecycle import acceptance, closure, handling
from services.intake.lifecycle.runner import DECISIONS
from tests.unit.intake.factories import (
    ASSIGNMENT,
    HANDLER,
    LEADER,
    NOW,
    NURSE,
    OFFICE,
    RECEIVED,
    complaint,
    situation,
)

EMAIL = "li.na@example.org"


def test_every_action_a_person_takes_has_one_decide_function_for_its_command() -> None:
    assert set(DECISIONS) == set(Action) - {Action.ASSIGN}
    for action, decide in DECISIONS.items():
        command = inspect.signature(decide, eval_str=True).parameters["command"].annotation
        assert command.action is action, decide.__name__


# --- acceptance review -------------------------------------------------------------------


def test_accepting_ends_the_first_receivers_accountability() -> None:
    change = acceptance.accept(situation(complaint(), Action.ACCEPT), commands.Accept(note="受理"))
    assert change.set["acceptance"] == {
        "decision": "accepted",
        "at": NOW,
        "by": OFFICE.staff_id,
        "note": "受理",
    }
    assert change.set["first_receiver.accountable"] is None
    assert "status" not in change.set  # the state machine's: accepted
    assert [(e.type, e.by) for e in change.entries] == [("accepted", OFFICE.staff_id)]
    [event] = change.events
    assert event.event_type == "complaint.accepted" and event.by == OFFICE.staff_id


def test_accepting_a_case_routing_already_decided_assigns_it_and_sends_the_receipt() -> None:
    waiting = complaint(assignment=ASSIGNMENT)
    change = acceptance.accept(situation(waiting, Action.ACCEPT), commands.Accept())
    assert change.set["status"] == "assigned" and change.set["receipt_sent"] is True
    accepted, assigned = change.events
    assert [e.event_type for e in change.events] == ["complaint.accepted", "complaint.assigned"]
    assert assigned.complainant_email == EMAIL and assigned.department == "finance"


def test_the_receipt_goes_with_the_first_assignment_only() -> None:
    again = complaint(assignment=ASSIGNMENT, receipt_sent=True)
    change = acceptance.accept(situation(again, Action.ACCEPT), commands.Accept())
    assert change.events[1].complainant_email is None


def test_a_supplement_request_writes_to_the_complainant_unless_anonymous() -> None:
    command = commands.RequestSupplement(missing="门诊病历复印件")
    named = acceptance.request_supplement(
        situation(complaint(), Action.REQUEST_SUPPLEMENT), command
    )
    assert named.set["supplement"]["missing"] == "门诊病历复印件"
    [event] = named.events
    assert event.event_type == "complaint.supplement_requested" and event.complainant_email == EMAIL
    hidden = complaint(anonymous=True, complainant=None)
    anonymous = acceptance.request_supplement(situation(hidden, Action.REQUEST_SUPPLEMENT), command)
    assert anonymous.events[0].complainant_email is None


@pytest.mark.parametrize(
    "arrived", [RECEIVED - timedelta(days=1), NOW + timedelta(hours=1)], ids=["early", "future"]
)
def test_a_supplement_dated_before_the_complaint_or_in_the_future_is_refused(
    arrived: datetime,
) -> None:
    asked = complaint(status="needs_supplement")
    with pytest.raises(InvalidField) as refused:
        acceptance.supplement(
            situation(asked, Action.SUPPLEMENT), commands.Supplement(received_at=arrived)
        )
    assert refused.value.field == "received_at"


def test_a_supplement_accepts_the_case_from_the_day_it_arrived() -> None:
    arrived = NOW - timedelta(days=1)
    asked = complaint(status="needs_supplement")
    change = acceptance.supplement(
        situation(asked, Action.SUPPLEMENT),
        commands.Supplement(content="病历复印件已补交", received_at=arrived),
    )
    assert change.set["supplement.supplied_at"] == arrived
    assert change.set["acceptance"]["note"] == "材料补齐后受理"
    assert [e.type for e in change.entries] == ["supplemented", "accepted"]
    supplemented, accepted = change.events
    assert supplemented.event_type == "complaint.supplemented" and supplemented.at == arrived
    assert accepted.event_type == "complaint.accepted" and accepted.at == NOW


def test_not_accepting_records_the_regulations_reason_and_tells_the_complainant() -> None:
    command = commands.NotAccept(
        reason=outcomes.NotAcceptedReason.OUTSIDE_REMIT,
        explanation="不属于本院职责",
        refer_to="医保局",
    )
    change = acceptance.not_accept(situation(complaint(), Action.NOT_ACCEPT), command)
    assert change.set["acceptance"]["reason_label"] == "不属于本院职责范围"
    assert change.set["acceptance"]["refer_to"] == "医保局"
    [event] = change.events
    assert event.event_type == "complaint.not_accepted" and event.complainant_email == EMAIL


def test_transfer_on_spot_and_hand_over_settle_the_first_receivers_accountability() -> None:
    stored = complaint()
    moved = acceptance.transfer(
        situation(stored, Action.TRANSFER), commands.Transfer(to_body="市医保局")
    )
    assert moved.set["first_receiver.accountable"] is None
    assert moved.set["transfer"]["to_body"] == "市医保局"
    settled = acceptance.resolve_on_spot(
        situation(stored, Action.RESOLVE_ON_SPOT, NURSE),
        commands.ResolveOnSpot(outcome="当场退费，患者满意"),
    )
    assert settled.set["on_spot"]["by"] == NURSE.staff_id
    handed = acceptance.hand_over(
        situation(stored, Action.HAND_OVER, NURSE), commands.HandOver(to=OFFICE.staff_id)
    )
    assert handed.set == {"first_receiver.accountable": OFFICE.staff_id}
    assert handed.events == []


# --- handling ----------------------------------------------------------------------------


def test_rerouting_to_the_same_department_is_refused() -> None:
    assigned = complaint(status="assigned", assignment=ASSIGNMENT)
    with pytest.raises(NotReady, match="already with finance"):
        handling.reroute(
            situation(assigned, Action.REROUTE),
            commands.Reroute(department="finance", reason="x"),
        )
    change = handling.reroute(
        situation(assigned, Action.REROUTE),
        commands.Reroute(department="nursing", reason="护理问题"),
    )
    [event] = change.events
    assert event.event_type == "complaint.reroute_requested" and event.department == "nursing"
    assert event.content == "出院结算时重复收取CT检查费。 退还多收的费用"
    assert change.entries[0].data == {"from": "finance", "to": "nursing"}


def test_a_note_counts_and_names_the_writers_department() -> None:
    assigned = complaint(status="assigned", assignment=ASSIGNMENT)
    change = handling.record_note(
        situation(assigned, Action.RECORD_NOTE, HANDLER),
        commands.RecordNote(content="已调取收费记录"),
    )
    assert change.inc == {"notes_count": 1}
    assert change.entries[0].data == {"department": "finance"}


def test_a_finding_keeps_money_as_text_and_the_round_it_belongs_to() -> None:
    reopened = complaint(status="reopened", assignment=ASSIGNMENT, reopen_count=1)
    command = commands.RecordFinding(
        result=outcomes.FindingResult.PARTLY,
        summary="部分属实",
        responsible_staff=("hz-001-finance-9",),
        remedy=commands.Remedy(description="退还CT费", refund_amount=Decimal("368.50")),
        mediation_failed=True,
        legal_channels=(outcomes.LegalChannel.PEOPLES_MEDIATION,),
    )
    change = handling.record_finding(situation(reopened, Action.RECORD_FINDING, HANDLER), command)
    finding = change.set["finding"]
    assert finding["remedy"] == {
        "description": "退还CT费",
        "refund_amount": "368.50",
        "travel_cost_amount": None,
    }
    assert finding["round"] == 1 and finding["result_label"] == "部分属实"
    assert finding["legal_channels"] == ["peoples_mediation"]
    assert change.entries[0].data["responsible_staff"] == ["hz-001-finance-9"]


def _found(round_: int = 0, **fields: Any) -> dict[str, Any]:
    """A case with this round's finding (`round_`), in progress unless `fields` say."""
    finding = {"result": "substantiated", "round": round_}
    return complaint(
        **({"status": "in_progress", "assignment": ASSIGNMENT, "finding": finding} | fields)
    )


def test_a_reply_needs_this_rounds_finding() -> None:
    command = commands.Reply(content="经核实，已退费。")
    with pytest.raises(NotReady, match="record_finding"):
        handling.reply(situation(complaint(status="in_progress"), Action.REPLY), command)
    earlier = _found(round_=0, reopen_count=1, status="reopened")
    with pytest.raises(NotReady):
        handling.reply(situation(earlier, Action.REPLY), command)


@pytest.mark.parametrize(
    ("channel", "form", "stored"),
    [
        (Channel.LETTER, None, "written"),
        (Channel.PHONE, None, "phone"),
        (Channel.PHONE, outcomes.ReplyForm.IN_PERSON, "in_person"),
        (Channel.LETTER, outcomes.ReplyForm.PHONE, None),
    ],
)
def test_a_written_complaint_gets_a_written_reply(
    channel: Channel, form: outcomes.ReplyForm | None, stored: str | None
) -> None:
    case = _found(channel=channel.value)
    command = commands.Reply(content="经核实，已退费。", form=form)
    if stored is None:
        with pytest.raises(InvalidField) as refused:
            handling.reply(situation(case, Action.REPLY, HANDLER), command)
        assert refused.value.field == "form"
        return
    change = handling.reply(situation(case, Action.REPLY, HANDLER), command)
    assert change.set["reply"]["form"] == stored
    [event] = change.events
    assert event.event_type == "complaint.replied"
    assert event.response_seconds == (NOW - RECEIVED).total_seconds()
    assert event.complainant_email == EMAIL and event.round == 0


def test_one_extension_request_waits_at_a_time_and_leadership_decides_it() -> None:
    assigned = complaint(status="assigned", assignment=ASSIGNMENT)
    request = commands.RequestExtension(working_days=10, reason="需要院外会诊")
    asked = handling.request_extension(
        situation(assigned, Action.REQUEST_EXTENSION, HANDLER), request
    )
    pending = asked.set["extension.pending"]
    assert pending["working_days"] == 10 and pending["requested_by"] == HANDLER.staff_id
    waiting = complaint(status="assigned", assignment=ASSIGNMENT, extension={"pending": pending})
    with pytest.raises(NotReady, match="already waiting"):
        handling.request_extension(situation(waiting, Action.REQUEST_EXTENSION, HANDLER), request)
    with pytest.raises(NotReady, match="no request"):
        handling.decide_extension(
            situation(assigned, Action.DECIDE_EXTENSION, LEADER),
            commands.DecideExtension(approve=True),
        )
    approved = handling.decide_extension(
        situation(waiting, Action.DECIDE_EXTENSION, LEADER), commands.DecideExtension(approve=True)
    )
    assert approved.set["extension.awaiting_deadline"] is True and approved.inc == {"extensions": 1}
    assert approved.push["extension_history"]["approved"] is True
    [event] = approved.events
    assert event.event_type == "complaint.extension_approved" and event.working_days == 10
    refused = handling.decide_extension(
        situation(waiting, Action.DECIDE_EXTENSION, LEADER), commands.DecideExtension(approve=False)
    )
    assert refused.events == [] and refused.inc == {}
    assert [e.type for e in refused.entries] == ["extension_refused"]


# --- after the reply ---------------------------------------------------------------------


def test_closing_records_the_return_visit_and_satisfaction() -> None:
    replied = _found(status="replied")
    visit = commands.ReturnVisit(method=outcomes.VisitMethod.PHONE, record="电话回访，患者满意")
    change = closure.close(
        situation(replied, Action.CLOSE),
        commands.Close(satisfaction=outcomes.Satisfaction.SATISFIED, return_visit=visit),
    )
    closed = change.set["closure"]
    assert closed["return_visit"] == {"method": "phone", "at": NOW, "record": "电话回访，患者满意"}
    assert closed["satisfaction_label"] == "满意" and closed["closed_by"] == OFFICE.staff_id
    [event] = change.events
    assert event.event_type == "complaint.closed"
    assert (event.finding, event.category, event.department) == (
        "substantiated",
        "billing",
        "finance",
    )


def test_a_return_visit_before_the_complaint_is_refused() -> None:
    visit = commands.ReturnVisit(
        method=outcomes.VisitMethod.PHONE, record="回访", at=RECEIVED - timedelta(days=1)
    )
    with pytest.raises(InvalidField) as refused:
        closure.close(
            situation(_found(status="replied"), Action.CLOSE),
            commands.Close(satisfaction=outcomes.Satisfaction.SATISFIED, return_visit=visit),
        )
    assert refused.value.field == "return_visit.at"


@pytest.mark.parametrize(("before", "flagged"), [(0, False), (1, True)])
def test_a_dispute_reopens_and_the_second_goes_to_leadership(before: int, flagged: bool) -> None:
    replied = _found(status="replied", reopen_count=before)
    change = closure.dispute(situation(replied, Action.DISPUTE), commands.Dispute(reason="不认可"))
    assert change.set["reopen_count"] == before + 1 and change.set["flagged"] is flagged
    [event] = change.events
    assert event.event_type == "complaint.reopened" and event.flagged is flagged
    assert event.department == "finance"
