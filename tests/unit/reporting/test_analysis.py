"""The rollups, the response-time buckets and quantiles, recurrence matching by keyed
hashes, the case library and the scorecard's thresholds. Pure; no servers."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting.domain import analysis
from services.reporting.domain.classification import (
    COLUMNS,
    Contribution,
    apply_moves,
    apply_update,
    contribution_of,
    counter_moves,
    covering_periods,
    figures,
    periods_of,
    quarter_of,
    recurring_documents,
)
from services.reporting.domain.facts import change_for
from services.reporting.domain.response_times import (
    DAY_EDGES,
    HOUR_EDGES,
    Quantile,
    bucket_of,
    quantile,
    response_of,
)
from services.reporting.domain.working_days import working_days_between
from shared.contracts import CHINA
from shared.matching import complainant_key, staff_key
from tests.support import events as sample
from tests.unit.reporting.test_classification import HANDLED, at, facts_after, replied

# --- rollups ------------------------------------------------------------------------------

MONTHS = [f"{year}{month:02d}" for year in (2025, 2026) for month in range(1, 13)]
contributions = st.builds(
    Contribution,
    month=st.sampled_from(MONTHS),
    hospital=st.sampled_from(["hz-001", "hz-002"]),
    category=st.sampled_from(["fees", "nursing", "conduct"]),
    department=st.sampled_from(["finance", "nursing", "discipline"]),
    columns=st.frozensets(st.sampled_from(sorted(COLUMNS)), min_size=1),
    response=st.none()
    | st.builds(
        response_of,
        response_seconds=st.floats(0, 60 * 86400),
        working_days=st.none() | st.integers(0, 40),
        priority=st.sampled_from(["urgent", "normal"]),
        on_time=st.booleans(),
    ),
)


def documents_of(many: list[Contribution]) -> dict[str, dict[str, Any]]:
    documents: dict[str, dict[str, Any]] = {}
    for one in many:
        for doc_id, update in counter_moves(None, one).items():
            apply_update(documents.setdefault(doc_id, {"_id": doc_id}), update)
    return documents


def added(documents: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for document in documents:
        analysis._add(total, {k: v for k, v in document.items() if k not in ("_id", "dl")})
    return figures(total)


@settings(max_examples=100, deadline=None)
@given(st.lists(contributions, max_size=12))
def test_every_quarter_and_year_document_is_the_sum_of_its_months(
    many: list[Contribution],
) -> None:
    documents = documents_of(many)
    for doc_id, document in documents.items():
        period, _, rest = doc_id.partition("/")
        if not rest or rest[0] not in "cht" or period.isdigit() and len(period) == 6:
            continue
        months = [m for m in MONTHS if period in (quarter_of(m), m[:4])]
        parts = [documents[f"{m}/{rest}"] for m in months if f"{m}/{rest}" in documents]
        assert figures(document) == {"_id": doc_id} | added(parts), doc_id


@given(st.integers(0, 35), st.integers(1, 36))
def test_the_covering_periods_are_exactly_the_months_asked_for(first: int, count: int) -> None:
    months = [f"{(first + i) // 12 + 2024}{(first + i) % 12 + 1:02d}" for i in range(count)]
    periods = covering_periods(months)
    expanded = [
        m
        for p in periods
        for m in (
            [p]
            if len(p) == 6 and "Q" not in p
            else analysis.months_of_quarter(p)
            if "Q" in p
            else [f"{p}{n:02d}" for n in range(1, 13)]
        )
    ]
    assert expanded == months


def test_whole_years_and_quarters_are_read_from_their_rollups() -> None:
    assert covering_periods(["202601", "202602", "202603"]) == ["2026Q1"]
    assert covering_periods([f"2025{m:02d}" for m in range(1, 13)]) == ["2025"]
    assert covering_periods(["202512", "202601", "202602", "202603", "202604"]) == [
        "202512",
        "2026Q1",
        "202604",
    ]
    assert covering_periods(["202602", "202603", "202604"]) == ["202602", "202603", "202604"]
    assert periods_of("202611") == ("202611", "2026Q4", "2026")


def test_quarters_before_and_a_year_ago() -> None:
    assert analysis.previous_quarter("2026Q1") == "2025Q4"
    assert analysis.previous_quarter("2026Q3") == "2026Q2"
    assert analysis.same_quarter_last_year("2026Q1") == "2025Q1"


# --- response times -----------------------------------------------------------------------


def test_buckets_have_inclusive_upper_edges() -> None:
    assert bucket_of(0, HOUR_EDGES) == "4" and bucket_of(4, HOUR_EDGES) == "4"
    assert bucket_of(4.01, HOUR_EDGES) == "8"
    assert bucket_of(721, HOUR_EDGES) == "inf"
    assert bucket_of(0, DAY_EDGES) == "0" and bucket_of(4, DAY_EDGES) == "5"


def test_quantiles_are_the_upper_edge_of_their_bucket() -> None:
    counts = {"4": 1, "24": 2, "72": 1}  # four replies
    assert quantile(counts, HOUR_EDGES, 0.5) == Quantile(at_most=24)
    assert quantile(counts, HOUR_EDGES, 0.9) == Quantile(at_most=72)
    assert quantile({"inf": 1}, HOUR_EDGES, 0.5) == Quantile(at_most=None, over=720)
    assert quantile({}, HOUR_EDGES, 0.5) is None


@given(st.lists(st.floats(0, 2000), min_size=1, max_size=50), st.sampled_from([0.5, 0.9]))
def test_the_quantile_bucket_holds_the_true_quantile(values: list[float], q: float) -> None:
    counts: dict[str, int] = {}
    for value in values:
        bucket = bucket_of(value, HOUR_EDGES)
        counts[bucket] = counts.get(bucket, 0) + 1
    found = quantile(counts, HOUR_EDGES, q)
    assert found is not None
    true = sorted(values)[math.ceil(q * len(values)) - 1]
    if found.at_most is None:
        assert true > HOUR_EDGES[-1]
    else:
        assert true <= found.at_most
        lower = max([edge for edge in HOUR_EDGES if edge < found.at_most], default=-1)
        assert true > lower


def test_working_days_follow_the_official_calendar() -> None:
    # Friday before the 2026 Spring Festival (Feb 15-23 off, Feb 14 and 28 made working).
    friday = datetime(2026, 2, 13, 18, 0, tzinfo=CHINA)
    assert working_days_between(friday, datetime(2026, 2, 13, 20, 0, tzinfo=CHINA)) == 0
    assert working_days_between(friday, datetime(2026, 2, 14, 9, 0, tzinfo=CHINA)) == 1
    assert working_days_between(friday, datetime(2026, 2, 24, 9, 0, tzinfo=CHINA)) == 2
    uncovered = datetime(2031, 1, 2, 9, 0, tzinfo=CHINA)
    assert working_days_between(friday, uncovered) is None


def test_a_first_reply_counts_in_hours_working_days_and_on_time() -> None:
    contribution = contribution_of(facts_after([*HANDLED, (30, replied(30))]))
    assert contribution is not None and contribution.response is not None
    assert contribution.response.hours == "48" and contribution.response.on_time
    assert contribution.response.working_days == "1"  # Monday 09:00 to Tuesday 15:00 China
    moves = counter_moves(None, contribution)
    assert moves["202611/t"]["$inc"]["h.hz-001.hr.48"] == 1
    assert moves["2026Q4/t/hz-001"]["$inc"]["p.normal.on_time"] == 1


# --- recurrence, case library -------------------------------------------------------------


def test_the_complainant_key_matches_the_same_phone_written_differently() -> None:
    one = complainant_key("k", {"name": "张三", "phone": "+86 138-0000-1111"})
    assert one == complainant_key("k", {"phone": "13800001111"})
    assert one != complainant_key("other key", {"phone": "13800001111"})
    assert "13800001111" not in (one or "")
    assert complainant_key("k", {"name": "张三"}) is None  # a name alone joins strangers
    assert complainant_key("k", None) is None
    assert complainant_key("k", {"email": "A@Example.org"}) == complainant_key(
        "k", {"email": "a@example.org"}
    )
    assert staff_key("k", "13800001111") != complainant_key("k", {"phone": "13800001111"})


def test_the_person_complained_about_is_kept_as_a_keyed_hash_only() -> None:
    event = sample.received(target_staff_id="hz-001-finance-3", complainant_key="abc")
    change = change_for(event, occurred_at=sample.RECEIVED_AT, match_key="k")
    assert change.fields["target_staff_key"] == staff_key("k", "hz-001-finance-3")
    assert "hz-001-finance-3" not in str(change)
    assert change.fields["complainant_key"] == "abc"


def recurrence_document(ids_by_key: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "p": {key: {cid: 1 for cid in ids} for key, ids in ids_by_key.items()},
        "s": {"f" * 32: {"c1": 1, "c2": 1, "c3": 0}},  # one moved away: 2 left
        "n": {"c1": "HZ-1", "c2": "HZ-2", "c3": "HZ-3"},
    }


def test_a_complainant_counted_three_times_recurs_twice_does_not() -> None:
    document = recurrence_document({"a" * 32: ["c1", "c2", "c3"], "b" * 32: ["c4", "c5"]})
    [found] = analysis.recurrences("hz-001", document)
    assert found.kind == "complainant" and found.count == 3 and found.key == "a" * 8
    assert found.complaints == (("c1", "HZ-1"), ("c2", "HZ-2"), ("c3", "HZ-3"))


KEYS = ["a" * 32, "a1" + "0" * 30, "b" * 32]  # two share a bucket (first hex digit)
keyed = st.builds(
    Contribution,
    month=st.sampled_from(["202610", "202611"]),
    hospital=st.sampled_from(["hz-001", "hz-002"]),
    category=st.just("fees"),
    department=st.just("finance"),
    columns=st.just(frozenset({"received"})),
    case_number=st.sampled_from([None, "HZ-1"]),
    staff_key=st.none() | st.sampled_from(KEYS),
    complainant_key=st.none() | st.sampled_from(KEYS),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.none() | keyed), max_size=25))
def test_recurring_groups_moved_in_any_order_equal_the_ones_derived_afresh(
    steps: list[tuple[int, Contribution | None]],
) -> None:
    """Complaints counted, re-keyed and withdrawn in any order: the bureau's and each
    hospital's recurring groups, kept by `recurring_moves`, are what `recurring_documents`
    derives from the final counters."""
    moved: dict[str, dict[str, Any]] = {}
    now: dict[int, Contribution | None] = {}
    for n, contribution in steps:
        after = None if contribution is None else replace(contribution, complaint_id=f"c{n}")
        apply_moves(moved, counter_moves(now.get(n), after))
        now[n] = after
    fresh: dict[str, dict[str, Any]] = {}
    for contribution in now.values():
        apply_moves(fresh, counter_moves(None, contribution))
    fresh = {k: v for k, v in fresh.items() if not k.endswith(("/rb",)) and "/rr/" not in k}
    fresh.update(recurring_documents(fresh.values()))

    def kept(documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {k: figures(v) for k, v in documents.items() if figures(v) != {"_id": k}}

    assert kept(moved) == kept(fresh)
    assert {k for k in kept(moved) if k.endswith("/rb") or "/rr/" in k} == {
        k for k in fresh if k.endswith("/rb") or "/rr/" in k
    }


def test_a_group_reaching_three_is_listed_for_the_bureau_and_its_hospital() -> None:
    key = "a" * 32
    three = [
        Contribution(
            "202611",
            "hz-001",
            "fees",
            "finance",
            frozenset({"received"}),
            complaint_id=f"c{n}",
            case_number=f"HZ-{n}",
            complainant_key=key,
            staff_key="b" * 32 if n < 2 else None,  # two only: does not recur
        )
        for n in range(3)
    ]
    documents: dict[str, dict[str, Any]] = {}
    for contribution in three[:2]:
        apply_moves(documents, counter_moves(None, contribution))
    assert "2026Q4/rb" not in documents  # two complaints: not yet
    apply_moves(documents, counter_moves(None, three[2]))
    assert documents["2026Q4/rb"] == {"_id": "2026Q4/rb", "h": {"hz-001": {"p": {key: 3}}}}
    [bureau] = analysis.bureau_recurrences(documents["2026Q4/rb"])
    assert (bureau.kind, bureau.hospital_id, bureau.key, bureau.count) == (
        "complainant",
        "hz-001",
        key[:8],
        3,
    )
    assert bureau.complaints == ()  # listed hospital by hospital
    [own] = analysis.recurrences("hz-001", documents["2026Q4/rr/hz-001"])
    assert own.complaints == (("c0", "HZ-0"), ("c1", "HZ-1"), ("c2", "HZ-2"))
    # The third withdrawn (e.g. the key was wrong): the group is gone from both.
    apply_moves(documents, counter_moves(three[2], replace(three[2], complainant_key=None)))
    assert analysis.bureau_recurrences(documents["2026Q4/rb"]) == []
    assert analysis.recurrences("hz-001", documents["2026Q4/rr/hz-001"]) == []


def test_departments_with_three_complaints_recur() -> None:
    received = {"hz-001": {"finance": 3, "nursing": 2, "unassigned": 4}}
    assert analysis.department_recurrences(received) == [("hz-001", "finance", 3)]


def test_the_case_library_takes_major_reopened_and_bureau_cases() -> None:
    urgent = sample.assigned(due_at=sample.DUE, priority="urgent")
    major = contribution_of(facts_after([(0, sample.received(group=True)), (2, urgent)]))
    assert major is not None and major.library == {"major"}
    plain = contribution_of(facts_after(HANDLED))
    assert plain is not None and plain.library == frozenset()
    reopened = sample.reopened(at=at(40))
    bureau = sample.escalated(level="bureau")
    both = contribution_of(facts_after([*HANDLED, (40, reopened), (41, bureau)]))
    assert both is not None and both.library == {"reopened", "escalated_bureau"}
    moves = counter_moves(None, both)
    assert moves["2026Q4/k/hz-001"]["$inc"] == {
        "c.c-1.reopened": 1,
        "c.c-1.escalated_bureau": 1,
    }
    assert moves["2026Q4/k/hz-001"]["$set"] == {"n.c-1": sample.CASE_NUMBER}
    # The bureau's document only counts them: one case, by reason.
    assert moves["2026Q4/k"] == {
        "$inc": {"h.hz-001.reopened": 1, "h.hz-001.escalated_bureau": 1, "h.hz-001.total": 1}
    }
    documents = documents_of([both])
    cases = analysis.library_cases("hz-001", documents["2026Q4/k/hz-001"])
    assert [(c.complaint_id, c.case_number, c.reasons) for c in cases] == [
        ("c-1", sample.CASE_NUMBER, ("reopened", "escalated_bureau"))
    ]
    assert analysis.library_counts(documents["2026Q4/k"]) == {
        "hz-001": ({"reopened": 1, "escalated_bureau": 1}, 1)
    }


# --- the scorecard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "substantiated", "verdict"),
    [(9, 5, "flagged"), (9, 4, None), (0, 0, "commended"), (1, 0, None)],
)
def test_five_substantiated_flag_and_none_received_commends(
    received: int, substantiated: int, verdict: str | None
) -> None:
    assert analysis.verdict_of(received=received, substantiated=substantiated) == verdict


def test_the_scorecard_lists_the_region_departments_without_complaints() -> None:
    document = {
        "h": {
            "hz-001": {
                "finance": {"received": 7, "substantiated": 5, "partly": 2},
                "nursing": {"received": 6, "substantiated": 4, "partly": 2},
            },
            "hz-002": {"finance": {"received": 1}},
        },
        "dl": {"hz-001": {"finance": "财务科"}},
    }
    region = {"hz-001": {"finance": "财务科", "nursing": "护理部", "pharmacy": "药剂科"}}
    rows = analysis.scorecard(document, region, hospital="hz-001")
    assert [(r.department, r.substantiated, r.partly, r.verdict_label) for r in rows] == [
        ("finance", 5, 2, "需整改"),
        ("nursing", 4, 2, None),
        ("pharmacy", 0, 0, "表扬"),
    ]
    everyone = analysis.scorecard(document, region, hospital=None)
    assert {r.hospital_id for r in everyone} == {"hz-001", "hz-002"}
