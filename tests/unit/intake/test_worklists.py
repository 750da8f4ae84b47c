"""Intake's read models without servers (services/intake/domain/worklists.py): what a
complaint shows and where, and that any order and any repetition of a complaint's changes
leaves the views showing what its newest version says."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain import worklists
from services.intake.domain.complaint import ComplaintStatus
from services.intake.domain.worklists import (
    ACCEPTANCE,
    DEPARTMENT,
    HANDLER,
    OVERDUE,
    REGION,
    applied,
    day_view,
    rebuilt,
    shown,
    transition,
    views_of,
    worklist_view,
)
from shared.group_commit import merged_updates

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)  # 28 November in China
DUE = NOW + timedelta(days=10)


def complaint(version: int, status: str = "received", **fields: Any) -> dict[str, Any]:
    return {
        "_id": "c-1",
        "version": version,
        "hospital_id": "hz-001",
        "case_number": "HZ-001-202611-00001",
        "tracking_code": "12345678",
        "status": status,
        "channel": "phone",
        "kind": "complaint",
        "received_at": RECEIVED,
        "assignment": None,
        "escalations": [],
        **fields,
    }


def assignment(department: str = "finance", handler: str | None = "h-1") -> dict[str, Any]:
    person = {"staff_id": handler, "name": "王会计"} if handler else None
    return {"department": department, "category": "billing", "handler": person, "due_at": DUE}


def shown_everywhere(views: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {view_id: shown(view) for view_id, view in views.items() if shown(view)}


def test_a_received_complaint_is_in_its_days_and_the_acceptance_queue() -> None:
    views = views_of(complaint(1))
    assert views == {
        day_view("hz-001", date(2026, 11, 28)),
        day_view(REGION, date(2026, 11, 28)),
        worklist_view(ACCEPTANCE, "hz-001"),
    }


def test_a_handled_complaint_is_its_handlers_and_departments_and_overdue_when_past_due() -> None:
    handled = complaint(3, "in_progress", assignment=assignment())
    handled["assignment"]["co_departments"] = [{"code": "nursing"}]
    assert {
        worklist_view(HANDLER, "hz-001", "h-1"),
        worklist_view(DEPARTMENT, "hz-001", "finance"),
        worklist_view(DEPARTMENT, "hz-001", "nursing"),
    } <= views_of(handled)
    assert worklist_view(OVERDUE, "hz-001") not in views_of(handled)
    handled["escalations"] = [{"level": "reply_due", "due_at": DUE}]
    assert {worklist_view(OVERDUE, "hz-001"), worklist_view(OVERDUE, REGION)} <= views_of(handled)
    assert worklists.row_of(handled)["overdue"] is True


def test_an_extension_takes_a_case_off_the_overdue_list_until_its_new_deadline_passes() -> None:
    extended = complaint(5, "assigned", assignment=assignment())
    extended["assignment"]["due_at"] = DUE + timedelta(days=5)
    extended["escalations"] = [{"level": "reply_due", "due_at": DUE}]
    assert not worklists.is_overdue(extended)
    extended["escalations"].append({"level": "warning", "due_at": DUE + timedelta(days=5)})
    assert not worklists.is_overdue(extended)


def test_a_replied_or_closed_case_is_in_no_worklist() -> None:
    for status in ("replied", "closed", "not_accepted", "transferred"):
        replied = complaint(6, status, assignment=assignment())
        replied["escalations"] = [{"level": "reply_due", "due_at": DUE}]
        assert all(view.startswith("day:") for view in views_of(replied)), status


def test_a_case_that_moves_leaves_its_old_worklists() -> None:
    first = complaint(2, "assigned", assignment=assignment(handler="h-1"))
    moved = complaint(3, "assigned", assignment=assignment("nursing", handler="h-2"))
    views = applied({}, transition(None, complaint(1), now=NOW))
    views = applied(views, transition(complaint(1), first, now=NOW))
    assert shown(views[worklist_view(HANDLER, "hz-001", "h-1")]).keys() == {"c-1"}
    assert shown(views[worklist_view(ACCEPTANCE, "hz-001")]) == {}
    views = applied(views, transition(first, moved, now=NOW))
    assert shown(views[worklist_view(HANDLER, "hz-001", "h-1")]) == {}
    assert shown(views[worklist_view(HANDLER, "hz-001", "h-2")])["c-1"]["v"] == 3
    assert shown(views[day_view("hz-001", date(2026, 11, 28))])["c-1"]["department"] == "nursing"
    # Old rows are removed, not only hidden.
    assert list(views[day_view("hz-001", date(2026, 11, 28))]["rows"]) == ["c-1_v3"]


# --- any order, any repetition ------------------------------------------------------------

STATUSES = [s.value for s in ComplaintStatus]


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A complaint's versions 1..n, each a random state of the case."""
    versions = [complaint(1)]
    for version in range(2, draw(st.integers(2, 12)) + 1):
        status = draw(st.sampled_from(STATUSES))
        routed = draw(st.booleans())
        state = complaint(
            version,
            status,
            assignment=assignment(
                draw(st.sampled_from(["finance", "nursing"])),
                handler=draw(st.sampled_from(["h-1", "h-2", None])),
            )
            if routed
            else None,
        )
        if routed and draw(st.booleans()):
            state["assignment"]["co_departments"] = [{"code": "pharmacy"}]
        if draw(st.booleans()):
            level = draw(st.sampled_from(["warning", "reply_due", "acceptance_due", "leadership"]))
            state["escalations"] = [{"level": level, "due_at": DUE}]
        versions.append(state)
    return versions


@settings(max_examples=300, deadline=None)
@given(data=st.data(), history=histories())
def test_any_order_and_duplication_of_the_changes_converges_to_the_newest_version(
    data: st.DataObject, history: list[dict[str, Any]]
) -> None:
    changes = [(None, history[0])] + list(zip(history, history[1:], strict=False))
    # Every change at least once, some again, in any order (redeliveries, retries).
    again = data.draw(st.lists(st.sampled_from(changes), max_size=len(changes)))
    delivered = data.draw(st.permutations(changes + again))
    views: dict[str, Any] = {}
    for before, after in delivered:
        views = applied(views, transition(before, after, now=NOW))
    assert shown_everywhere(views) == shown_everywhere(rebuilt([history[-1]]))
    assert views["span:hz-001"]["first"] == "2026-11-28"


@settings(max_examples=200, deadline=None)
@given(data=st.data(), history=histories())
def test_writes_merged_into_one_statement_per_view_show_what_they_show_one_by_one(
    data: st.DataObject, history: list[dict[str, Any]]
) -> None:
    changes = [(None, history[0])] + list(zip(history, history[1:], strict=False))
    delivered = data.draw(st.permutations(changes))
    at = data.draw(st.sampled_from([NOW, NOW + timedelta(hours=1), NOW + timedelta(hours=2)]))
    writes = [w for before, after in delivered for w in transition(before, after, now=at)]
    one_by_one = applied({}, writes)
    together = applied({}, merged_updates(writes))
    assert shown_everywhere(together) == shown_everywhere(one_by_one)
    assert len(merged_updates(writes)) == len({view for view, _ in writes})


def test_a_tombstone_older_than_two_hours_is_cleared_by_the_next_write() -> None:
    first = complaint(2, "assigned", assignment=assignment(handler="h-1"))
    moved = complaint(3, "assigned", assignment=assignment(handler="h-2"))
    view = worklist_view(HANDLER, "hz-001", "h-1")
    views = applied({}, transition(first, moved, now=NOW))
    assert views[view]["gone"] != {}
    later = complaint(4, "assigned", assignment=assignment(handler="h-1"))
    views = applied(views, transition(moved, later, now=NOW + timedelta(hours=2)))
    assert all(not slot for slot in views[view]["gone"].values())
    assert shown(views[view])["c-1"]["v"] == 4


def test_a_walk_back_reads_at_most_so_many_days_and_stops_at_the_first() -> None:
    start = date(2026, 11, 30)
    assert worklists.days_back(start, stop=date(2026, 11, 28), at_most=31) == [
        date(2026, 11, 30),
        date(2026, 11, 29),
        date(2026, 11, 28),
    ]
    assert len(worklists.days_back(start, stop=date(2025, 1, 1), at_most=31)) == 31
    assert worklists.days_back(start, stop=date(2026, 12, 1), at_most=31) == []
