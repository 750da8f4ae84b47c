"""Who may take which action: every action against every kind of staff member, written
out as a table independent of the module, plus recusal of the person complained about."""

from __future__ import annotations

import itertools

import pytest

from services.intake.domain.authority import (
    Actor,
    CaseParties,
    NotPermitted,
    check,
    may,
)
from services.intake.domain.complaint import Action

A = Action
CASE = CaseParties(
    first_receiver="nurse-7",
    handler="fin-2",
    department="finance",
    co_departments=frozenset({"insurance_office"}),
    complained_about="fin-9",
)

PEOPLE: dict[str, Actor] = {
    "office": Actor("office-1", "complaint_office", frozenset({"complaint_office", "handler"})),
    "leader": Actor("vp-1", "leadership", frozenset({"leadership"})),
    "handler": Actor("fin-2", "finance", frozenset({"handler"})),
    "head": Actor("fin-1", "finance", frozenset({"department_head", "handler"})),
    "colleague": Actor("fin-3", "finance", frozenset({"handler"})),
    "co_handler": Actor("ins-1", "insurance_office", frozenset({"handler"})),
    "outsider": Actor("card-1", "cardiology", frozenset({"handler", "department_head"})),
    "first_receiver": Actor("nurse-7", "nursing", frozenset({"handler"})),
    "complained_about": Actor("fin-9", "finance", frozenset({"department_head", "handler"})),
}

# Who may do what, by kind of person (the person complained about may do nothing).
MAY: dict[Action, set[str]] = {
    A.ACCEPT: {"office"},
    A.REQUEST_SUPPLEMENT: {"office"},
    A.SUPPLEMENT: {"office"},
    A.NOT_ACCEPT: {"office"},
    A.TRANSFER: {"office"},
    A.REROUTE: {"office"},
    A.CLOSE: {"office"},
    A.DISPUTE: {"office"},
    A.RESOLVE_ON_SPOT: set(PEOPLE) - {"complained_about"},
    A.HAND_OVER: {"office", "first_receiver"},
    A.ASSIGN: set(),
    A.RECORD_NOTE: {"office", "handler", "head", "co_handler"},
    A.RECORD_FINDING: {"office", "handler", "head"},
    A.REPLY: {"office", "handler", "head"},
    A.REQUEST_EXTENSION: {"handler", "head"},
    A.DECIDE_EXTENSION: {"leader"},
}


def test_the_table_covers_every_action() -> None:
    assert set(MAY) == set(Action)


@pytest.mark.parametrize(
    ("action", "who"), list(itertools.product(Action, PEOPLE)), ids=lambda v: str(v)
)
def test_who_may_take_each_action(action: Action, who: str) -> None:
    allowed = who in MAY[action]
    assert may(action, PEOPLE[who], CASE) is allowed
    if not allowed:
        with pytest.raises(NotPermitted) as raised:
            check(action, PEOPLE[who], CASE)
        assert str(raised.value).startswith("actor: ")


@pytest.mark.parametrize("action", list(Action))
def test_the_person_complained_about_is_recused_even_in_the_office(action: Action) -> None:
    # 回避: office staff complained about may not act on their own case either.
    office_member = Actor("office-9", "complaint_office", frozenset({"complaint_office"}))
    case = CaseParties(complained_about="office-9", handler="fin-2", department="finance")
    assert not may(action, office_member, case)
    with pytest.raises(NotPermitted, match="回避"):
        check(action, office_member, case)


def test_a_head_of_another_department_is_not_the_lead() -> None:
    other_head = Actor("ped-1", "pediatrics", frozenset({"department_head"}))
    assert not may(A.REPLY, other_head, CASE)


def test_before_assignment_only_the_office_investigates() -> None:
    unassigned = CaseParties(first_receiver="nurse-7")
    assert may(A.RECORD_NOTE, PEOPLE["office"], unassigned)
    for who in ("handler", "head", "co_handler", "colleague"):
        assert not may(A.RECORD_NOTE, PEOPLE[who], unassigned), who


def test_after_a_hand_over_the_old_first_receiver_is_no_longer_accountable() -> None:
    handed = CaseParties(first_receiver="office-1")
    assert not may(A.HAND_OVER, PEOPLE["first_receiver"], handed)
