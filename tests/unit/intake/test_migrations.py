"""Complaints stored in issue 2's format are upgraded without servers: identity sealed,
the existing entries chained with one that says so, nothing dropped."""

from __future__ import annotations

from datetime import timedelta

from services.intake.domain import timeline
from services.intake.domain.confidentiality import is_sealed
from services.intake.migrations import upgrade
from tests.unit.intake.factories import IDENTITY, NOW, complaint

EARLIER = {
    "_id": "issue2-era",
    "hospital_id": "hz-001",
    "complainant": {"name": "王强", "phone": "13900002222", "relation": "self"},
    "timeline": [
        {"at": NOW - timedelta(days=30), "type": "received", "by": None, "note": None},
        {"at": NOW - timedelta(days=29), "type": "assigned", "by": "routing", "note": "财务科"},
    ],
}


def test_an_earlier_complaint_is_sealed_and_chained_keeping_its_entries() -> None:
    change = upgrade(dict(EARLIER), IDENTITY, now=NOW)
    assert change is not None
    chained, head = change.set["timeline"], change.set["timeline_head"]
    assert [(e["type"], e["at"]) for e in chained] == [
        ("received", NOW - timedelta(days=30)),
        ("assigned", NOW - timedelta(days=29)),
        ("record_upgraded", NOW),
    ]
    assert timeline.verify("issue2-era", chained, head).ok
    sealed = change.set["complainant"]
    assert is_sealed(sealed["name"]) and IDENTITY.open("issue2-era", sealed)["name"] == "王强"
    assert change.decision(EARLIER, now=NOW).update["$inc"] == {"version": 1}


def test_an_identity_already_sealed_is_not_sealed_again() -> None:
    sealed = IDENTITY.seal("issue2-era", EARLIER["complainant"])
    change = upgrade(EARLIER | {"complainant": sealed}, IDENTITY, now=NOW)
    assert change is not None and "complainant" not in change.set


def test_a_current_complaint_is_left_alone() -> None:
    assert upgrade(complaint(), IDENTITY, now=NOW) is None
