"""Idempotency-Key rules: same key and body → same case; same key, other body → 409."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.intake.domain.idempotency import Replay, automatic_key, fingerprint, judge


def test_same_body_same_fingerprint_whatever_the_key_order() -> None:
    a = {"channel": "web", "content": "收费有误", "complainant": {"name": "李", "phone": "1"}}
    b = {"complainant": {"phone": "1", "name": "李"}, "content": "收费有误", "channel": "web"}
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(a | {"content": "收费有误！"})


def test_judgement() -> None:
    assert judge(None, "f1") is Replay.NEW
    assert judge("f1", "f1") is Replay.SAME
    assert judge("f1", "f2") is Replay.CONFLICT


def test_keyless_requests_never_collide() -> None:
    assert automatic_key("c1") != automatic_key("c2")
    assert automatic_key("c1").startswith("auto:")


@given(st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=6))
def test_fingerprint_is_a_pure_function_of_content(body: dict[str, str]) -> None:
    reordered = dict(reversed(list(body.items())))
    assert fingerprint(body) == fingerprint(reordered)
    assert len(fingerprint(body)) == 64
