"""Registration without servers: the rules a registration command carries, the complaint
and events registration stores, and who may accept at registration."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.domain import timeline
from services.intake.domain.commands import InvalidField
from services.intake.domain.complaint import Channel
from services.intake.domain.confidentiality import is_sealed
from services.intake.registration import (
    ProofRequired,
    RegistrationRefused,
    check_acceptance,
    new_complaint,
)
from shared.contracts import ComplaintAccepted, ComplaintReceived, EventPayload
from tests.unit.intake.factories import (
    IDENTITY,
    NOW,
    NURSE,
    OFFICE,
    RECEIVED,
    assertion,
    registration,
)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"channel": Channel.ANONYMOUS_LETTER, "complainant": None}, "anonymous"),
        ({"anonymous": True, "complainant": {"name": "王五"}}, "complainant"),
        ({"anonymous": True, "complainant": {"email": "w@example.org"}}, "complainant"),
        ({"accepted": True}, "received_by"),
    ],
)
def test_a_registration_against_the_rules_cannot_be_made(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        registration(**fields)
    assert refused.value.field == field


def test_an_anonymous_complaint_may_keep_what_does_not_identify_the_person() -> None:
    kept = registration(anonymous=True, complainant={"age": 60, "relation": "family"})
    assert kept.anonymous


def _registered(**fields: Any) -> tuple[dict[str, Any], list[EventPayload]]:
    return new_complaint(
        registration(**fields),
        complaint_id="c-7",
        hospital_id="hz-001",
        number="HZ-001-202611-00007",
        idempotency_key="his-7",
        received_at=RECEIVED,
        now=NOW,
        identity=IDENTITY,
        proven_by=assertion(OFFICE) if fields.get("accepted") else None,
    )


def test_a_registered_complaint_is_sealed_chained_and_announced() -> None:
    stored, events = _registered()
    assert stored["status"] == "received" and stored["version"] == 1
    assert all(is_sealed(stored["complainant"][key]) for key in ("name", "phone", "email"))
    assert IDENTITY.open("c-7", stored["complainant"])["name"] == "李娜"
    assert [e["type"] for e in stored["timeline"]] == ["received"]
    assert timeline.verify("c-7", stored["timeline"], stored["timeline_head"]).ok
    [received] = events
    assert isinstance(received, ComplaintReceived) and received.case_number == stored["case_number"]


def test_accepted_at_registration_is_the_accept_action_with_its_proof() -> None:
    stored, events = _registered(accepted=True, received_by=OFFICE.staff_id)
    assert stored["status"] == "accepted"
    assert stored["first_receiver"] == {"staff_id": OFFICE.staff_id, "accountable": None}
    received, accepted = stored["timeline"]
    assert "proof" not in received["data"]
    assert accepted["data"]["proof"] == assertion(OFFICE).proof()
    assert [type(e) for e in events] == [ComplaintReceived, ComplaintAccepted]


def test_only_the_proven_office_receiver_accepts_at_registration() -> None:
    with pytest.raises(ProofRequired):
        check_acceptance(OFFICE, proven_by=None, complained_about=None)
    with pytest.raises(RegistrationRefused, match="the person who accepts signs"):
        check_acceptance(OFFICE, proven_by=assertion(NURSE), complained_about=None)
    with pytest.raises(RegistrationRefused, match="投诉管理部门"):
        check_acceptance(NURSE, proven_by=assertion(NURSE), complained_about=None)
    with pytest.raises(RegistrationRefused, match="回避"):
        check_acceptance(OFFICE, proven_by=assertion(OFFICE), complained_about=OFFICE.staff_id)
    check_acceptance(OFFICE, proven_by=assertion(OFFICE), complained_about=NURSE.staff_id)
