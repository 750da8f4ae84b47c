"""The complaint lifecycle as a table: every pair of status and action, walks through it,
the vocabulary's codes and Chinese labels, and who may be contacted."""

from __future__ import annotations

import itertools
import re
from enum import StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.complaint import (
    ACTION_LABELS,
    CHANNEL_LABELS,
    KIND_LABELS,
    RELATION_LABELS,
    STATUS_LABELS,
    TERMINAL,
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

S, A = ComplaintStatus, Action

# The lifecycle written out independently of the module's table, row by row.
EXPECTED: dict[tuple[ComplaintStatus, Action], ComplaintStatus] = {
    # acceptance review (受理审查)
    (S.RECEIVED, A.ACCEPT): S.ACCEPTED,
    (S.RECEIVED, A.REQUEST_SUPPLEMENT): S.NEEDS_SUPPLEMENT,
    (S.RECEIVED, A.NOT_ACCEPT): S.NOT_ACCEPTED,
    (S.RECEIVED, A.TRANSFER): S.TRANSFERRED,
    (S.RECEIVED, A.RESOLVE_ON_SPOT): S.RESOLVED_ON_SPOT,
    (S.RECEIVED, A.HAND_OVER): S.RECEIVED,
    (S.RECEIVED, A.ASSIGN): S.RECEIVED,  # routing's decision waits for acceptance
    (S.RECEIVED, A.REROUTE): S.RECEIVED,
    (S.NEEDS_SUPPLEMENT, A.SUPPLEMENT): S.ACCEPTED,
    (S.NEEDS_SUPPLEMENT, A.NOT_ACCEPT): S.NOT_ACCEPTED,
    (S.NEEDS_SUPPLEMENT, A.TRANSFER): S.TRANSFERRED,
    (S.NEEDS_SUPPLEMENT, A.HAND_OVER): S.NEEDS_SUPPLEMENT,
    (S.NEEDS_SUPPLEMENT, A.ASSIGN): S.NEEDS_SUPPLEMENT,
    (S.NEEDS_SUPPLEMENT, A.REROUTE): S.NEEDS_SUPPLEMENT,
    (S.ACCEPTED, A.ASSIGN): S.ASSIGNED,
    (S.ACCEPTED, A.REROUTE): S.ACCEPTED,
    (S.ACCEPTED, A.TRANSFER): S.TRANSFERRED,
    # handling (调查处理)
    (S.ASSIGNED, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.REROUTE): S.ASSIGNED,
    (S.ASSIGNED, A.RECORD_NOTE): S.IN_PROGRESS,
    (S.ASSIGNED, A.RECORD_FINDING): S.IN_PROGRESS,
    (S.ASSIGNED, A.REQUEST_EXTENSION): S.ASSIGNED,
    (S.ASSIGNED, A.DECIDE_EXTENSION): S.ASSIGNED,
    (S.ASSIGNED, A.REPLY): S.REPLIED,
    (S.IN_PROGRESS, A.ASSIGN): S.ASSIGNED,  # a new department starts over
    (S.IN_PROGRESS, A.REROUTE): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.RECORD_NOTE): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.RECORD_FINDING): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.REQUEST_EXTENSION): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.DECIDE_EXTENSION): S.IN_PROGRESS,
    (S.IN_PROGRESS, A.REPLY): S.REPLIED,
    # after the reply
    (S.REPLIED, A.CLOSE): S.CLOSED,
    (S.REPLIED, A.DISPUTE): S.REOPENED,
    (S.CLOSED, A.DISPUTE): S.REOPENED,
    # re-review (重新核实) stays reopened until the new reply
    (S.REOPENED, A.ASSIGN): S.REOPENED,
    (S.REOPENED, A.REROUTE): S.REOPENED,
    (S.REOPENED, A.RECORD_NOTE): S.REOPENED,
    (S.REOPENED, A.RECORD_FINDING): S.REOPENED,
    (S.REOPENED, A.REQUEST_EXTENSION): S.REOPENED,
    (S.REOPENED, A.DECIDE_EXTENSION): S.REOPENED,
    (S.REOPENED, A.REPLY): S.REPLIED,
}
TERMINAL_STATES = {S.NOT_ACCEPTED, S.RESOLVED_ON_SPOT, S.TRANSFERRED}
ALL_PAIRS = list(itertools.product(S, A))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in EXPECTED]
EXPECTED_ALLOWED: dict[ComplaintStatus, set[Action]] = {
    status: {action for (s, action) in EXPECTED if s is status and action is not A.ASSIGN}
    for status in S
}


def _has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


# --- transitions --------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "action"), list(EXPECTED), ids=lambda v: str(v))
def test_legal_transition(status: ComplaintStatus, action: Action) -> None:
    assert next_status(status, action) is EXPECTED[status, action]


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=lambda v: str(v))
def test_illegal_transition_is_refused_with_an_explanation(
    status: ComplaintStatus, action: Action
) -> None:
    with pytest.raises(IllegalTransition) as raised:
        next_status(status, action)
    error = raised.value
    assert error.status is status and error.action is action
    assert error.allowed == sorted(EXPECTED_ALLOWED[status])
    message = str(error)
    assert str(action) in message and str(status) in message
    assert STATUS_LABELS[status] in message
    assert ("none" in message) == (not EXPECTED_ALLOWED[status])


@pytest.mark.parametrize("status", list(S))
def test_allowed_actions_never_offer_routings_assign(status: ComplaintStatus) -> None:
    assert allowed_actions(status) == sorted(EXPECTED_ALLOWED[status])
    assert A.ASSIGN not in allowed_actions(status)


def test_the_module_table_is_exactly_the_expected_lifecycle() -> None:
    table = {
        (status, action): target
        for status, row in TRANSITIONS.items()
        for action, target in row.items()
    }
    assert table == EXPECTED
    assert set(TRANSITIONS) == set(S)


def test_every_pair_is_covered_exactly_once() -> None:
    assert len(EXPECTED) + len(ILLEGAL) == len(S) * len(A)


def test_terminal_states_allow_nothing_and_every_status_is_reachable() -> None:
    assert {s for s, row in TRANSITIONS.items() if not row} == TERMINAL_STATES == set(TERMINAL)
    reachable, frontier = {S.RECEIVED}, [S.RECEIVED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(S)


def test_every_non_terminal_status_can_still_end() -> None:
    # No dead ends: from anywhere but a terminal state some path leads to closed or out.
    ends = TERMINAL_STATES | {S.CLOSED}
    for start in set(S) - TERMINAL_STATES:
        seen, frontier = {start}, [start]
        while frontier:
            for target in TRANSITIONS[frontier.pop()].values():
                if target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert seen & ends, start


def test_a_reply_needs_an_accepted_case() -> None:
    # Nothing before acceptance can be replied to: the handler is not even told yet.
    for status in (S.RECEIVED, S.NEEDS_SUPPLEMENT, S.ACCEPTED):
        assert A.REPLY not in TRANSITIONS[status]


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
def test_any_walk_follows_the_table(actions: list[Action]) -> None:
    status = S.RECEIVED
    for action in actions:
        before = status
        try:
            status = next_status(status, action)
        except IllegalTransition:
            assert (before, action) not in EXPECTED
            continue
        assert status is EXPECTED[before, action]
        assert before not in TERMINAL_STATES
        # Closure only by CLOSE, re-review only by DISPUTE, a reply only by REPLY.
        assert (status is S.CLOSED) == (action is A.CLOSE)
        if status is S.REPLIED:
            assert action is A.REPLY
        if status is S.REOPENED and before is not S.REOPENED:
            assert action is A.DISPUTE


@pytest.mark.parametrize("action", list(A))
def test_every_action_has_a_chinese_label(action: Action) -> None:
    assert _has_han(ACTION_LABELS[action])


# --- vocabulary ---------------------------------------------------------------------------

VOCABULARIES: list[tuple[type[StrEnum], dict]] = [  # type: ignore[type-arg]
    (Channel, CHANNEL_LABELS),
    (Kind, KIND_LABELS),
    (PatientRelation, RELATION_LABELS),
    (ComplaintStatus, STATUS_LABELS),
    (Action, ACTION_LABELS),
]


@pytest.mark.parametrize(("enum", "labels"), VOCABULARIES, ids=lambda v: getattr(v, "__name__", ""))
def test_every_code_has_its_own_chinese_label(enum: type[StrEnum], labels: dict) -> None:  # type: ignore[type-arg]
    assert set(labels) == set(enum)
    for code, label in labels.items():
        assert label.strip() == label and label, code
        assert _has_han(label), f"{code}: {label!r} has no Chinese"
    assert len(set(labels.values())) == len(labels), "two codes share a label"


@pytest.mark.parametrize(("enum", "labels"), VOCABULARIES, ids=lambda v: getattr(v, "__name__", ""))
def test_codes_are_stable_ascii_snake_case(enum: type[StrEnum], labels: dict) -> None:  # type: ignore[type-arg]
    for member in enum:
        assert re.fullmatch(r"[a-z][a-z_]*", member.value), member
        assert member.value == member.name.lower()


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (Channel.IN_PERSON, "面谈"),
        (Channel.PHONE, "电话"),
        (Channel.LETTER, "来信"),
        (Channel.ANONYMOUS_LETTER, "匿名信"),
        (Channel.SUGGESTION_BOX, "意见箱"),
        (Channel.WEB, "院长信箱"),
        (Channel.TRANSFERRED, "12345"),
        (Kind.COMPLAINT, "投诉"),
        (Kind.REPORT, "举报"),
        (Kind.SUGGESTION, "建议"),
        (Kind.CONSULTATION, "咨询"),
        (S.RECEIVED, "登记"),
        (S.ASSIGNED, "分派"),
        (S.REPLIED, "答复"),
        (S.NOT_ACCEPTED, "不予受理"),
        (S.NEEDS_SUPPLEMENT, "补充"),
        (S.REOPENED, "复核"),
        (S.CLOSED, "办结"),
    ],
)
def test_labels_use_the_words_of_the_regulations(code: StrEnum, label: str) -> None:
    # Codes are unique within a vocabulary only ("transferred" is a channel and a status).
    labels = {Channel: CHANNEL_LABELS, Kind: KIND_LABELS, ComplaintStatus: STATUS_LABELS}
    assert label in labels[type(code)][code]  # type: ignore[index]


def test_every_intake_channel_of_the_domain_exists() -> None:
    # docs/rules.md#registration G1 lists ten channels.
    assert len(Channel) == 10
    assert {"email", "sms_wechat", "satisfaction_card"} <= {c.value for c in Channel}


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
        is_contactable(False, "a@b.org", None)  # type: ignore[misc]
