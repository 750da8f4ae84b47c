"""How one change of a complaint is written (services/intake/change.py): its entries are
chained onto the timeline, `version` counts it, and a proven actor's entries carry proof."""

from __future__ import annotations

from services.intake.change import Change, Entry, chained, proven
from services.intake.domain import timeline
from shared.contracts import ComplaintEscalated
from tests.unit.intake.factories import NOW, OFFICE, assertion, complaint


def test_a_change_without_entries_or_events_still_counts_as_a_version() -> None:
    decision = Change().decision(complaint(), now=NOW)
    assert decision.update == {"$inc": {"version": 1}} and decision.events == ()


def test_entries_are_chained_onto_the_stored_timeline_in_one_update() -> None:
    stored = complaint()
    change = Change(
        set={"status": "accepted"},
        inc={"notes_count": 1},
        push={"extension_history": {"approved": True}},
        entries=[Entry("accepted", OFFICE.staff_id), Entry("investigation_note", "x", "n")],
        events=[
            ComplaintEscalated(case_number=stored["case_number"], level="leadership", reason="r")
        ],
    )
    decision = change.decision(stored, now=NOW)
    update = decision.update
    appended = update["$push"]["timeline"]["$each"]
    assert update["$inc"] == {"notes_count": 1, "version": 1}
    assert update["$push"]["extension_history"] == {"approved": True}
    assert update["$set"]["status"] == "accepted"
    assert update["$set"]["timeline_head"] == {"count": 3, "hash": appended[-1]["hash"]}
    verdict = timeline.verify(
        stored["_id"], stored["timeline"] + appended, update["$set"]["timeline_head"]
    )
    assert verdict.ok and verdict.count == 3
    assert [event.event_type for event in decision.events] == ["complaint.escalated"]


def test_entries_keep_their_own_moment_when_they_have_one() -> None:
    earlier = NOW.replace(year=2025)
    entries, head = chained(
        "c-9", None, [Entry("received", None, at=earlier), Entry("x", None)], at=NOW
    )
    assert [e["at"] for e in entries] == [earlier, NOW]
    assert timeline.verify("c-9", entries, head).ok


def test_the_proof_is_added_to_what_the_entry_already_says() -> None:
    entry = proven(Entry("closed", OFFICE.staff_id, data={"visit": "phone"}), assertion(OFFICE))
    assert entry.data == {
        "visit": "phone",
        "proof": {"kid": "his-2026", "jti": f"jti-{OFFICE.staff_id}-0001"},
    }
