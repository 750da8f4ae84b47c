"""The regulated outcomes: not-accepted reasons, findings, written replies, satisfaction,
re-review flags, and the request rules that guard them (no servers)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.api.schemas import Closure, ComplaintCreate, FindingRecord
from services.intake.domain.commands import InvalidField, NotAccept, RecordFinding
from services.intake.domain.complaint import Action, Channel
from services.intake.domain.outcomes import (
    NEEDS_REFERRAL,
    WRITTEN_CHANNELS,
    FindingResult,
    LegalChannel,
    NotAcceptedReason,
    ReplyForm,
    Satisfaction,
    flagged_for_leadership,
    reply_form_problem,
)
from services.intake.lifecycle import acceptance, handling
from shared.contracts import ComplaintNotAccepted, LabelledEnum
from tests.unit.intake.factories import ASSIGNMENT, HANDLER, complaint, situation

VOCABULARIES: list[type[LabelledEnum]] = [NotAcceptedReason, FindingResult, ReplyForm, Satisfaction]


@pytest.mark.parametrize("enum", VOCABULARIES, ids=lambda v: v.__name__)
def test_every_outcome_code_has_a_distinct_chinese_label(enum: type[LabelledEnum]) -> None:
    labels = {member: member.label for member in enum}
    assert len(set(labels.values())) == len(labels)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in label) for label in labels.values())


@pytest.mark.parametrize(
    ("reason", "word"),
    [
        # docs/rules.md#acceptance C3: court or mediation, authority or petition, no target
        # or facts, police or criminal, outside remit.
        ("in_court_or_mediation", "法院"),
        ("handled_by_authority_or_petition", "信访"),
        ("no_clear_target_or_facts", "事实"),
        ("police_or_criminal", "公安"),
        ("outside_remit", "职责"),
    ],
)
def test_a_case_not_accepted_tells_the_regulations_reason_in_its_words(
    reason: str, word: str
) -> None:
    command = NotAccept(
        reason=NotAcceptedReason(reason),
        explanation="依规不予受理",
        refer_to="市医保局" if reason in NEEDS_REFERRAL else None,
    )
    change = acceptance.not_accept(situation(complaint(), Action.NOT_ACCEPT), command)
    [told] = change.events  # what the complainant is e-mailed and tracking shows
    assert isinstance(told, ComplaintNotAccepted) and told.reason == reason
    assert word in told.reason_label == change.set["acceptance"]["reason_label"]


@pytest.mark.parametrize(
    ("result", "label"),
    [
        ("substantiated", "属实"),
        ("partly_substantiated", "部分属实"),
        ("unsubstantiated", "不属实"),
    ],
)
def test_a_finding_is_recorded_in_the_regulations_words(result: str, label: str) -> None:
    assigned = complaint(status="assigned", assignment=ASSIGNMENT)
    command = RecordFinding(result=FindingResult(result), summary="经核实")
    change = handling.record_finding(situation(assigned, Action.RECORD_FINDING, HANDLER), command)
    assert change.set["finding"]["result_label"] == label


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("form", list(ReplyForm))
def test_written_complaints_get_written_replies(channel: Channel, form: ReplyForm) -> None:
    problem = reply_form_problem(channel, form)
    must_write = channel in WRITTEN_CHANNELS and form is not ReplyForm.WRITTEN
    assert (problem is not None) is must_write
    if problem:
        assert problem.startswith("form: ")


def test_letters_and_the_web_count_as_written_but_phone_and_visits_do_not() -> None:
    written = {Channel.LETTER, Channel.ANONYMOUS_LETTER, Channel.EMAIL, Channel.WEB}
    assert written <= WRITTEN_CHANNELS
    assert Channel.PHONE not in WRITTEN_CHANNELS and Channel.IN_PERSON not in WRITTEN_CHANNELS


@pytest.mark.parametrize(("count", "flagged"), [(0, False), (1, False), (2, True), (3, True)])
def test_a_complaint_reopened_twice_is_flagged_to_leadership(count: int, flagged: bool) -> None:
    assert flagged_for_leadership(count) is flagged


@pytest.mark.parametrize("reason", list(NotAcceptedReason))
def test_a_referral_is_required_exactly_where_the_complainant_must_go_elsewhere(
    reason: NotAcceptedReason,
) -> None:
    if reason in NEEDS_REFERRAL:
        with pytest.raises(InvalidField, match="refer_to") as refused:
            NotAccept(reason=reason, explanation="依规不予受理")
        assert refused.value.field == "refer_to"
        assert NotAccept(reason=reason, explanation="依规不予受理", refer_to="市场监督管理局")
    else:
        assert NotAccept(reason=reason, explanation="依规不予受理").reason is reason


def test_failed_mediation_must_name_the_legal_channels() -> None:
    with pytest.raises(InvalidField, match="legal_channels"):
        RecordFinding(result=FindingResult.PARTLY, summary="部分属实", mediation_failed=True)
    body = {"actor": "fin-2", "result": "partly_substantiated", "summary": "部分属实"}
    finding = FindingRecord.model_validate(
        body
        | {
            "mediation_failed": True,
            "legal_channels": ["peoples_mediation", "lawsuit"],
            "remedy": {"description": "退还重复收取的CT费", "refund_amount": "368.50"},
        }
    ).to_command()
    assert finding.legal_channels == (LegalChannel.PEOPLES_MEDIATION, LegalChannel.LAWSUIT)
    assert str(finding.remedy.refund_amount) == "368.50"


def test_refunds_are_money_not_floats() -> None:
    base = {"actor": "fin-2", "result": "substantiated", "summary": "属实"}
    with pytest.raises(ValidationError, match="refund_amount"):
        FindingRecord.model_validate(base | {"remedy": {"description": "x", "refund_amount": -1}})
    with pytest.raises(ValidationError, match="refund_amount"):
        FindingRecord.model_validate(
            base | {"remedy": {"description": "x", "refund_amount": "1.005"}}
        )


def test_closure_needs_a_satisfaction_and_a_return_visit_record() -> None:
    with pytest.raises(ValidationError, match="return_visit"):
        Closure.model_validate({"actor": "office-1", "satisfaction": "satisfied"})
    closure = Closure.model_validate(
        {
            "actor": "office-1",
            "satisfaction": "basically_satisfied",
            "return_visit": {"method": "phone", "record": "电话回访，患者表示基本满意"},
        }
    )
    assert closure.satisfaction is Satisfaction.BASICALLY


@pytest.mark.parametrize(
    ("number", "valid"),
    [("11010519491231002X", True), ("110105194912310021", False), ("11010519491231002x", True)],
)
def test_identity_numbers_are_checked_by_their_check_digit(number: str, valid: bool) -> None:
    body = {"channel": "in_person", "content": "投诉", "complainant": {"id_number": number}}
    if valid:
        assert ComplaintCreate.model_validate(body).complainant.id_number == number
    else:
        with pytest.raises(ValidationError, match="id_number"):
            ComplaintCreate.model_validate(body)


def test_acceptance_at_registration_names_who_accepted() -> None:
    accepted = ComplaintCreate.model_validate(
        {"channel": "phone", "content": "投诉", "accepted": True}
    )
    with pytest.raises(InvalidField, match="received_by"):
        accepted.to_command(hospital_id="hz-001")
