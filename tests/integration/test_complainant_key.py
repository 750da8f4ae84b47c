"""Intake puts the complainant's match key on complaint.received (shared/matching.py): a
keyed hash of the phone number, the same for the same person however the number is
written, and none for an anonymous complaint; the identity itself is not on the event.
Real broker and MongoDB-wire server, intake alone."""

from __future__ import annotations

from shared.matching import complainant_key
from tests.support.bus import listening
from tests.support.platform import Platform

BASE = {"channel": "phone", "content": "挂号排队等了两个小时，导诊台无人指引。"}


async def test_complaint_received_carries_the_keyed_hash_never_the_phone(
    intake_only: Platform,
) -> None:
    platform = intake_only
    secret = platform.settings["intake"].match_key.get_secret_value()
    complainants = [
        {"name": "李娜", "phone": "13800001111"},
        {"name": "李娜", "phone": "+86 138-0000-1111"},  # the same person, written otherwise
    ]
    async with listening(platform, "complaint.received") as bus:
        async with platform.client("intake", "hz-001") as intake:
            for person in complainants:
                created = await intake.post("/v1/complaints", json=BASE | {"complainant": person})
                assert created.status_code == 201, created.text
            anonymous = await intake.post("/v1/complaints", json=BASE | {"anonymous": True})
            assert anonymous.status_code == 201, anonymous.text
        heard = await bus.heard(3)

    keys = {e.complaint_id: e.payload.get("complainant_key") for e in heard}
    expected = complainant_key(secret, complainants[0])
    assert expected is not None and sorted(keys.values(), key=str) == sorted(
        [expected, expected, None], key=str
    )
    assert keys[anonymous.json()["id"]] is None
    for event in heard:
        assert "13800001111" not in event.model_dump_json()
