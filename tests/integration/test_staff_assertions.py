"""Who acts is proven, not claimed (issue 9): staff assertions on intake's API, the
bureau's key registry, the identity access log, and the authority and staff checks at
registration. Real MongoDB-wire server and RabbitMQ."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from deploy.admin import main as huiyin_admin
from shared.staff_assertion import ASSERTION_HEADER, public_pem, sign_staff_assertion, thumbprint
from tests.support.platform import Platform

OFFICE = "hz-001-complaint_office-1"
LEADER = "hz-001-leadership-1"
NURSE = "hz-001-nursing-2"
BASE = {"channel": "phone", "content": "挂号排队等了两个小时，导诊台无人指引。"}
IDENTIFIED = BASE | {"complainant": {"name": "李娜", "phone": "13800001111"}}


async def registered(platform: Platform, body: dict[str, Any] = BASE) -> dict[str, Any]:
    async with platform.client("intake", "hz-001") as intake:
        response = await intake.post("/v1/complaints", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def accept(
    platform: Platform,
    complaint_id: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    async with platform.client("intake") as intake:
        return await intake.post(
            f"/v1/complaints/{complaint_id}/accept", json=body or {}, headers=headers
        )


def signed_with(
    key: ed25519.Ed25519PrivateKey,
    kid: str,
    *,
    audience: str,
    hospital_id: str = "hz-001",
    staff_id: str = OFFICE,
) -> str:
    """An assertion signed with `key` under `kid`, whoever registered them (or nobody)."""
    return sign_staff_assertion(
        private_key=key, kid=kid, hospital_id=hospital_id, staff_id=staff_id, audience=audience
    )


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_an_action_is_taken_and_recorded_by_the_proven_staff_member(
    intake_only: Platform,
) -> None:
    created = await registered(intake_only)
    response = await accept(intake_only, created["id"], intake_only.staff_headers("hz-001", OFFICE))
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["status"] == "accepted" and case["acceptance"]["by"] == OFFICE
    entry = case["timeline"][-1]
    assert entry["type"] == "accepted" and entry["by"] == OFFICE
    assert entry["data"]["proof"]["kid"] == intake_only.signing.kid("hz-001")
    assert len(entry["data"]["proof"]["jti"]) >= 16
    # The proof is part of the hash chain like everything else in the entry.
    async with intake_only.client("intake", "hz-001") as intake:
        verdict = (await intake.get(f"/v1/complaints/{created['id']}/timeline/verify")).json()
    assert verdict["ok"] is True


async def test_a_command_needs_an_assertion_and_a_body_actor_must_be_the_proven_one(
    intake_only: Platform,
) -> None:
    created = await registered(intake_only)
    hospital_key = intake_only.keys.headers("hz-001")
    missing = await accept(intake_only, created["id"], hospital_key, {"actor": OFFICE})
    assert missing.status_code == 401
    assert missing.json()["code"] == "staff_assertion_required"
    assert missing.json()["errors"][0]["field"] == ASSERTION_HEADER

    # The nurse's system session claims to be the complaint office.
    claimed = await accept(
        intake_only, created["id"], intake_only.staff_headers("hz-001", NURSE), {"actor": OFFICE}
    )
    assert claimed.status_code == 403
    assert claimed.json()["errors"][0]["field"] == "actor"
    # Proven as the nurse, the authority rule applies to the nurse.
    as_nurse = await accept(intake_only, created["id"], intake_only.staff_headers("hz-001", NURSE))
    assert as_nurse.status_code == 403 and "投诉管理部门" in as_nurse.json()["message"]
    # The bureau handles no cases, with or without an assertion.
    bureau = intake_only.keys.headers("bureau")
    assert (await accept(intake_only, created["id"], bureau)).status_code == 403
    async with intake_only.client("intake", "hz-001") as intake:
        case = (await intake.get(f"/v1/complaints/{created['id']}")).json()
    assert case["status"] == "received" and [e["type"] for e in case["timeline"]] == ["received"]


async def test_every_false_or_reused_proof_is_refused(intake_only: Platform) -> None:
    created = await registered(intake_only)
    signing = intake_only.signing
    now = datetime.now(UTC)
    stranger = ed25519.Ed25519PrivateKey.generate()
    valid = signing.assertion("hz-001", OFFICE)
    header, payload, signature = valid.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    hs_secret = public_pem(signing.keys["hz-001"].public_key()).encode()
    hs_signed = f"{_b64({'alg': 'HS256', 'kid': signing.kid('hz-001')})}.{payload}"
    hs_mac = hmac.new(hs_secret, hs_signed.encode(), hashlib.sha256).digest()
    forged_sub = _b64(claims | {"sub": LEADER})
    audience = signing.audience
    cases = {
        "expired": (signing.assertion("hz-001", OFFICE, now=now - timedelta(minutes=10)), 401),
        "not yet valid": (signing.assertion("hz-001", OFFICE, now=now + timedelta(minutes=3)), 401),
        "lifetime too long": (
            signing.assertion("hz-001", OFFICE, lifetime=timedelta(hours=8)),
            401,
        ),
        "wrong audience": (signing.assertion("hz-001", OFFICE, aud="other-platform"), 401),
        "unknown kid": (
            signed_with(stranger, thumbprint(stranger.public_key()), audience=audience),
            401,
        ),
        "another hospital's key": (
            signed_with(signing.keys["hz-002"], signing.kid("hz-002"), audience=audience),
            401,
        ),
        "iss other than the API key's hospital": (
            signed_with(
                signing.keys["hz-001"],
                signing.kid("hz-001"),
                audience=audience,
                hospital_id="hz-002",
                staff_id="hz-002-complaint_office-1",
            ),
            403,
        ),
        "alg none": (f"{_b64({'alg': 'none', 'kid': signing.kid('hz-001')})}.{payload}.", 401),
        "HS256": (f"{hs_signed}.{base64.urlsafe_b64encode(hs_mac).decode().rstrip('=')}", 401),
        "tampered claims": (f"{header}.{forged_sub}.{signature}", 401),
        "tampered signature": (f"{header}.{payload}.{signature[::-1]}", 401),
    }
    async with intake_only.client("intake", "hz-001") as intake:
        path = f"/v1/complaints/{created['id']}/accept"
        for name, (assertion, status) in cases.items():
            response = await intake.post(path, json={}, headers={ASSERTION_HEADER: assertion})
            assert response.status_code == status, (name, response.text)
            assert response.json()["errors"][0]["field"] == ASSERTION_HEADER, name
            assert assertion not in response.text, name
        # hz-002's own valid assertion sent with hz-001's API key.
        theirs = signing.assertion("hz-002", "hz-002-complaint_office-1")
        response = await intake.post(path, json={}, headers={ASSERTION_HEADER: theirs})
        assert response.status_code == 401, response.text

        assert (await intake.post(path, json={}, headers={ASSERTION_HEADER: valid})).is_success
        replayed = await intake.post(path, json={}, headers={ASSERTION_HEADER: valid})
        assert replayed.status_code == 401 and "already used" in replayed.text
        case = (await intake.get(f"/v1/complaints/{created['id']}")).json()
    assert [e["type"] for e in case["timeline"]] == ["received", "accepted"]


async def test_the_hospital_key_alone_sees_a_masked_identity_and_full_reads_are_logged(
    intake_only: Platform,
) -> None:
    created = await registered(intake_only, IDENTIFIED)
    path = f"/v1/complaints/{created['id']}"
    async with intake_only.client("intake") as intake:
        hospital = intake_only.keys.headers("hz-001")
        alone = (await intake.get(path, headers=hospital)).json()
        assert alone["identity_view"] == "masked" and alone["complainant"]["name"] == "李*"
        claimed = await intake.get(path, headers=hospital | {"X-Huiyin-Staff": OFFICE})
        assert claimed.status_code == 401  # a claim without a proof is no longer believed
        mismatch = await intake.get(
            path, headers=intake_only.staff_headers("hz-001", NURSE) | {"X-Huiyin-Staff": OFFICE}
        )
        assert mismatch.status_code == 403
        nurse = (await intake.get(path, headers=intake_only.staff_headers("hz-001", NURSE))).json()
        assert nurse["identity_view"] == "masked"
        bureau = intake_only.keys.headers("bureau")
        assert (await intake.get(path, headers=bureau)).json()["identity_view"] == "masked"
        assert (await intake.get(f"{path}/identity-reads", headers=bureau)).json() == {
            "total": 0,
            "items": [],
        }

        office = await intake.get(path, headers=intake_only.staff_headers("hz-001", OFFICE))
        assert office.json()["identity_view"] == "full"
        assert office.json()["complainant"]["name"] == "李娜"
        accepted = await intake.post(
            f"{path}/accept", json={}, headers=intake_only.staff_headers("hz-001", OFFICE)
        )
        assert accepted.json()["identity_view"] == "full"

        log_path = f"{path}/identity-reads"
        assert (await intake.get(log_path, headers=hospital)).status_code == 401
        as_nurse = await intake.get(log_path, headers=intake_only.staff_headers("hz-001", NURSE))
        assert as_nurse.status_code == 403
        leader = await intake.get(log_path, headers=intake_only.staff_headers("hz-001", LEADER))
        assert leader.status_code == 200, leader.text
        by_bureau = (await intake.get(log_path, headers=bureau)).json()
    reads = leader.json()["items"]
    assert by_bureau == leader.json()
    assert [(r["staff_id"], r["via"]) for r in reads] == [(OFFICE, "read"), (OFFICE, "accept")]
    assert all(r["kid"] == intake_only.signing.kid("hz-001") for r in reads)
    assert len({r["jti"] for r in reads}) == 2
    assert "李娜" not in str(reads)


async def test_the_person_complained_about_cannot_accept_at_registration(
    intake_only: Platform,
) -> None:
    about_office = BASE | {"received_by": OFFICE, "accepted": True, "target_staff_id": OFFICE}
    office = intake_only.staff_headers("hz-001", OFFICE)
    async with intake_only.client("intake") as intake:
        own = await intake.post("/v1/complaints", json=about_office, headers=office)
        assert own.status_code == 403, own.text
        assert "回避" in own.json()["message"]

        by_office = BASE | {"received_by": OFFICE, "accepted": True, "target_staff_id": NURSE}
        unproven = await intake.post(
            "/v1/complaints", json=by_office, headers=intake_only.keys.headers("hz-001")
        )
        assert unproven.status_code == 401
        other = await intake.post(
            "/v1/complaints",
            json=by_office,
            headers=intake_only.staff_headers("hz-001", "hz-001-complaint_office-2"),
        )
        assert other.status_code == 403 and "received_by" in other.json()["message"]
        nurse = BASE | {"received_by": NURSE, "accepted": True}
        not_office = await intake.post(
            "/v1/complaints", json=nurse, headers=intake_only.staff_headers("hz-001", NURSE)
        )
        assert not_office.status_code == 403

        created = await intake.post(
            "/v1/complaints", json=by_office, headers=intake_only.staff_headers("hz-001", OFFICE)
        )
        assert created.status_code == 201, created.text
        case = (
            await intake.get(
                f"/v1/complaints/{created.json()['id']}",
                headers=intake_only.keys.headers("hz-001"),
            )
        ).json()
        page = (
            await intake.get("/v1/complaints", headers=intake_only.keys.headers("hz-001"))
        ).json()
    assert case["status"] == "accepted" and case["acceptance"]["by"] == OFFICE
    accepted = case["timeline"][-1]
    assert accepted["type"] == "accepted"
    assert accepted["data"]["proof"]["kid"] == intake_only.signing.kid("hz-001")
    assert len(page["items"]) == 1  # nothing stored for the refused ones


@pytest.mark.parametrize("target", ["hz-002-nursing-2", "hz-001-nursing-99", "HZ-001-NURSING-2"])
async def test_an_unknown_person_complained_about_is_a_422_naming_the_field(
    intake_only: Platform, target: str
) -> None:
    body = BASE | {"target_staff_id": target}
    async with intake_only.client("intake", "hz-001") as intake:
        single = await intake.post("/v1/complaints", json=body)
        assert single.status_code == 422, single.text
        assert [e["field"] for e in single.json()["errors"]] == ["target_staff_id"]
        batch = {
            "items": [
                {"idempotency_key": "b-1", "complaint": body},
                {"idempotency_key": "b-2", "complaint": BASE | {"target_staff_id": NURSE}},
            ]
        }
        result = (await intake.post("/v1/complaints/batch", json=batch)).json()
    assert [i["outcome"] for i in result["items"]] == ["invalid", "created"]
    assert result["items"][0]["errors"][0]["field"] == "items.0.complaint.target_staff_id"


async def test_batch_items_accepted_at_registration_need_their_receivers_proof(
    intake_only: Platform,
) -> None:
    accepted = BASE | {"received_by": OFFICE, "accepted": True}
    items = [
        {"idempotency_key": "acc-1", "complaint": accepted},
        {"idempotency_key": "acc-2", "complaint": accepted | {"target_staff_id": OFFICE}},
        {"idempotency_key": "acc-3", "complaint": BASE},
    ]
    async with intake_only.client("intake") as intake:
        bare = await intake.post(
            "/v1/complaints/batch",
            json={"items": items},
            headers=intake_only.keys.headers("hz-001"),
        )
        assert [i["outcome"] for i in bare.json()["items"]] == ["refused", "refused", "created"]
        assert bare.json()["items"][0]["errors"][0]["code"] == "assertion_required"
        proven = await intake.post(
            "/v1/complaints/batch",
            json={"items": items},
            headers=intake_only.staff_headers("hz-001", OFFICE),
        )
    outcomes = [
        (i["outcome"], (i["errors"] or [{}])[0].get("code")) for i in proven.json()["items"]
    ]
    assert outcomes == [("created", None), ("refused", "not_permitted"), ("replayed", None)]


async def test_the_bureau_registers_lists_and_revokes_a_hospitals_keys(
    intake_only: Platform,
) -> None:
    new_key = ed25519.Ed25519PrivateKey.generate()
    pem = public_pem(new_key.public_key())
    path = "/v1/admin/hospitals/hz-001/assertion-keys"
    async with intake_only.client("intake", "bureau") as bureau:
        async with intake_only.client("intake", "hz-001") as hospital:
            assert (await hospital.post(path, json={"public_key": pem})).status_code == 403
            assert (await hospital.get(path)).status_code == 403
        bad = await bureau.post(path, json={"public_key": "-----BEGIN PUBLIC KEY-----\nx\n"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "public_key"
        missing = "/v1/admin/hospitals/hz-999/assertion-keys"
        assert (await bureau.post(missing, json={"public_key": pem})).status_code == 404
        first = await bureau.post(path, json={"public_key": pem, "kid": "his-2026", "note": "HIS"})
        assert first.status_code == 201, first.text
        again = await bureau.post(path, json={"public_key": pem, "kid": "his-2026"})
        assert again.status_code == 200  # registering on every deployment is harmless
        other = public_pem(ed25519.Ed25519PrivateKey.generate().public_key())
        taken = await bureau.post(path, json={"public_key": other, "kid": "his-2026"})
        assert taken.status_code == 409
        listed = (await bureau.get(path)).json()["items"]
        assert {k["kid"] for k in listed} == {intake_only.signing.kid("hz-001"), "his-2026"}

        def signed() -> dict[str, str]:
            assertion = signed_with(new_key, "his-2026", audience=intake_only.signing.audience)
            return intake_only.keys.headers("hz-001") | {ASSERTION_HEADER: assertion}

        case = await registered(intake_only)
        async with intake_only.client("intake") as intake:
            read = f"/v1/complaints/{case['id']}"
            assert (await intake.get(read, headers=signed())).json()["identity_view"] == "full"
            revoked = await bureau.post(f"{path}/his-2026/revoke", json={"reason": "私钥泄露"})
            assert revoked.status_code == 200 and revoked.json()["active"] is False
            refused = await intake.get(read, headers=signed())
            assert refused.status_code == 401 and "revoked" in refused.text
            still = intake_only.staff_headers("hz-001", OFFICE)  # the other key still works
            assert (await intake.get(read, headers=still)).status_code == 200
        reused = await bureau.post(path, json={"public_key": pem, "kid": "his-2026"})
        assert reused.status_code == 409  # a revoked kid is never brought back
        unknown = await bureau.post(f"{path}/nope/revoke", json={"reason": "x"})
        assert unknown.status_code == 404


async def test_huiyin_admin_registers_lists_and_revokes_keys(
    intake_only: Platform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HUIYIN_ADMIN_KEY", intake_only.keys.clear["bureau"])
    monkeypatch.setenv("HUIYIN_INTAKE_URL", intake_only.url("intake"))
    key_file = tmp_path / "hz-003.pub.pem"
    key_file.write_text(public_pem(ed25519.Ed25519PrivateKey.generate().public_key()))
    base = ["assertion-keys"]

    async def admin(*argv: str) -> tuple[int, str]:
        # The command is synchronous; the server runs in this event loop.
        code = await asyncio.to_thread(huiyin_admin, [*base, *argv])
        return code, capsys.readouterr().out

    code, out = await admin("register", "--hospital", "hz-003", "--public-key", str(key_file))
    assert code == 0, out
    kid = json.loads(out)["kid"]
    code, out = await admin("list", "--hospital", "hz-003")
    assert code == 0 and kid in out and "BEGIN PUBLIC KEY" not in out
    code, out = await admin("revoke", "--hospital", "hz-003", kid, "--reason", "轮换")
    assert code == 0 and json.loads(out)["active"] is False
    monkeypatch.setenv("HUIYIN_ADMIN_KEY", intake_only.keys.clear["hz-003"])
    code, _ = await admin("list", "--hospital", "hz-003")
    assert code == 1  # only the bureau


async def test_the_purge_removes_only_spent_assertions_past_expiry(intake_only: Platform) -> None:
    app = intake_only.services["intake"].app
    spent = app.state.staff_assertions._spent  # the store the verifier writes to
    now = datetime.now(UTC)
    assert await spent.spend("hz-001", "old-jti-0123456789", keep_until=now - timedelta(1))
    assert await spent.spend("hz-001", "new-jti-0123456789", keep_until=now + timedelta(1))
    assert await spent.purge(now=now) == 1
    assert not await spent.spend("hz-001", "new-jti-0123456789", keep_until=now)
    assert await spent.spend("hz-001", "old-jti-0123456789", keep_until=now)
