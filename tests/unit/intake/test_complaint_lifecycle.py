"""The complaint lifecycle: the journeys a case takes through it, what it refuses and
why, properties that hold on any walk, the vocabulary's codes and Chinese labels, and who
may be contacted."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.api.presentation import receipt
from services.intake.api.schemas import ComplaintCreate
from services.intake.domain.complaint import (
    TRANSITIONS,
    Action,
    Channel,
    ComplaintStatus,
    IllegalTransition,
    Kind,
    PatientRelation,
    allowed_actions,
    is_contactable,
    next_status,
)
from shared.contracts import LabelledEnum

S, A = ComplaintStatus, Action
# Where the case leaves the hospital's process for good (不予受理, 当场解决, 转办).
TERMINAL = frozenset({S.NOT_ACCEPTED, S.RESOLVED_ON_SPOT, S.TRANSFERRED})


def walk(*actions: Action, start: ComplaintStatus = S.RECEIVED) -> list[ComplaintStatus]:
    """The status after each action, from `start`."""
    statuses = [start]
    for action in actions:
        statuses.append(next_status(statuses[-1], action))
    return statuses[1:]


def succeeds(status: ComplaintStatus, action: Action) -> bool:
    try:
        next_status(status, action)
    except IllegalTransition:
        return False
    return True


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


# --- journeys (docs/rules.md#acceptance, #handling, #closure-and-dispute) ----------------

JOURNEYS: dict[str, list[tuple[Action, ComplaintStatus]]] = {
    "handled_and_closed": [
        (A.ACCEPT, S.ACCEPTED),
        (A.ASSIGN, S.ASSIGNED),
        (A.RECORD_NOTE, S.IN_PROGRESS),
        (A.RECORD_FINDING, S.IN_PROGRESS),
        (A.REQUEST_EXTENSION, S.IN_PROGRESS),
        (A.DECIDE_EXTENSION, S.IN_PROGRESS),
        (A.REPLY, S.REPLIED),
        (A.CLOSE, S.CLOSED),
    ],
    "replied_without_notes": [
        (A.ACCEPT, S.ACCEPTED),
        (A.ASSIGN, S.ASSIGNED),
        (A.REQUEST_EXTENSION, S.ASSIGNED),
        (A.DECIDE_EXTENSION, S.ASSIGNED),
        (A.REPLY, S.REPLIED),
    ],
    # Routing's decision may arrive first: it is recorded and waits for acceptance; the
    # first receiver may hand the case over meanwhile.
    "routed_before_acceptance": [
        (A.ASSIGN, S.RECEIVED),
        (A.HAND_OVER, S.RECEIVED),
        (A.REROUTE, S.RECEIVED),
        (A.ACCEPT, S.ACCEPTED),
        (A.ASSIGN, S.ASSIGNED),
    ],
    # The clock waits for the supplement; routing's decision waits with it.
    "supplemented": [
        (A.REQUEST_SUPPLEMENT, S.NEEDS_SUPPLEMENT),
        (A.ASSIGN, S.NEEDS_SUPPLEMENT),
        (A.HAND_OVER, S.NEEDS_SUPPLEMENT),
        (A.REROUTE, S.NEEDS_SUPPLEMENT),
        (A.SUPPLEMENT, S.ACCEPTED),
        (A.ASSIGN, S.ASSIGNED),
    ],
    # Re-routing leaves the case where it is; the new department's decision starts over.
    "rerouted_while_handled": [
        (A.ACCEPT, S.ACCEPTED),
        (A.REROUTE, S.ACCEPTED),
        (A.ASSIGN, S.ASSIGNED),
        (A.REROUTE, S.ASSIGNED),
        (A.RECORD_NOTE, S.IN_PROGRESS),
        (A.REROUTE, S.IN_PROGRESS),
        (A.ASSIGN, S.ASSIGNED),
    ],
    # A dispute reopens a replied or closed case; re-review stays reopened until the new
    # reply, whatever happens in between.
    "disputed_twice": [
        (A.ACCEPT, S.ACCEPTED),
        (A.ASSIGN, S.ASSIGNED),
        (A.REPLY, S.REPLIED),
        (A.DISPUTE, S.REOPENED),
        (A.ASSIGN, S.REOPENED),
        (A.RECORD_NOTE, S.REOPENED),
        (A.RECORD_FINDING, S.REOPENED),
        (A.REQUEST_EXTENSION, S.REOPENED),
        (A.DECIDE_EXTENSION, S.REOPENED),
        (A.REROUTE, S.REOPENED),
        (A.REPLY, S.REPLIED),
        (A.CLOSE, S.CLOSED),
        (A.DISPUTE, S.REOPENED),
        (A.REPLY, S.REPLIED),
    ],
    "transferred_after_acceptance": [(A.ACCEPT, S.ACCEPTED), (A.TRANSFER, S.TRANSFERRED)],
}


@pytest.mark.parametrize("journey", sorted(JOURNEYS))
def test_a_case_travels_the_lifecycle(journey: str) -> None:
    steps = JOURNEYS[journey]
    assert walk(*(action for action, _ in steps)) == [status for _, status in steps]


@pytest.mark.parametrize(
    ("before", "action", "end"),
    [
        ([], A.NOT_ACCEPT, S.NOT_ACCEPTED),
        ([], A.TRANSFER, S.TRANSFERRED),
        ([], A.RESOLVE_ON_SPOT, S.RESOLVED_ON_SPOT),
        ([A.REQUEST_SUPPLEMENT], A.NOT_ACCEPT, S.NOT_ACCEPTED),
        ([A.REQUEST_SUPPLEMENT], A.TRANSFER, S.TRANSFERRED),
        ([A.ACCEPT], A.TRANSFER, S.TRANSFERRED),
    ],
)
def test_a_case_that_leaves_the_hospitals_process_takes_no_further_action(
    before: list[Action], action: Action, end: ComplaintStatus
) -> None:
    assert walk(*before, action)[-1] is end
    assert end in TERMINAL and allowed_actions(end) == []
    assert not any(succeeds(end, other) for other in A)


@pytest.mark.parametrize(
    ("before", "refused"),
    [
        ([], A.REPLY),  # nothing is replied to before acceptance: the handler is not told
        ([A.REQUEST_SUPPLEMENT], A.REPLY),
        ([A.ACCEPT], A.REPLY),  # accepted, but not yet assigned
        ([A.ACCEPT], A.REQUEST_EXTENSION),
        ([A.ACCEPT, A.ASSIGN], A.CLOSE),  # no closure before the reply
        ([A.ACCEPT, A.ASSIGN], A.DISPUTE),
        ([A.ACCEPT], A.RESOLVE_ON_SPOT),  # on the spot means at registration
        ([A.ACCEPT, A.ASSIGN, A.REPLY], A.RECORD_NOTE),  # replied: close or dispute
        ([A.ACCEPT, A.ASSIGN, A.REPLY, A.CLOSE], A.CLOSE),  # closed: only a dispute
        ([A.ACCEPT, A.ASSIGN, A.REPLY, A.CLOSE], A.REPLY),
        ([A.ACCEPT, A.ASSIGN], A.HAND_OVER),  # accepted: the first receiver is done
    ],
)
def test_an_action_out_of_turn_is_refused_with_what_is_allowed_now(
    before: list[Action], refused: Action
) -> None:
    status = walk(*before)[-1] if before else S.RECEIVED
    with pytest.raises(IllegalTransition) as raised:
        next_status(status, refused)
    error = raised.value
    assert error.status is status and error.action is refused
    assert error.allowed == allowed_actions(status)
    message = str(error)
    assert str(refused) in message and str(status) in message
    assert status.label in message
    assert all(str(action) in message for action in error.allowed)


@pytest.mark.parametrize("status", list(S))
def test_the_allowed_actions_are_exactly_those_that_succeed(status: ComplaintStatus) -> None:
    # What a reader is offered (ComplaintRead.allowed_actions) and what a refusal lists
    # are the actions that would work; routing's ASSIGN is never offered to people.
    offered = allowed_actions(status)
    assert offered == sorted(offered) and A.ASSIGN not in offered
    assert set(offered) == {a for a in A if a is not A.ASSIGN and succeeds(status, a)}
    for action in set(A) - set(offered) - {A.ASSIGN}:
        with pytest.raises(IllegalTransition) as raised:
            next_status(status, action)
        assert ("none" in str(raised.value)) == (not offered)


def test_terminal_states_allow_nothing_and_every_status_is_reachable() -> None:
    assert {s for s, row in TRANSITIONS.items() if not row} == set(TERMINAL)
    reachable, frontier = {S.RECEIVED}, [S.RECEIVED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(S)


def test_every_non_terminal_status_can_still_end() -> None:
    # No dead ends: from anywhere but a terminal state some path leads to closed or out.
    ends = set(TERMINAL) | {S.CLOSED}
    for start in set(S) - set(TERMINAL):
        seen, frontier = {start}, [start]
        while frontier:
            for target in TRANSITIONS[frontier.pop()].values():
                if target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert seen & ends, start


def test_an_illegal_transition_is_its_own_exception_not_a_key_error() -> None:
    # Callers map it to 409; a bare KeyError from the table must never leak out.
    with pytest.raises(IllegalTransition) as raised:
        next_status(S.RECEIVED, A.REPLY)
    assert not isinstance(raised.value, KeyError)
    assert raised.value.__suppress_context__


def test_string_codes_from_storage_work_as_inputs() -> None:
    # Documents store the codes as plain strings; the enums must accept them.
    assert next_status(ComplaintStatus("assigned"), Action("reply")) is S.REPLIED


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list(A)), max_size=20))
def test_any_walk_keeps_the_lifecycles_promises(actions: list[Action]) -> None:
    status = S.RECEIVED
    for action in actions:
        before = status
        try:
            status = next_status(status, action)
        except IllegalTransition:
            assert action not in allowed_actions(before)
            continue
        assert before not in TERMINAL
        # Closure only by CLOSE, a reply only by REPLY, re-review only by a dispute, and
        # no way back to registration.
        assert (status is S.CLOSED) == (action is A.CLOSE)
        if status is S.REPLIED:
            assert action is A.REPLY
        if status is S.REOPENED and before is not S.REOPENED:
            assert action is A.DISPUTE
        if status in (S.RECEIVED, S.NEEDS_SUPPLEMENT):
            assert status is before or action is A.REQUEST_SUPPLEMENT


# --- vocabulary ---------------------------------------------------------------------------

VOCABULARIES: list[type[StrEnum]] = [Channel, Kind, PatientRelation, ComplaintStatus, Action]


@pytest.mark.parametrize("enum", [Channel, ComplaintStatus], ids=lambda v: v.__name__)
def test_every_code_has_its_own_chinese_label(enum: type[LabelledEnum]) -> None:
    labels = {member: member.label for member in enum}
    for code, label in labels.items():
        assert label.strip() == label and label, code
        assert _has_han(label), f"{code}: {label!r} has no Chinese"
    assert len(set(labels.values())) == len(labels), "two codes share a label"


@pytest.mark.parametrize("enum", VOCABULARIES, ids=lambda v: v.__name__)
def test_codes_are_stable_ascii_snake_case(enum: type[StrEnum]) -> None:
    for member in enum:
        assert re.fullmatch(r"[a-z][a-z_]*", member.value), member
        assert member.value == member.name.lower()


# docs/rules.md#registration G1: the channels a complaint arrives by, in the words the
# rules give them.
RULES_CHANNELS = [
    ("in_person", "面谈"),
    ("phone", "电话"),
    ("letter", "来信"),
    ("anonymous_letter", "匿名信"),
    ("suggestion_box", "意见箱"),
    ("email", "电子邮件"),
    ("web", "院长信箱"),
    ("sms_wechat", "微信"),
    ("transferred", "12345"),
    ("satisfaction_card", "满意度调查卡"),
]


@pytest.mark.parametrize(("code", "word"), RULES_CHANNELS)
def test_every_channel_of_the_rules_registers_and_reads_in_its_own_words(
    code: str, word: str
) -> None:
    body = {"channel": code, "content": "投诉", "anonymous": code == "anonymous_letter"}
    command = ComplaintCreate.model_validate(body).to_command(hospital_id="hz-001")
    assert command.channel == code
    assert word in command.channel.label  # ComplaintRead.channel_label


@pytest.mark.parametrize(
    ("status", "word"),
    [
        (S.RECEIVED, "登记"),
        (S.NEEDS_SUPPLEMENT, "补充"),
        (S.NOT_ACCEPTED, "不予受理"),
        (S.ASSIGNED, "分派"),
        (S.REPLIED, "答复"),
        (S.CLOSED, "办结"),
        (S.REOPENED, "复核"),
    ],
)
def test_the_receipt_shows_the_status_in_the_words_of_the_regulations(
    status: ComplaintStatus, word: str
) -> None:
    stored = {
        "_id": "c-1",
        "hospital_id": "hz-001",
        "case_number": "HZ-001-202611-00001",
        "tracking_code": "ABCD-EFGH-JKLM",
        "status": status.value,
    }
    assert word in receipt(stored)["status_label"]


# --- contactability -----------------------------------------------------------------------


@pytest.mark.parametrize("anonymous", [False, True])
@pytest.mark.parametrize("email", [None, "", "lina@patients.example.org"])
@pytest.mark.parametrize("phone", [None, "", "13800001111"])
def test_contactable_only_when_named_and_reachable(
    anonymous: bool, email: str | None, phone: str | None
) -> None:
    expected = not anonymous and bool(email or phone)
    assert is_contactable(anonymous=anonymous, email=email, phone=phone) is expected


def test_an_anonymous_complainant_is_never_contacted_whatever_they_left() -> None:
    # 匿名投诉: the record must show that the complainant cannot be contacted.
    assert is_contactable(anonymous=True, email="a@b.org", phone="13800001111") is False


def test_contactability_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        is_contactable(False, "a@b.org", None)
