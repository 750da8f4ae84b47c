"""Adding up grouped read-model rows into the summary's counts."""

from __future__ import annotations

from typing import Any

from services.reporting.domain.status import rank
from services.reporting.domain.summary import Tally


def row(n: int, status: str, round_: int = 0, **key: Any) -> dict[str, Any]:
    # A key the documents lack is absent from the group's _id.
    return {"_id": {"hospital_id": "hz-001", "status_rank": rank(status, round_), **key}, "n": n}


def test_statuses_categories_satisfaction_reasons_and_steps_add_up() -> None:
    tally = Tally()
    for r in (
        row(2, "closed", category="fees", satisfaction="satisfied", extensions=1),
        row(1, "closed", 1, category="fees", satisfaction="dissatisfied", escalations=1),
        # Reopened after an unhappy return visit: no satisfaction until closed again.
        row(1, "reopened", 2, category="nursing", satisfaction="dissatisfied", escalations=2),
        row(3, "not_accepted", not_accepted_reason="in_court_or_mediation"),
        row(1, "not_accepted", not_accepted_reason="outside_remit"),
        row(1, "needs_supplement"),
    ):
        tally.add(r)
    counts = tally.counts()
    assert counts["total"] == 9
    assert counts["by_status"] == {
        "closed": 3,
        "reopened": 1,
        "not_accepted": 4,
        "needs_supplement": 1,
    }
    assert counts["by_category"] == {"fees": 3, "nursing": 1, "unrouted": 5}
    assert counts["by_satisfaction"] == {"satisfied": 2, "dissatisfied": 1}
    assert counts["not_accepted_reasons"] == {"in_court_or_mediation": 3, "outside_remit": 1}
    # Two complaints with one extension each; one with 1 and one with 2 escalations.
    assert counts["extensions"] == 2 and counts["escalations"] == 3


def test_merging_hospitals_adds_every_count() -> None:
    a, b, region = Tally(), Tally(), Tally()
    a.add(row(2, "closed", satisfaction="satisfied", extensions=2))
    b.add(row(1, "closed", satisfaction="satisfied", escalations=1))
    region.merge(a)
    region.merge(b)
    counts = region.counts()
    assert counts["total"] == 3 and counts["by_satisfaction"] == {"satisfied": 3}
    assert counts["extensions"] == 4 and counts["escalations"] == 1


def test_an_empty_tally_is_all_zero() -> None:
    counts = Tally().counts()
    assert counts["total"] == 0 and counts["by_status"] == {} and counts["extensions"] == 0
