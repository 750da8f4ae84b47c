"""The complaint state machine, its labels, and who may be contacted."""

from __future__ import annotations

import itertools

import pytest

from services.intake.domain.complaint import (
    CHANNEL_LABELS,
    KIND_LABELS,
    RELATION_LABELS,
    STATUS_LABELS,
    TRANSITIONS,
    Action,
    Channel,
    ComplaintStatus,
    IllegalTransition,
    Kind,
    PatientRelation,
    is_contactable,
    next_status,
)

S, A = ComplaintStatus, Action
LEGAL = {
    (S.RECEIVED, A.ASSIGN): S.ASSIGNED,
    (S.ASSIGNED, A.ASSIGN): S.ASSIGNED,  # reassignment
    (S.ASSIGNED, A.REPLY): S.REPLIED,
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(S, A)))
def test_every_status_and_action(status: ComplaintStatus, action: Action) -> None:
    if (status, action) in LEGAL:
        assert next_status(status, action) is LEGAL[status, action]
    else:
        with pytest.raises(IllegalTransition) as raised:
            next_status(status, action)
        assert STATUS_LABELS[status] in str(raised.value)
        assert raised.value.allowed == sorted(TRANSITIONS[status])


def test_the_table_has_a_row_for_every_status() -> None:
    assert set(TRANSITIONS) == set(S)
    assert all(target in S for row in TRANSITIONS.values() for target in row.values())


@pytest.mark.parametrize(
    ("enum", "labels"),
    [
        (Channel, CHANNEL_LABELS),
        (Kind, KIND_LABELS),
        (PatientRelation, RELATION_LABELS),
        (ComplaintStatus, STATUS_LABELS),
    ],
)
def test_every_code_has_a_chinese_label(enum: type, labels: dict) -> None:  # type: ignore[type-arg]
    assert set(labels) == set(enum)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in label) for label in labels.values())


def test_anonymous_complainants_are_never_contacted() -> None:
    assert not is_contactable(anonymous=True, email="a@b.org", phone="138")
    assert not is_contactable(anonymous=False, email=None, phone=None)
    assert is_contactable(anonymous=False, email=None, phone="13800001111")
    assert is_contactable(anonymous=False, email="a@b.org", phone=None)
