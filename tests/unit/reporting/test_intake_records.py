"""The facts read back from intake's record (domain/intake_records.py, the rebuild's source)
count like the facts the events made: over a generated region's every path (not accepted,
transferred, on the spot, supplements, extensions, late replies climbing the ladder,
disputes), complaint by complaint and counter document by counter document; and the
record's own rules (the deadline in force at the reply, the closure's round, escalations
counted once per event) hold on hand-made records. No servers: the real-intake check is
tests/e2e/test_report_rebuild.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.region_history import (
    ComplaintHistory,
    HistoryShape,
    complaint_document,
    facts_of,
    histories,
)
from services.intake.domain.timeline import verify
from services.reporting.domain.classification import contribution_of, counter_documents, figures
from services.reporting.domain.intake_records import facts_of_record

SHAPE = HistoryShape(hospitals=5, months=6, total=3_000, seed=23, last_month="2026-06")


@pytest.fixture(scope="module")
def region() -> list[ComplaintHistory]:
    return list(histories(SHAPE))


def test_each_complaint_counts_the_same_from_intakes_record(
    region: list[ComplaintHistory],
) -> None:
    paths = set()
    for history in region:
        live = contribution_of(facts_of(history))
        rebuilt = contribution_of(facts_of_record(complaint_document(history)))
        assert live is not None and rebuilt is not None
        assert rebuilt == live, history
        paths.add(frozenset(live.columns))
    # The region's every kind of case took part.
    seen = set().union(*paths)
    assert {
        "replied_late",
        "overdue",
        "transferred",
        "resolved_on_spot",
        "escalated.leadership",
        "escalated.bureau",
        "dissatisfied",
    } <= seen
    assert any(column.startswith("not_accepted.") for column in seen)


def test_the_counter_documents_are_the_same(region: list[ComplaintHistory]) -> None:
    live = counter_documents(facts_of(history) for history in region)
    rebuilt = counter_documents(facts_of_record(complaint_document(h)) for h in region)
    assert {k: figures(v) for k, v in rebuilt.items()} == {k: figures(v) for k, v in live.items()}


def test_the_benchs_records_are_chained_like_intakes(region: list[ComplaintHistory]) -> None:
    record = complaint_document(max(region, key=lambda h: len(h.steps)))
    assert verify(record["_id"], record["timeline"], record["timeline_head"]).ok


T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
DUE = datetime(2026, 11, 6, 15, 59, 59, tzinfo=UTC)
LATER = DUE + timedelta(days=7)


def record(**fields: Any) -> dict[str, Any]:
    return {
        "_id": "c-1",
        "hospital_id": "hz-001",
        "case_number": "HZ-001-202611-00001",
        "channel": "web",
        "kind": "complaint",
        "group": False,
        "direct": False,
        "received_at": T0,
        "registered_at": T0,
        "acceptance": {"decision": "accepted", "at": T0},
        "receipt_sent": True,
        "assignment": {
            "category": "fees",
            "category_label": "收费物价",
            "department": "finance",
            "department_label": "财务科",
            "priority": "normal",
            "revision": 1,
            "case_type": "investigation",
            "due_at": LATER,
            "deadline_pending_year": None,
        },
        "timeline": [],
    } | fields


def entry(type_: str, at: datetime, **data: Any) -> dict[str, Any]:
    return {"type": type_, "at": at, "data": data}


def columns_of(document: dict[str, Any]) -> set[str]:
    contribution = contribution_of(facts_of_record(document))
    assert contribution is not None
    return set(contribution.columns)


def test_a_reply_is_judged_by_the_deadline_intake_had_in_force() -> None:
    replied = T0 + timedelta(days=6)  # after DUE, before the extended LATER
    reply = {"replied_at": replied, "round": 0}
    on_its_day = record(reply=reply, timeline=[entry("replied", replied, due_at=DUE)])
    assert "replied_late" in columns_of(on_its_day)
    extended = record(reply=reply, timeline=[entry("replied", replied, due_at=LATER)])
    assert "replied_on_time" in columns_of(extended)
    # A record from before the entry kept it: the deadlines the timeline shows.
    older = record(
        reply=reply,
        timeline=[entry("deadline_changed", T0, due_at=DUE), entry("replied", replied)],
    )
    assert "replied_late" in columns_of(older)


def test_the_closure_counts_in_the_round_it_was_given() -> None:
    closed = T0 + timedelta(days=3)
    timeline = [entry("replied", T0, due_at=DUE), entry("closed", closed)]
    once = record(
        reply={"replied_at": T0, "round": 0},
        finding={"result": "substantiated"},
        closure={"satisfaction": "satisfied", "closed_at": closed},
        timeline=timeline,
    )
    assert {"substantiated", "satisfied"} <= columns_of(once)
    reopened = once | {
        "reopen_count": 1,
        "reopened_at": closed + timedelta(days=1),
        "timeline": [*timeline, entry("reopened", closed + timedelta(days=1))],
    }
    assert "open" in columns_of(reopened) and "satisfied" not in columns_of(reopened)
    closed_again = reopened | {
        "timeline": [*reopened["timeline"], entry("closed", closed + timedelta(days=5))],
        "closure": {"satisfaction": "dissatisfied", "closed_at": closed + timedelta(days=5)},
    }
    assert "dissatisfied" in columns_of(closed_again) and "open" not in columns_of(closed_again)


def test_escalations_count_once_per_event_and_overdue_by_its_deadline() -> None:
    ladder = [
        {"level": "reply_due", "round": 0, "event_ids": ["e1"], "reached_at": DUE, "due_at": LATER},
        {"level": "leadership", "round": 0, "event_ids": ["e2", "e3"], "reached_at": DUE},
        {"level": "warning", "round": 0, "event_ids": ["e4"], "reached_at": T0},
    ]
    facts = facts_of_record(record(escalations=ladder))
    assert facts["escalations"] == 2  # two events announced the leadership level
    assert facts["escalation_levels"] == ["leadership"]
    assert facts["overdue_due_at"] == LATER
    contribution = contribution_of(facts)
    assert contribution is not None
    assert {"escalated.leadership", "overdue"} <= contribution.columns


def test_the_record_never_gives_the_complainant_away() -> None:
    facts = facts_of_record(
        record(complainant={"sealed": "x"}, complainant_key="k" * 64, target_staff_id="s-1")
    )
    assert "complainant" not in facts and facts["complainant_key"] == "k" * 64
    assert "target_staff_id" not in facts and facts["target_staff_key"]
