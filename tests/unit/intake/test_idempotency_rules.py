"""Idempotency-Key rules as the domain module defines them.

The module's contract: `fingerprint(body)` is a canonical SHA-256 of the request body;
`judge(stored, incoming)` says NEW / SAME / CONFLICT; `automatic_key(id)` gives keyless
requests a unique key. (Key length limits live on the API header, not in this module.)
The API fingerprints the validated body without nulls, plus the hospital id
(`ComplaintCreate.to_command`), so those tests go through the schema too.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.api.schemas import ComplaintCreate
from services.intake.domain.idempotency import Replay, automatic_key, fingerprint, judge

BODY: dict[str, Any] = {
    "channel": "web",
    "kind": "complaint",
    "content": "出院结算重复收费",
    "demand": "退还多收费用",
    "complainant": {"name": "李娜", "phone": "13800001111", "relation": "self"},
    "hospital_id": "hz-001",
}

TEXT = 'abcxyz 李娜收费"\\\n\u00e9\U0001f600'
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.text(TEXT, max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(TEXT, max_size=4), children, max_size=4)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(TEXT, max_size=6), json_values, max_size=5)


def _shuffled(value: Any, rng: Any) -> Any:
    """The same JSON value with every object's keys in another order (lists untouched)."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(inner, rng) for key, inner in items}
    if isinstance(value, list):
        return [_shuffled(inner, rng) for inner in value]
    return value


# --- the fingerprint ----------------------------------------------------------------------


def test_the_canonical_form_is_pinned() -> None:
    # Stored fingerprints outlive deployments: changing the canonical form would turn every
    # retry of an already-stored request into a 409.
    body = {"b": 1, "a": "李", "c": {"z": None, "y": [2, 1]}}
    canonical = '{"a":"李","b":1,"c":{"y":[2,1],"z":null}}'
    assert fingerprint(body) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert fingerprint({}) == hashlib.sha256(b"{}").hexdigest()


def test_nested_key_order_does_not_matter() -> None:
    reordered = {
        "hospital_id": "hz-001",
        "complainant": {"relation": "self", "phone": "13800001111", "name": "李娜"},
        "demand": "退还多收费用",
        "content": "出院结算重复收费",
        "kind": "complaint",
        "channel": "web",
    }
    assert fingerprint(reordered) == fingerprint(BODY)


@settings(max_examples=30, deadline=None)
@given(json_objects, st.integers(min_value=0, max_value=2**32))
def test_fingerprint_ignores_key_order_at_every_depth(body: dict[str, Any], seed: int) -> None:
    assert fingerprint(_shuffled(body, random.Random(seed))) == fingerprint(body)


@settings(max_examples=30, deadline=None)
@given(json_objects)
def test_fingerprint_is_a_sha256_hex_digest_and_deterministic(body: dict[str, Any]) -> None:
    digest = fingerprint(body)
    assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    assert fingerprint(json.loads(json.dumps(body))) == digest


def test_any_change_of_content_changes_the_fingerprint() -> None:
    base = fingerprint(BODY)
    variants = [
        BODY | {"content": BODY["content"] + "！"},
        BODY | {"channel": "phone"},
        BODY | {"hospital_id": "hz-002"},  # the same body for another hospital
        BODY | {"complainant": BODY["complainant"] | {"phone": "13800001112"}},
        {key: value for key, value in BODY.items() if key != "demand"},
        BODY | {"anonymous": True},
    ]
    fingerprints = {fingerprint(variant) for variant in variants}
    assert base not in fingerprints and len(fingerprints) == len(variants)


def test_list_order_is_content() -> None:
    assert fingerprint({"files": ["a", "b"]}) != fingerprint({"files": ["b", "a"]})


def test_values_of_other_json_types_are_different_bodies() -> None:
    assert fingerprint({"n": 1}) != fingerprint({"n": "1"})
    assert fingerprint({"n": 1}) != fingerprint({"n": True})
    assert fingerprint({"n": None}) != fingerprint({})


def test_chinese_text_is_fingerprinted_as_text_not_escapes() -> None:
    assert fingerprint({"c": "收费"}) != fingerprint({"c": "\\u6536\\u8d39"})
    assert fingerprint({"c": "收费"}) == fingerprint(json.loads('{"c": "\\u6536\\u8d39"}'))


def test_dates_that_are_not_json_are_fingerprinted_by_their_text() -> None:
    at = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert fingerprint({"at": at}) == fingerprint({"at": str(at)})


# --- what the service fingerprints: the validated request --------------------------------


def _service_fingerprint(raw: dict[str, Any], hospital_id: str = "hz-001") -> str:
    return ComplaintCreate.model_validate(raw).to_command(hospital_id=hospital_id).fingerprint


def test_explicit_nulls_and_omitted_fields_are_the_same_request() -> None:
    terse = {"channel": "web", "content": "药房发错药"}
    verbose = terse | {"demand": None, "summary": None, "received_at": None, "kind": "complaint"}
    assert _service_fingerprint(terse) == _service_fingerprint(verbose)


def test_surrounding_whitespace_does_not_make_a_retry_a_new_request() -> None:
    first = {"channel": "web", "content": "药房发错药"}
    retry = {"channel": "web", "content": "  药房发错药\n"}
    assert _service_fingerprint(first) == _service_fingerprint(retry)


def test_the_same_body_for_two_hospitals_is_two_requests() -> None:
    raw = {"channel": "web", "content": "药房发错药"}
    assert _service_fingerprint(raw, "hz-001") != _service_fingerprint(raw, "hz-002")


def test_the_stored_fingerprint_form_is_kept() -> None:
    # Stored fingerprints outlive deployments: the body as validated, without nulls, with
    # the hospital that registers it.
    raw = {"channel": "web", "content": "药房发错药", "hospital_id": "hz-001"}
    expected = fingerprint(
        {
            "channel": "web",
            "kind": "complaint",
            "anonymous": False,
            "content": "药房发错药",
            "direct": False,
            "group": False,
            "accepted": False,
            "hospital_id": "hz-001",
        }
    )
    assert _service_fingerprint(raw) == expected


# --- the judgement ------------------------------------------------------------------------


def test_same_key_same_body_is_the_same_case() -> None:
    assert judge(fingerprint(BODY), fingerprint(dict(reversed(BODY.items())))) is Replay.SAME


def test_same_key_other_body_is_a_conflict() -> None:
    assert judge(fingerprint(BODY), fingerprint(BODY | {"content": "别的事"})) is Replay.CONFLICT


def test_an_unused_key_is_new() -> None:
    assert judge(None, fingerprint(BODY)) is Replay.NEW


@settings(max_examples=30, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=64)), st.text(max_size=64))
def test_judgement_is_total(stored: str | None, incoming: str) -> None:
    verdict = judge(stored, incoming)
    if stored is None:
        assert verdict is Replay.NEW
    elif stored == incoming:
        assert verdict is Replay.SAME
    else:
        assert verdict is Replay.CONFLICT


def test_an_empty_stored_fingerprint_is_still_a_stored_one() -> None:
    # Only "no record" is NEW; a falsy stored value must not be mistaken for it.
    assert judge("", "abc") is Replay.CONFLICT
    assert judge("", "") is Replay.SAME


def test_verdict_codes() -> None:
    assert {verdict.value for verdict in Replay} == {"new", "same", "conflict"}


# --- keyless requests ---------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.lists(st.uuids().map(str), min_size=2, max_size=50, unique=True))
def test_automatic_keys_are_unique_per_complaint(ids: list[str]) -> None:
    keys = [automatic_key(complaint_id) for complaint_id in ids]
    assert len(set(keys)) == len(keys)
    assert all(
        key.startswith("auto:") and key.endswith(cid) for key, cid in zip(keys, ids, strict=True)
    )


def test_an_automatic_key_fits_the_header_limit() -> None:
    # The Idempotency-Key header allows 1..128 characters; stored keys share the index.
    assert 1 <= len(automatic_key("0" * 36)) <= 128


def test_a_keyed_request_always_maps_to_the_same_complaint_id() -> None:
    from services.intake.domain.idempotency import complaint_id_for

    assert complaint_id_for("hz-001", "sync-1") == complaint_id_for("hz-001", "sync-1")
    assert complaint_id_for("hz-001", "sync-1") != complaint_id_for("hz-002", "sync-1")
    assert complaint_id_for("hz-001", "sync-1") != complaint_id_for("hz-001", "sync-2")
    # Pinned: stored complaints were given ids this way; a change would break replays.
    assert complaint_id_for("hz-001", "sync-1") == "a0427938-0f17-569e-b095-c54b1e90ad1b"
