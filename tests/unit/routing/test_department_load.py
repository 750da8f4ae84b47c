"""The department loads' entries (adapters/clocks.py DepartmentLoad): each open clock with a
handler is listed in its department's document under its complaint id, set and unset from
the clock before and after each change, written again from the clock on a redelivery.
Whatever the order in which a clock's events arrive and however often, the documents come
to what the rebuild writes from the clocks; a write a crash lost is repaired by the
redelivery it causes, leaving at most an entry in a department the clock has left, which
delegation drops when it reads the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pymongo import UpdateOne

from services.routing.adapters.clocks import (
    OPEN,
    PAUSED,
    STOPPED,
    LoadMoves,
    apply_load_moves,
    handler_loads,
    load_documents,
    load_entry,
    load_moves,
    load_repair,
)
from shared.group_commit import FieldWrites

HOSPITAL = "hz-001"
DEPARTMENTS = ("finance", "nursing")
HANDLERS = ("hz-001-finance-1", "hz-001-nursing-2", None)

# One change of a clock: the fields an event sets (department, handler, status).
changes = st.fixed_dictionaries(
    {},
    optional={
        "department": st.sampled_from(DEPARTMENTS),
        "handler_id": st.sampled_from(HANDLERS),
        "status": st.sampled_from((OPEN, PAUSED, STOPPED)),
    },
)
starts = st.fixed_dictionaries(
    {"department": st.sampled_from(DEPARTMENTS), "handler_id": st.sampled_from(HANDLERS)}
)
# Per clock: its start, then its changes.
histories = st.lists(st.tuples(starts, st.lists(changes, max_size=5)), min_size=1, max_size=3)


@dataclass
class Routing:
    """Routing's clocks and load documents, in memory: each delivery of an event changes
    the clock once (its id joins the applied ones) and writes `load_moves`; a redelivery
    writes `load_repair`, as ClockStore does."""

    events: list[list[dict[str, Any]]]
    clocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    documents: dict[str, dict[str, str]] = field(default_factory=dict)

    def deliver(self, clock_no: int, event_no: int, *, lose_write: bool = False) -> bool:
        """Deliver one event; False when its clock is not started yet (it waits)."""
        complaint_id = f"c{clock_no}"
        current = self.clocks.get(complaint_id)
        fields = self.events[clock_no][event_no]
        if event_no == 0 and current is None:
            clock = {"_id": complaint_id, "hospital_id": HOSPITAL, "status": OPEN, "applied": {0}}
            self.clocks[complaint_id] = clock | fields
            moves = load_moves(None, self.clocks[complaint_id])
        elif current is None:
            return False
        elif event_no in current["applied"]:
            moves = load_repair(current)
        else:
            after = current | fields | {"applied": current["applied"] | {event_no}}
            self.clocks[complaint_id] = after
            moves = load_moves(current, after)
        if not lose_write:
            apply_load_moves(self.documents, moves)
        return True

    def listed(self) -> dict[str, dict[str, str]]:
        return {key: cases for key, cases in self.documents.items() if cases}

    def rebuilt(self) -> dict[str, dict[str, str]]:
        return load_documents(self.clocks.values())


def deliveries(draw: st.DrawFn, events: list[list[dict[str, Any]]]) -> list[tuple[int, int]]:
    """Every event of every clock at least once, in any order, some more than once."""
    every = [(c, e) for c, history in enumerate(events) for e in range(len(history))]
    again = draw(st.lists(st.sampled_from(every), max_size=6))
    return draw(st.permutations(every + again))


@st.composite
def routings(draw: st.DrawFn) -> tuple[Routing, list[tuple[int, int]]]:
    events = [[start, *later] for start, later in draw(histories)]
    return Routing(events), deliveries(draw, events)


def run(routing: Routing, order: list[tuple[int, int]], lost: set[int] = frozenset()) -> None:
    """Deliver in `order`; an event that waits for its clock comes again after the rest,
    and one whose load write was lost (`lost`: positions in `order`) comes again later."""
    waiting = list(order)
    position = 0
    while waiting:
        clock_no, event_no = waiting.pop(0)
        lose = position in lost
        position += 1
        if not routing.deliver(clock_no, event_no, lose_write=lose):
            waiting.append((clock_no, event_no))
        elif lose:  # not acknowledged: the broker delivers it again
            waiting.insert(len(waiting) // 2, (clock_no, event_no))


@settings(max_examples=300, deadline=None)
@given(routings())
def test_any_order_and_repetition_of_events_comes_to_the_rebuild(
    case: tuple[Routing, list[tuple[int, int]]],
) -> None:
    routing, order = case
    run(routing, order)
    assert routing.listed() == routing.rebuilt()
    for key, cases in routing.listed().items():
        open_clocks = [c for c in routing.clocks.values() if (load_entry(c) or ("",))[0] == key]
        assert sum(handler_loads(cases).values()) == len(open_clocks)


@settings(max_examples=300, deadline=None)
@given(routings(), st.sets(st.integers(min_value=0, max_value=12), max_size=4))
def test_a_lost_write_is_repaired_by_its_redelivery_up_to_entries_delegation_drops(
    case: tuple[Routing, list[tuple[int, int]]], lost: set[int]
) -> None:
    routing, order = case
    run(routing, order, lost)
    rebuilt, listed = routing.rebuilt(), routing.listed()
    # Every open clock is listed where it is, under its handler: none is missed.
    for key, cases in rebuilt.items():
        assert listed.get(key, {}).items() >= cases.items()
    # What else is listed names a clock that is not there with that handler: reading the
    # clock, delegation leaves it out, so it answers as the rebuilt documents would.
    for key, cases in listed.items():
        for complaint_id, handler in cases.items():
            if rebuilt.get(key, {}).get(complaint_id) != handler:
                assert load_entry(routing.clocks[complaint_id]) != (key, handler)


def test_a_clock_moving_within_its_department_is_one_set_and_an_unchanged_one_nothing() -> None:
    before = {
        "_id": "c1",
        "hospital_id": HOSPITAL,
        "department": "finance",
        "handler_id": "hz-001-finance-2",
        "status": OPEN,
    }
    delegated = before | {"handler_id": "hz-001-finance-3"}
    assert load_moves(before, delegated) == {
        "hz-001:finance": {"$set": {"cases.c1": "hz-001-finance-3"}}
    }
    assert load_moves(before, before | {"status": PAUSED}) == {}
    assert load_moves(before, before | {"department": "nursing"}) == {
        "hz-001:finance": {"$unset": {"cases.c1": ""}},
        "hz-001:nursing": {"$set": {"cases.c1": "hz-001-finance-2"}},
    }
    assert load_moves(before, before | {"status": STOPPED}) == {
        "hz-001:finance": {"$unset": {"cases.c1": ""}}
    }


def test_the_moves_of_changes_handled_together_go_as_one_statement_per_document() -> None:
    moves: list[LoadMoves] = [
        {"hz-001:finance": {"$set": {"cases.c1": "f1"}}},
        {
            "hz-001:finance": {"$set": {"cases.c2": "f2"}},
            "hz-001:nursing": {"$unset": {"cases.c2": ""}},
        },
        {"hz-001:nursing": {"$unset": {"cases.c3": ""}}},
        {"hz-001:finance": {"$unset": {"cases.c1": ""}}},  # a later move of c1 wins
    ]
    requests = [item for move in moves for item in move.items()]
    writes = FieldWrites.__new__(FieldWrites)
    statements, covers = writes.statements(requests)
    assert writes.statement_count(requests) == 2
    assert statements == [
        UpdateOne(
            {"_id": "hz-001:finance"},
            {"$set": {"cases.c2": "f2"}, "$unset": {"cases.c1": ""}},
            upsert=True,
        ),
        # An unset alone never creates a document.
        UpdateOne(
            {"_id": "hz-001:nursing"}, {"$unset": {"cases.c2": "", "cases.c3": ""}}, upsert=False
        ),
    ]
    assert covers == [[0, 1, 4], [2, 3]]
