"""FieldWrites merges the field writes of one document in a command into one statement
(shared/group_commit.py): fewer statements for the server, the same end state."""

from __future__ import annotations

from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st

from shared.group_commit import FieldWrites

writes = FieldWrites(cast(Any, None))  # statements() never touches the collection


def applied(document: dict[str, Any], update: dict[str, dict[str, Any]]) -> dict[str, Any]:
    after = dict(document)
    after.update(update.get("$set", {}))
    for path in update.get("$unset", {}):
        after.pop(path, None)
    return after


def test_writes_of_one_slot_merge_and_unsets_alone_never_create() -> None:
    statements, covers = writes.statements(
        [
            ("202612011559/07", {"$set": {"e.a~1": {"due": 1}}}),
            ("late/03", {"$unset": {"e.b~1": ""}}),
            ("202612011559/07", {"$set": {"e.c~1": {"due": 2}}}),
            ("202612011559/07", {"$unset": {"e.d~2": ""}}),
        ]
    )
    assert covers == [[0, 2, 3], [1]]
    merged, alone = statements
    assert merged._filter == {"_id": "202612011559/07"} and merged._upsert
    assert merged._doc == {
        "$set": {"e.a~1": {"due": 1}, "e.c~1": {"due": 2}},
        "$unset": {"e.d~2": ""},
    }
    assert alone._doc == {"$unset": {"e.b~1": ""}} and not alone._upsert
    assert writes.statement_count([("x", {}), ("y", {}), ("x", {})]) == 2


paths = st.sampled_from(["e.a", "e.b", "e.c"])
request = st.tuples(
    st.sampled_from(["s1", "s2"]),
    st.one_of(
        st.builds(lambda p, v: {"$set": {p: v}}, paths, st.integers(0, 9)),
        st.builds(lambda p: {"$unset": {p: ""}}, paths),
    ),
)


@given(st.lists(request, max_size=12))
def test_merged_statements_leave_what_the_requests_one_by_one_leave(
    requests: list[tuple[str, dict[str, dict[str, Any]]]],
) -> None:
    one_by_one: dict[str, dict[str, Any]] = {}
    for doc_id, update in requests:
        one_by_one[doc_id] = applied(one_by_one.get(doc_id, {}), update)
    statements, _ = writes.statements(list(requests))
    merged: dict[str, dict[str, Any]] = {}
    for statement in statements:
        doc_id = statement._filter["_id"]
        merged[doc_id] = applied(merged.get(doc_id, {}), statement._doc)
    assert {k: v for k, v in merged.items() if v} == {k: v for k, v in one_by_one.items() if v}
