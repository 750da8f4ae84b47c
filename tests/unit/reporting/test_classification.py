"""What one complaint adds to the monthly classification table, column by column, and how
a change of its facts moves the counter documents. Facts are folded in memory with the
adapter's own updates (test_facts.fold); no servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting.domain.classification import (
    CATEGORIES_ID,
    COLUMNS,
    NOT_ACCEPTED_REASONS,
    Contribution,
    apply_moves,
    apply_update,
    bureau_table,
    contribution_of,
    counter_documents,
    counter_moves,
    figures,
    hospital_table,
    unpacked,
)
from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.deadline import reply_due_at
from shared.contracts import CHINA, EventPayload
from tests.support import events as sample
from tests.unit.reporting.test_facts import envelope, fold

T0 = sample.RECEIVED_AT  # 2026-11-02 09:00 China
DUE = sample.DUE  # that Friday, end of day
EXTENDED_DUE = sample.EXTENDED_DUE


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


Step = tuple[float, EventPayload]


def facts_after(steps: list[Step], order: list[int] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for n in order if order is not None else range(len(steps)):
        hours, event = steps[n]
        fold(document, envelope(hours, event, n), event)
    return document


def row_moved(update: dict[str, Any], hospital: str) -> dict[str, int]:
    """A category document's `$inc` of one hospital's row, by column (three columns are
    packed in each field: classification.unpacked)."""
    prefix = f"h.{hospital}."
    row: dict[str, Any] = {}
    for path, n in update["$inc"].items():
        if path.startswith(prefix):
            apply_update(row, {"$inc": {path.removeprefix(prefix): n}})
    return unpacked(row)


def columns(steps: list[Step]) -> set[str]:
    contribution = contribution_of(facts_after(steps))
    assert contribution is not None
    return set(contribution.columns)


def replied(hours: float, round_: int = 0) -> EventPayload:
    return sample.replied(replied_at=at(hours), response_seconds=hours * 3600, round=round_)


def overdue(due: datetime = DUE, level: str = "reply_due") -> EventPayload:
    return sample.overdue(due_at=due, level=level)


RECEIVED: Step = (0, sample.received())
ACCEPTED: Step = (1, sample.accepted(at=at(1)))
ASSIGNED: Step = (2, sample.assigned(due_at=DUE))
HANDLED: list[Step] = [RECEIVED, ACCEPTED, ASSIGNED]
LATE = (DUE - T0).total_seconds() / 3600 + 1  # an hour after the deadline


# --- each column ---------------------------------------------------------------------------


def test_nothing_counts_before_the_receipt_is_known() -> None:
    assert contribution_of(facts_after([ASSIGNED])) is not None  # assigned carries it
    assert contribution_of(facts_after([(5, overdue())])) is None


def test_a_received_complaint_is_open_in_its_month_hospital_category_and_department() -> None:
    assert columns([RECEIVED]) == {"received", "open"}
    contribution = contribution_of(facts_after(HANDLED))
    assert contribution == Contribution(
        month="202611",
        hospital="hz-001",
        category="fees",
        department="finance",
        columns=frozenset({"received", "accepted", "open"}),
        category_label="收费物价",
        department_label="财务科",
        complaint_id="c-1",
        case_number=sample.CASE_NUMBER,
    )


def test_the_month_is_china_time() -> None:
    # 2026-11-30 17:00 UTC is December 1st 01:00 in China.
    late_evening = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    contribution = contribution_of(facts_after([(0, sample.received(received_at=late_evening))]))
    assert contribution is not None and contribution.month == "202612"


def test_unrouted_and_unassigned_rows() -> None:
    contribution = contribution_of(facts_after([RECEIVED]))
    assert contribution is not None
    assert (contribution.category, contribution.department) == ("unrouted", "unassigned")


@pytest.mark.parametrize("reason", sorted(NOT_ACCEPTED_REASONS))
def test_a_not_accepted_complaint_counts_under_its_reason(reason: str) -> None:
    refused = sample.not_accepted(reason=reason, reason_label="…")
    assert columns([RECEIVED, (1, refused)]) == {"received", f"not_accepted.{reason}"}


def test_an_unknown_reason_still_counts_under_its_code() -> None:
    refused = sample.not_accepted(reason="new_rule", reason_label="新规")
    assert columns([RECEIVED, (1, refused)]) == {"received", "not_accepted.new_rule"}


def test_transferred_and_resolved_on_the_spot_are_not_open() -> None:
    assert columns([RECEIVED, (1, sample.transferred())]) == {"received", "transferred"}
    assert columns([RECEIVED, (1, sample.resolved_on_spot())]) == {"received", "resolved_on_spot"}


def test_accepted_then_transferred_counts_both() -> None:
    assert columns([RECEIVED, ACCEPTED, (3, sample.transferred())]) == {
        "received",
        "accepted",
        "transferred",
    }


def test_awaiting_a_supplement_is_open_then_accepted_on_supplement() -> None:
    waiting = [RECEIVED, (1, sample.supplement_requested())]
    assert columns(waiting) == {"received", "open"}
    assert columns([*waiting, (5, sample.supplemented(at=at(5)))]) == {
        "received",
        "accepted",
        "open",
    }


def test_replied_before_the_deadline_is_on_time_and_no_longer_open() -> None:
    assert columns([*HANDLED, (10, replied(10))]) == {"received", "accepted", "replied_on_time"}


def test_replied_after_the_deadline_is_late_and_overdue() -> None:
    assert columns([*HANDLED, (LATE, replied(LATE))]) == {
        "received",
        "accepted",
        "replied_late",
        "overdue",
    }


CALENDAR = WorkingCalendar()
# Received the Friday evening before the Spring Festival 2026 (Feb 15-23 off, Saturday
# Feb 14 and Saturday Feb 28 worked): five working days end on Saturday Feb 28.
FESTIVE_RECEIPT = datetime(2026, 2, 13, 18, 0, tzinfo=CHINA)
FESTIVE_DUE = reply_due_at(FESTIVE_RECEIPT, 5, CALENDAR)


def festive(reply_at: datetime) -> set[str]:
    hours = (reply_at - FESTIVE_RECEIPT).total_seconds() / 3600
    steps: list[Step] = [
        (0, sample.received(received_at=FESTIVE_RECEIPT)),
        (0.1, sample.accepted(at=FESTIVE_RECEIPT)),
        (0.2, sample.assigned(received_at=FESTIVE_RECEIPT, due_at=FESTIVE_DUE)),
        (hours, sample.replied(received_at=FESTIVE_RECEIPT, replied_at=reply_at)),
    ]
    document: dict[str, Any] = {}
    for n, (h, event) in enumerate(steps):
        fold(
            document,
            envelope(0, event, n).model_copy(
                update={"occurred_at": FESTIVE_RECEIPT + timedelta(hours=h)}
            ),
            event,
        )
    contribution = contribution_of(document)
    assert contribution is not None and contribution.month == "202602"
    return set(contribution.columns)


def test_a_holiday_crossing_deadline_replied_on_its_last_day_is_on_time() -> None:
    assert FESTIVE_DUE.astimezone(CHINA).date().isoformat() == "2026-02-28"
    assert "replied_on_time" in festive(datetime(2026, 2, 28, 21, 30, tzinfo=CHINA))
    assert "replied_late" in festive(datetime(2026, 3, 1, 9, 0, tzinfo=CHINA))


def test_an_extension_before_the_reply_moves_the_deadline_in_force() -> None:
    extension: list[Step] = [
        (20, sample.deadline_changed(due_at=EXTENDED_DUE, previous_due_at=DUE)),
        (20.5, sample.extended(at=at(20.5), due_at=EXTENDED_DUE)),
    ]
    steps = [*HANDLED, *extension, (LATE, replied(LATE))]
    assert "replied_on_time" in columns(steps)
    # Whatever order the events arrive in.
    for order in ([5, 4, 3, 2, 1, 0], [5, 0, 1, 3, 2, 4]):
        contribution = contribution_of(facts_after(steps, order))
        assert contribution is not None and "replied_on_time" in contribution.columns


def test_a_re_review_deadline_after_the_reply_does_not_make_a_late_reply_on_time() -> None:
    steps: list[Step] = [
        *HANDLED,
        (LATE, replied(LATE)),
        (LATE + 10, sample.closed(at=at(LATE + 10), satisfaction="dissatisfied")),
        (LATE + 20, sample.reopened(at=at(LATE + 20))),
        (LATE + 21, sample.deadline_changed(due_at=DUE + timedelta(days=30), reason="重新核实")),
    ]
    assert columns(steps) == {"received", "accepted", "replied_late", "overdue", "open"}


def test_closed_counts_the_finding_and_the_return_visit() -> None:
    for finding, column in (
        ("substantiated", "substantiated"),
        ("partly_substantiated", "partly"),
        ("unsubstantiated", "unsubstantiated"),
    ):
        for satisfaction, visit in (
            ("satisfied", "satisfied"),
            ("basically_satisfied", "basically"),
            ("dissatisfied", "dissatisfied"),
        ):
            closing = sample.closed(at=at(20), satisfaction=satisfaction, finding=finding)
            assert columns([*HANDLED, (10, replied(10)), (20, closing)]) == {
                "received",
                "accepted",
                "replied_on_time",
                column,
                visit,
            }


def test_a_reopened_case_leaves_the_closed_columns_and_is_open_again() -> None:
    closing = (20, sample.closed(at=at(20), finding="substantiated"))
    before = contribution_of(facts_after([*HANDLED, (10, replied(10)), closing]))
    after = contribution_of(
        facts_after([*HANDLED, (10, replied(10)), closing, (30, sample.reopened(at=at(30)))])
    )
    assert after is not None and after.columns == {
        "received",
        "accepted",
        "replied_on_time",
        "open",
    }
    moves = counter_moves(before, after)
    assert row_moved(moves["202611/c/fees"], "hz-001") == {
        "substantiated": -1,
        "satisfied": -1,
        "open": 1,
    }
    assert "$set" not in moves["202611/c/fees"]  # same place, same labels


def test_overdue_while_running_until_an_extension_or_the_reply() -> None:
    flagged = [*HANDLED, (LATE - 0.5, overdue())]
    contribution = contribution_of(facts_after(flagged))
    assert contribution is not None and contribution.overdue_open
    assert contribution.columns == {"received", "accepted", "open", "overdue"}
    extended = [*flagged, (LATE, sample.extended(at=at(LATE), due_at=EXTENDED_DUE))]
    contribution = contribution_of(facts_after(extended))
    assert contribution is not None and not contribution.overdue_open
    assert "overdue" not in contribution.columns
    answered = [*flagged, (LATE + 1, replied(LATE + 1))]
    contribution = contribution_of(facts_after(answered))
    assert contribution is not None and not contribution.overdue_open
    assert {"replied_late", "overdue"} <= contribution.columns


def test_an_acceptance_or_action_deadline_passing_is_not_the_reply_overdue() -> None:
    for level in ("acceptance_due", "action_due"):
        contribution = contribution_of(facts_after([*HANDLED, (3, overdue(level=level))]))
        assert contribution is not None and not contribution.overdue_open


def test_each_escalation_level_reached_counts_once() -> None:
    steps = [
        *HANDLED,
        (LATE, sample.escalated(level="complaint_office")),
        (LATE + 30, sample.escalated(level="leadership")),
        (LATE + 31, sample.escalated(level="leadership", reason="再次督办")),
    ]
    assert {c for c in columns(steps) if c.startswith("escalated.")} == {
        "escalated.complaint_office",
        "escalated.leadership",
    }


def test_every_known_column_has_a_chinese_header() -> None:
    assert all(label and not label.isascii() for label in COLUMNS.values())


# --- counter moves -------------------------------------------------------------------------


def test_no_change_moves_nothing() -> None:
    contribution = contribution_of(facts_after(HANDLED))
    assert counter_moves(contribution, contribution) == {}


def test_the_first_count_writes_each_document_by_id() -> None:
    moves = counter_moves(None, contribution_of(facts_after(HANDLED)))
    rolled_up = {
        f"{period}/{kind}"
        for period in ("202611", "2026Q4", "2026")
        for kind in ("c/fees", "h/hz-001")
    }
    assert set(moves) == {*rolled_up, "2026Q4/b", "2026/s", "categories"}
    for period in ("202611", "2026Q4", "2026"):
        assert set(moves[f"{period}/c/fees"]) == {"$inc"}
        assert row_moved(moves[f"{period}/c/fees"], "hz-001") == {
            "received": 1,
            "accepted": 1,
            "open": 1,
        }
    hospital = moves["202611/h/hz-001"]
    assert hospital["$inc"]["c.fees.received"] == 1
    assert hospital["$inc"]["d.finance.fees.open"] == 1
    assert hospital["$set"] == {"dl.finance": "财务科"}
    assert moves["categories"] == {"$set": {"c.fees": 1, "h.hz-001": 1, "l.fees": "收费物价"}}


def test_a_reroute_moves_the_case_between_departments_and_categories() -> None:
    before = contribution_of(facts_after(HANDLED))
    rerouted = sample.assigned(due_at=DUE, revision=2, **sample.NURSING)
    after = contribution_of(facts_after([*HANDLED, (5, rerouted)]))
    moves = counter_moves(before, after)
    assert row_moved(moves["202611/c/fees"], "hz-001")["open"] == -1
    assert row_moved(moves["202611/c/nursing"], "hz-001")["open"] == 1
    hospital = moves["202611/h/hz-001"]["$inc"]
    assert hospital["d.finance.fees.received"] == -1 and hospital["d.nursing.nursing.received"] == 1
    assert moves["202611/h/hz-001"]["$set"] == {"dl.nursing": "护理部"}


def test_an_overdue_case_moves_the_gauge_document() -> None:
    running = contribution_of(facts_after(HANDLED))
    flagged = contribution_of(facts_after([*HANDLED, (LATE - 0.5, overdue())]))
    answered = contribution_of(
        facts_after([*HANDLED, (LATE - 0.5, overdue()), (LATE, replied(LATE))])
    )
    assert counter_moves(running, flagged)["overdue"] == {"$inc": {"h.hz-001": 1}}
    assert counter_moves(flagged, answered)["overdue"] == {"$inc": {"h.hz-001": -1}}


def test_codes_with_dots_stay_one_field() -> None:
    odd = facts_after(HANDLED) | {"hospital_id": "hz.001", "department": "a.b"}
    moves = counter_moves(None, contribution_of(odd))
    assert "d.a%2Eb.fees.received" in moves["202611/h/hz%2E001"]["$inc"]
    document: dict[str, Any] = {"_id": "202611/h/hz%2E001"}
    apply_update(document, moves["202611/h/hz%2E001"])
    [(_, department, _)] = hospital_table([document], {}).nonzero_rows()
    assert department == "a.b"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["hz-001", "hz-002"]),
            st.sampled_from(["fees", "nursing"]),
            st.frozensets(st.sampled_from([*COLUMNS, "not_accepted.new_reason"]), min_size=1),
            st.sampled_from([1, 1, 1, -1]),  # -1: a move whose counting was lost (a crash)
        ),
        max_size=30,
    )
)
def test_the_bureau_rows_read_back_every_column_packed_or_not(
    moves: list[tuple[str, str, frozenset[str], int]],
) -> None:
    """Three columns share a field in the category documents: whatever the counts, even
    negative ones, each column reads back as its own sum."""
    documents: dict[str, dict[str, Any]] = {}
    expected: dict[tuple[str, str], dict[str, int]] = {}
    for hospital, category, counted, sign in moves:
        one = Contribution("202611", hospital, category, "finance", counted)
        apply_moves(documents, counter_moves(*((None, one) if sign > 0 else (one, None))))
        row = expected.setdefault((category, hospital), {})
        for column in counted:
            row[column] = row.get(column, 0) + sign
    months = [doc for doc_id, doc in documents.items() if doc_id.startswith("202611/c/")]
    table = bureau_table(months, {})
    assert {(category, unit): row for category, unit, row in table.nonzero_rows()} == {
        key: {column: n for column, n in row.items() if n}
        for key, row in expected.items()
        if any(row.values())
    }


# --- live equals rebuild -------------------------------------------------------------------

HISTORY: list[Step] = [
    RECEIVED,
    ACCEPTED,
    ASSIGNED,
    (LATE - 0.5, overdue()),
    (LATE, sample.escalated(level="complaint_office")),
    (LATE + 1, sample.assigned(due_at=DUE, revision=2, **sample.NURSING)),
    (LATE + 2, replied(LATE + 2)),
    (LATE + 3, sample.closed(at=at(LATE + 3), finding="partly_substantiated")),
    (LATE + 4, sample.reopened(at=at(LATE + 4))),
    (LATE + 5, sample.deadline_changed(due_at=DUE + timedelta(days=30), reason="重新核实")),
    (LATE + 6, replied(LATE + 6, round_=1)),
    (
        LATE + 7,
        sample.closed(
            at=at(LATE + 7), satisfaction="dissatisfied", finding="substantiated", round=1
        ),
    ),
]


def live(order: list[int]) -> dict[str, dict[str, Any]]:
    """The counters as the consumer moves them, event by event, in this order."""
    documents: dict[str, dict[str, Any]] = {}
    facts: dict[str, Any] = {}
    for n in order:
        hours, event = HISTORY[n]
        before = contribution_of(facts)
        fold(facts, envelope(hours, event, n), event)
        apply_moves(documents, counter_moves(before, contribution_of(facts)))
    return documents


@settings(max_examples=150, deadline=None)
@given(
    st.permutations(range(len(HISTORY))),
    st.lists(st.integers(0, len(HISTORY) - 1), max_size=5),
)
def test_counters_moved_in_any_order_equal_the_counters_rebuilt_from_the_facts(
    order: list[int], again: list[int]
) -> None:
    moved = live([*order, *again])
    rebuilt = counter_documents([facts_after(HISTORY, [*order, *again])])
    assert {
        k: figures(v) for k, v in moved.items() if figures(v) != {"_id": k} and k != CATEGORIES_ID
    } == {k: figures(v) for k, v in rebuilt.items() if k != CATEGORIES_ID}
    # Row headers: the live ones may still name where the case counted before.
    for doc_id, document in rebuilt.items():
        for group in ("c", "l") if doc_id == CATEGORIES_ID else ("dl",):
            rebuilt_labels = flatten_labels(document.get(group, {}))
            assert rebuilt_labels.items() <= flatten_labels(moved[doc_id].get(group, {})).items()


def flatten_labels(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"hz-001": {"nursing": "护理部"}}` → `{"hz-001.nursing": "护理部"}` (the scorecard's)."""
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            flat |= flatten_labels(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_the_history_ends_in_one_row_of_the_bureau_and_the_hospital_table() -> None:
    rebuilt = counter_documents([facts_after(HISTORY)])
    bureau = bureau_table([rebuilt["202611/c/nursing"]], {"nursing": "护理"}).nonzero_rows()
    expected = {
        "received": 1,
        "accepted": 1,
        "replied_late": 1,
        "overdue": 1,
        "substantiated": 1,
        "dissatisfied": 1,
        "escalated.complaint_office": 1,
    }
    assert bureau == [("nursing", "hz-001", expected)]
    hospital = hospital_table([rebuilt["202611/h/hz-001"]], {}).nonzero_rows()
    assert hospital == [("nursing", "nursing", expected)]


def test_the_order_of_the_columns_is_the_storage_format_of_the_packed_fields() -> None:
    """Column i counts in digit i % 3 of field w<i // 3> of the bureau's rows: a column
    inserted anywhere but at the end would read every stored count under another name."""
    from services.reporting.domain.classification import PACKED

    assert list(PACKED)[:22] == [
        "received",
        "accepted",
        "not_accepted.in_court_or_mediation",
        "not_accepted.handled_by_authority_or_petition",
        "not_accepted.no_clear_target_or_facts",
        "not_accepted.police_or_criminal",
        "not_accepted.outside_remit",
        "transferred",
        "resolved_on_spot",
        "replied_on_time",
        "replied_late",
        "open",
        "overdue",
        "substantiated",
        "partly",
        "unsubstantiated",
        "satisfied",
        "basically",
        "dissatisfied",
        "escalated.complaint_office",
        "escalated.leadership",
        "escalated.bureau",
    ]
