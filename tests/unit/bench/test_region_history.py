"""The benchmarks' region history (bench/region_history.py) and the reports benchmark's
seeding (bench/reports.py): the same seed gives the same history; every event is a valid
contract event whose facts are what reporting's own fold makes of it; the history fills
every column of the classification table; the counters seeded month by month are the
ones `counter_documents` computes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bench.region_history import ComplaintHistory, HistoryShape, facts_of, histories
from bench.reports import counter_batches, last_month_of
from services.reporting.domain.classification import (
    COLUMNS,
    contribution_of,
    counter_documents,
)
from shared.contracts import EVENT_TYPES, Envelope
from tests.unit.reporting.test_facts import fold

SMALL = HistoryShape(hospitals=6, months=4, total=4_000, seed=7, last_month="2026-06")


@pytest.fixture(scope="module")
def small() -> list[ComplaintHistory]:
    return list(histories(SMALL))


def test_the_same_seed_gives_the_same_history(small: list[ComplaintHistory]) -> None:
    again = list(histories(SMALL))
    assert again == small
    other = list(histories(replace(SMALL, seed=8)))
    assert [h.received_at for h in other] != [h.received_at for h in small]


def test_the_history_has_its_size_hospitals_and_months(small: list[ComplaintHistory]) -> None:
    assert 3_400 < len(small) < 4_600
    assert {h.hospital_id for h in small} == {f"hz-{n:03d}" for n in range(1, 7)}
    months = {
        f"{contribution.month}" for h in small if (contribution := contribution_of(facts_of(h)))
    }
    assert months == {"202603", "202604", "202605", "202606"}
    assert len({h.complaint_id for h in small}) == len(small)
    assert len({s.event_id for h in small for s in h.steps}) == sum(len(h.steps) for h in small)


def folded(history: ComplaintHistory) -> dict[str, Any]:
    """The facts reporting's tests fold from the events (tests/unit/reporting/test_facts.py
    `fold`: ComplaintFacts.apply against an in-memory document)."""
    document: dict[str, Any] = {}
    for step in history.steps:
        event = EVENT_TYPES[step.type].model_validate(step.payload)
        envelope = Envelope(
            event_id=step.event_id,
            type=step.type,
            occurred_at=step.at,
            hospital_id=history.hospital_id,
            complaint_id=history.complaint_id,
            payload=event.model_dump(mode="json"),
        )
        fold(document, envelope, event)
    return document


def test_every_event_is_a_contract_event_in_time_order_and_the_facts_are_reportings(
    small: list[ComplaintHistory],
) -> None:
    for history in small[::7]:
        times = [step.at for step in history.steps]
        assert times == sorted(times) and len(set(times)) == len(times)
        facts = facts_of(history)
        assert facts == folded(history)
        assert contribution_of(facts) is not None


def test_the_history_fills_every_column_of_the_table(small: list[ComplaintHistory]) -> None:
    counted: dict[str, int] = dict.fromkeys(COLUMNS, 0)
    kinds = set()
    for history in small:
        contribution = contribution_of(facts_of(history))
        assert contribution is not None
        for column in contribution.columns:
            counted[column] = counted.get(column, 0) + 1
        kinds |= {step.type for step in history.steps}
    assert [column for column, n in counted.items() if n == 0] == []
    assert set(counted) == set(COLUMNS)  # no column the table does not know
    share = counted["not_accepted.outside_remit"] / len(small)
    not_accepted = sum(n for c, n in counted.items() if c.startswith("not_accepted.")) / len(small)
    assert 0.06 < not_accepted < 0.10 and share > 0
    assert {"complaint.extended", "complaint.reopened", "complaint.supplemented"} <= kinds


def test_the_counters_seeded_month_by_month_are_counter_documents(
    small: list[ComplaintHistory],
) -> None:
    facts = [facts_of(history) for history in small]
    batches = list(counter_batches(facts))
    assert len(batches) == SMALL.months  # written as the months pass, not all at the end
    seeded = {document["_id"]: document for batch in batches for document in batch}
    assert sum(len(batch) for batch in batches) == len(seeded)
    assert seeded == counter_documents(facts)


def test_a_complaint_counting_in_a_period_already_written_stops_the_seeding() -> None:
    facts = [facts_of(history) for history in histories(replace(SMALL, total=300))]
    with pytest.raises(ValueError, match="already written"):
        list(counter_batches([*facts, facts[0]]))


@pytest.mark.parametrize(
    ("doc_id", "last"),
    [
        ("202602/c/fees", "202602"),
        ("2026Q1/b", "202603"),
        ("2026/s", "202612"),
        ("categories", None),
        ("overdue", None),
    ],
)
def test_the_period_a_counter_document_covers(doc_id: str, last: str | None) -> None:
    assert last_month_of(doc_id) == last
