"""The append-only, tamper-evident timeline (不得涂改、撕毁、造假): chains verify, survive a
MongoDB round trip, and every kind of tampering is caught at the right entry."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import bson
import pytest
from bson.codec_options import CodecOptions
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.intake.domain.timeline import (
    ChainVerdict,
    append,
    canonical,
    genesis,
    verify,
)

CID = "c-8f2e"
OTHER = "c-1a7b"
CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 1, 30, 15, 123456, tzinfo=UTC)

# A case as the office would record it (notes in Chinese, as the staff write them).
STEPS: list[dict[str, Any]] = [
    {"type": "received", "by": "s-001", "note": "患者家属来访，反映候诊时间过长"},
    {
        "type": "accepted",
        "by": "s-002",
        "note": "符合受理条件，予以受理",
        "data": {"case_type": "simple"},
    },
    {
        "type": "assigned",
        "by": "routing",
        "note": "分派至门诊部",
        "data": {
            "department": "outpatient",
            "due": datetime(2026, 3, 9, 9, 0, 0, 987654, tzinfo=CST),
        },
    },
    {"type": "note", "by": "s-010", "note": "调查情况：当日挂号量激增，已调配人手"},
    {
        "type": "replied",
        "by": "s-010",
        "note": "已电话答复投诉人，投诉人表示理解",
        "data": {"channels": ["phone", "sms"], "satisfaction": None, "score": 4.5},
    },
]


def build(complaint_id: str = CID, steps: list[dict[str, Any]] = STEPS) -> tuple[list, dict]:
    entries: list[dict[str, Any]] = []
    head = None
    for minutes, step in enumerate(steps):
        entry, head = append(complaint_id, head, at=T0 + timedelta(minutes=minutes), **step)
        entries.append(entry)
    return entries, head


def through_bson(document: dict[str, Any], *, tz_aware: bool) -> dict[str, Any]:
    """What PyMongo hands back after the server stored ``document``."""
    return bson.decode(bson.encode(document), codec_options=CodecOptions(tz_aware=tz_aware))


def naive_ms(value: Any) -> Any:
    """A hand-made Mongo round trip: naive UTC datetimes, microseconds cut to milliseconds."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).replace(tzinfo=None)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, dict):
        return {key: naive_ms(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [naive_ms(item) for item in value]
    return value


@pytest.fixture
def shanghai_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with the process in China time, as a hospital server would be: a naive
    datetime must still mean UTC, never the local wall clock."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- a sound chain ------------------------------------------------------------------------


def test_a_recorded_case_verifies() -> None:
    entries, head = build()
    verdict = verify(CID, entries, head)
    assert verdict == ChainVerdict(ok=True, count=5, head_hash=entries[-1]["hash"])
    assert head == {"count": 5, "hash": entries[-1]["hash"]}
    assert [entry["seq"] for entry in entries] == [0, 1, 2, 3, 4]
    assert entries[0]["prev"] == genesis(CID)
    for earlier, later in zip(entries, entries[1:], strict=False):
        assert later["prev"] == earlier["hash"]


def test_an_empty_timeline_verifies() -> None:
    assert verify(CID, [], None) == ChainVerdict(ok=True, count=0, head_hash=None)
    assert verify(CID, [], {"count": 0, "hash": None}).ok


def test_genesis_binds_the_chain_to_its_complaint() -> None:
    assert genesis(CID) != genesis(OTHER)
    assert genesis(CID) == genesis(CID)
    assert len(genesis(CID)) == 64 and int(genesis(CID), 16) >= 0


def test_the_hash_is_sha256_over_prev_and_sorted_compact_json() -> None:
    """The stored format written out by hand: changing it would orphan every stored chain."""
    entry, _ = append(
        CID,
        None,
        at=datetime(2026, 3, 2, 9, 30, 15, 123999, tzinfo=CST),
        type="received",
        by="s-001",
        note="投诉人称“态度恶劣”",
        data={"z": [1, 2.5, True, None], "a": {"when": datetime(2026, 3, 2, 1, 0)}},
    )
    text = (
        '{"at":"2026-03-02T01:30:15.123Z","by":"s-001",'
        '"data":{"a":{"when":"2026-03-02T01:00:00.000Z"},"z":[1,2.5,true,null]},'
        '"note":"投诉人称“态度恶劣”","prev":"' + genesis(CID) + '","seq":0,"type":"received"}'
    )
    assert canonical(entry) == text
    assert entry["hash"] == hashlib.sha256((genesis(CID) + text).encode()).hexdigest()
    assert (
        genesis(CID) == hashlib.sha256(f"huiyin.intake.timeline.v1\x00{CID}".encode()).hexdigest()
    )


def test_canonical_text_ignores_key_order_and_keeps_chinese() -> None:
    entries, _ = build()
    shuffled = dict(reversed(list(entries[1].items())))
    shuffled["data"] = dict(reversed(list(shuffled["data"].items())))
    assert canonical(shuffled) == canonical(entries[1])
    assert "符合受理条件" in canonical(entries[1])
    json.loads(canonical(entries[1]))


def test_stored_datetimes_are_utc_milliseconds() -> None:
    entries, _ = build()
    assert entries[0]["at"] == datetime(2026, 3, 2, 1, 30, 15, 123000, tzinfo=UTC)
    assert entries[0]["at"].tzinfo is UTC
    due = entries[2]["data"]["due"]
    assert due == datetime(2026, 3, 9, 1, 0, 0, 987000, tzinfo=UTC) and due.tzinfo is UTC


def test_a_naive_datetime_is_taken_as_utc(shanghai_clock: None) -> None:
    aware, _ = append(
        CID, None, at=datetime(2026, 1, 1, 8, 0, tzinfo=UTC), type="received", by=None
    )
    naive, _ = append(CID, None, at=datetime(2026, 1, 1, 8, 0), type="received", by=None)
    china, _ = append(
        CID, None, at=datetime(2026, 1, 1, 16, 0, tzinfo=CST), type="received", by=None
    )
    assert aware == naive == china


def test_the_callers_data_cannot_change_the_entry_afterwards() -> None:
    data = {"departments": ["er"], "detail": {"k": 1}}
    entry, head = append(CID, None, at=T0, type="reroute", by="s-002", data=data)
    data["departments"].append("icu")
    data["detail"]["k"] = 2
    assert entry["data"] == {"departments": ["er"], "detail": {"k": 1}}
    assert verify(CID, [entry], head).ok


def test_tuples_are_stored_as_lists_like_bson_returns_them() -> None:
    entry, head = append(CID, None, at=T0, type="x", by=None, data={"pair": ("a", 1)})
    assert entry["data"]["pair"] == ["a", 1]
    assert verify(CID, [entry], head).ok


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"ratio": float("nan")}, ValueError),
        ({"ratio": float("inf")}, ValueError),
        ({"big": 2**63}, ValueError),
        ({1: "numeric key"}, TypeError),
        ({"raw": b"bytes"}, TypeError),
        ({"when": {"a set"}}, TypeError),
    ],
)
def test_values_that_would_not_survive_storage_are_refused(data: dict, error: type) -> None:
    with pytest.raises(error):
        append(CID, None, at=T0, type="x", by=None, data=data)


def test_append_refuses_a_malformed_call() -> None:
    with pytest.raises(TypeError):
        append(CID, None, at="2026-03-02", type="x", by=None)
    with pytest.raises(ValueError):
        append(CID, None, at=T0, type="", by=None)
    with pytest.raises(ValueError):
        append(CID, {"count": -1, "hash": "x"}, at=T0, type="x", by=None)
    with pytest.raises(ValueError):
        append(CID, {"count": 3, "hash": None}, at=T0, type="x", by=None)


def test_a_correction_is_a_new_entry_and_the_original_stays() -> None:
    """更正不涂改：原记录保留，更正作为新的一条记录追加。"""
    entries, head = build()
    original = copy.deepcopy(entries[3])
    correction, head = append(
        CID,
        head,
        at=T0 + timedelta(hours=1),
        type="correction",
        by="s-010",
        note="更正：调查情况中“挂号量激增”应为“就诊量激增”",
        data={"corrects_seq": 3},
    )
    entries.append(correction)
    assert entries[3] == original
    assert correction["seq"] == 5 and correction["prev"] == entries[4]["hash"]
    assert verify(CID, entries, head) == ChainVerdict(ok=True, count=6, head_hash=head["hash"])


# --- the MongoDB round trip ---------------------------------------------------------------


@pytest.mark.parametrize("tz_aware", [False, True])
def test_the_chain_survives_bson(tz_aware: bool, shanghai_clock: None) -> None:
    entries, head = build()
    stored = through_bson(
        {"_id": CID, "timeline": entries, "timeline_head": head}, tz_aware=tz_aware
    )
    assert (stored["timeline"][0]["at"].tzinfo is not None) is tz_aware
    assert verify(CID, stored["timeline"], stored["timeline_head"]).ok


def test_what_append_returns_is_what_mongo_gives_back() -> None:
    entries, head = build()
    stored = through_bson({"timeline": entries, "timeline_head": head}, tz_aware=True)
    assert stored["timeline"] == entries
    assert stored["timeline_head"] == head


def test_the_chain_survives_naive_millisecond_datetimes(shanghai_clock: None) -> None:
    entries, head = build()
    back = naive_ms(entries)
    assert back[2]["data"]["due"].tzinfo is None
    assert verify(CID, back, head).ok


def test_appending_after_a_round_trip_continues_the_chain() -> None:
    entries, head = build()
    back = through_bson({"t": entries, "h": head}, tz_aware=False)
    entry, new_head = append(CID, back["h"], at=T0 + timedelta(days=1), type="closed", by="s-002")
    assert verify(CID, [*back["t"], entry], new_head).ok


# --- tampering ----------------------------------------------------------------------------

hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
texts = st.text(max_size=20)
utc_ms = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))
leaves = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | texts | utc_ms
json_data = st.dictionaries(
    texts, st.recursive(leaves, lambda inner: st.lists(inner, max_size=3), max_leaves=6), max_size=4
)
NEW_VALUES = {
    "seq": st.integers(-3, 50) | texts,
    "at": utc_ms | texts,
    "type": texts,
    "by": st.none() | texts,
    "note": st.none() | st.text(alphabet="投诉答复调查患者家属abc ", max_size=20),
    "data": st.none() | json_data,
    "prev": hexes,
    "hash": hexes,
}
steps = st.fixed_dictionaries(
    {"type": st.sampled_from(["received", "accepted", "assigned", "note", "replied", "closed"])},
    optional={"by": st.none() | texts, "note": st.none() | texts, "data": st.none() | json_data},
)


def chain_of(raw_steps: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    steps_with_by = [{"by": None} | step for step in raw_steps]
    return build(CID, steps_with_by)


@settings(max_examples=200, deadline=None)
@given(raw=st.lists(steps, min_size=1, max_size=7), choice=st.data())
def test_altering_any_field_of_any_entry_is_caught_there(raw: list, choice: st.DataObject) -> None:
    entries, head = chain_of(raw)
    assert verify(CID, entries, head).ok
    position = choice.draw(st.integers(0, len(entries) - 1), label="entry")
    field = choice.draw(st.sampled_from(sorted(NEW_VALUES)), label="field")
    new = choice.draw(NEW_VALUES[field], label="new value")
    old = entries[position][field]
    assume(new != old or type(new) is not type(old))
    entries[position] = entries[position] | {field: new}
    verdict = verify(CID, entries, head)
    assert not verdict.ok
    assert verdict.first_bad_seq == position
    assert verdict.count == position
    assert verdict.head_hash == (entries[position - 1]["hash"] if position else None)
    assert str(position) in verdict.problem


@settings(max_examples=150, deadline=None)
@given(raw=st.lists(steps, min_size=2, max_size=7), choice=st.data())
def test_any_deletion_reordering_or_duplication_is_caught(raw: list, choice: st.DataObject) -> None:
    entries, head = chain_of(raw)
    n = len(entries)
    how = choice.draw(st.sampled_from(["delete", "swap", "duplicate", "truncate"]))
    i = choice.draw(st.integers(0, n - 1))
    if how == "delete":
        del entries[i]
    elif how == "swap":
        j = choice.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        entries[i], entries[j] = entries[j], entries[i]
    elif how == "duplicate":
        entries.insert(i, entries[i])
    else:
        del entries[i:]
    verdict = verify(CID, entries, head)
    assert not verdict.ok and verdict.problem
    assert verdict.first_bad_seq is not None and 0 <= verdict.first_bad_seq <= n


Tampering = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def altered(seq: int, **fields: Any) -> Tampering:
    return lambda entries: [*entries[:seq], entries[seq] | fields, *entries[seq + 1 :]]


def removed(first: int, last: int | None = None) -> Tampering:
    """Entries first to last (inclusive) taken out."""
    return lambda entries: [*entries[:first], *entries[(last or first) + 1 :]]


def swapped(one: int, other: int) -> Tampering:
    def swap(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries = list(entries)
        entries[one], entries[other] = entries[other], entries[one]
        return entries

    return swap


def copied(seq: int, *, to: int, **fields: Any) -> Tampering:
    """Entry `seq` copied in as entry `to`, with `fields` changed."""
    return lambda entries: [*entries[:to], entries[seq] | {"seq": to} | fields, *entries[to:]]


# What was done to the recorded case, the first entry found bad and the problem named. The
# verdict also counts the entries before it as good and reports the last good hash.
TAMPERING: dict[str, tuple[Tampering, int, str]] = {
    # 涂改：把“态度恶劣”的记录改得轻描淡写。
    "altering the note": (altered(3, note="调查情况：无异常"), 3, "entry 3 was altered"),
    "adding a field": (altered(4, retracted=True), 4, "entry 4 was altered"),
    # 撕毁：删掉中间一条。
    "deleting an entry in the middle": (removed(2), 2, "entry 2 is missing"),
    "deleting several entries in the middle": (removed(1, 3), 1, "entries 1 to 3 are missing"),
    "deleting the last entry": (removed(4), 4, "entries after 3 were removed"),
    "deleting every entry": (removed(0, 4), 0, "all 5 entries were removed"),
    "reordering": (swapped(1, 3), 1, "entries reordered"),
    "inserting a copied entry with a new note": (
        copied(2, to=3, note="已与投诉人和解"),
        3,
        "entry 3 was altered",
    ),
}


@pytest.mark.parametrize(("tamper", "first_bad", "problem"), TAMPERING.values(), ids=TAMPERING)
def test_tampering_is_caught_at_the_first_bad_entry(
    tamper: Tampering, first_bad: int, problem: str
) -> None:
    entries, head = build()
    verdict = verify(CID, tamper(entries), head)
    assert verdict == ChainVerdict(
        ok=False,
        count=first_bad,
        head_hash=entries[first_bad - 1]["hash"] if first_bad else None,
        first_bad_seq=first_bad,
        problem=problem,
    )


def test_altering_a_nested_datetime_is_caught() -> None:
    entries, head = build()
    entries[2] = copy.deepcopy(entries[2])
    entries[2]["data"]["due"] += timedelta(days=5)  # 悄悄推迟办理期限
    verdict = verify(CID, entries, head)
    assert (verdict.ok, verdict.first_bad_seq, verdict.problem) == (False, 2, "entry 2 was altered")


@pytest.mark.parametrize("field", ["by", "note", "data"])
def test_removing_a_field_is_caught(field: str) -> None:
    entries, head = build()
    entries[1] = {key: value for key, value in entries[1].items() if key != field}
    verdict = verify(CID, entries, head)
    assert (verdict.first_bad_seq, verdict.problem) == (1, "entry 1 was altered")


@pytest.mark.parametrize("field", ["seq", "at", "prev", "hash"])
def test_dropping_a_required_field_is_called_malformed(field: str) -> None:
    entries, head = build()
    del entries[2][field]
    verdict = verify(CID, entries, head)
    assert verdict.first_bad_seq == 2
    assert verdict.problem.startswith("entry 2 is malformed") and repr(field) in verdict.problem


def rewritten(entry: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The entry changed and its own hash computed again, as a forger who knows the rule."""
    forged = {key: value for key, value in entry.items() if key != "hash"} | fields
    forged["hash"] = hashlib.sha256((forged["prev"] + canonical(forged)).encode()).hexdigest()
    return forged


def test_rewriting_an_entry_and_its_hash_breaks_the_next_link() -> None:
    """改了内容又重算本条哈希：下一条的 prev 对不上。"""
    entries, head = build()
    entries[1] = rewritten(entries[1], note="不予受理")
    verdict = verify(CID, entries, head)
    assert verdict.first_bad_seq == 2
    assert verdict.problem.startswith("entry 2 does not follow entry 1")


def test_rewriting_the_last_entry_and_its_hash_breaks_the_head() -> None:
    entries, head = build()
    entries[4] = rewritten(entries[4], note="投诉人表示满意")
    verdict = verify(CID, entries, head)
    assert (verdict.first_bad_seq, verdict.count) == (4, 5)
    assert verdict.problem == "the head does not match entry 4: one of them was altered"


def test_inserting_a_forged_entry_that_links_correctly() -> None:
    """造假：按算法伪造一条“投诉人撤诉”的记录插到中间。"""
    entries, head = build()
    fake, _ = append(
        CID,
        {"count": 2, "hash": entries[1]["hash"]},
        at=T0,
        type="withdrawn",
        by="s-009",
        note="投诉人撤诉",
    )
    entries.insert(2, fake)
    verdict = verify(CID, entries, head)
    assert (verdict.first_bad_seq, verdict.problem) == (2, "entry 2 was inserted (forged)")
    assert verdict.count == 2


def test_inserting_a_forged_first_entry() -> None:
    entries, head = build()
    fake, _ = append(CID, None, at=T0, type="received", by="s-009")
    entries.insert(0, fake)
    verdict = verify(CID, entries, head)
    assert (verdict.first_bad_seq, verdict.problem) == (0, "entry 0 was inserted (forged)")


def test_appending_without_moving_the_head() -> None:
    entries, head = build()
    extra, _ = append(CID, head, at=T0 + timedelta(days=2), type="note", by="s-009")
    verdict = verify(CID, [*entries, extra], head)
    assert (verdict.first_bad_seq, verdict.problem) == (
        5,
        "entries from 5 on are not covered by the head",
    )


@pytest.mark.parametrize("position", [0, 2, 4])
def test_an_entry_from_another_complaint_is_rejected(position: int) -> None:
    """同样的内容、同样的时间，只是来自另一件投诉：也不能替换进来。"""
    entries, head = build(CID)
    foreign, _ = build(OTHER)
    assert foreign[position]["seq"] == entries[position]["seq"]
    entries[position] = foreign[position]
    verdict = verify(CID, entries, head)
    assert verdict.first_bad_seq == position
    assert "does not" in verdict.problem


def test_another_complaints_whole_timeline_is_rejected() -> None:
    foreign, foreign_head = build(OTHER)
    verdict = verify(CID, foreign, foreign_head)
    assert verdict.first_bad_seq == 0
    assert verdict.problem.startswith("entry 0 does not start this complaint's timeline")
    assert verify(OTHER, foreign, foreign_head).ok


@pytest.mark.parametrize(
    ("tampered", "first_bad", "problem"),
    [
        (
            {"count": 5, "hash": "0" * 64},
            4,
            "the head does not match entry 4: one of them was altered",
        ),
        ({"count": 6}, 5, "entries after 4 were removed"),
        ({"count": 3}, 3, "entries from 3 on are not covered by the head"),
        ({"count": "5"}, 5, "the head is malformed: count is not a non-negative integer"),
        ({"count": True}, 5, "the head is malformed: count is not a non-negative integer"),
    ],
)
def test_tampering_with_the_head(tampered: dict, first_bad: int, problem: str) -> None:
    entries, head = build()
    verdict = verify(CID, entries, head | tampered)
    assert (verdict.ok, verdict.first_bad_seq, verdict.problem) == (False, first_bad, problem)


def test_a_missing_head_with_entries_is_caught() -> None:
    entries, _ = build()
    verdict = verify(CID, entries, None)
    assert (verdict.ok, verdict.problem) == (False, "the timeline has 5 entries but no head")


def test_an_empty_timeline_with_a_foreign_head_hash() -> None:
    verdict = verify(CID, [], {"count": 0, "hash": "f" * 64})
    assert not verdict.ok and verdict.first_bad_seq == 0
