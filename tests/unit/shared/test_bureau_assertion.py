"""The bureau proves which of its supervisors acts (shared/staff_assertion.py): its own key,
registered under the issuer `bureau`, signs for a supervisor beside the bureau's API key.
In-memory ports, the FastAPI dependency in process; no servers."""

from __future__ import annotations

from datetime import datetime

import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI

from shared import errors
from shared.auth import BUREAU, ApiKeyring
from shared.staff_assertion import (
    ASSERTION_HEADER,
    AssertionPolicy,
    ProvenStaff,
    RegisteredKey,
    StaffAssertionVerifier,
    sign_staff_assertion,
    thumbprint,
)

AUDIENCE = "huiyin-test"
HOSPITAL = "hz-001"
SUPERVISOR = "bureau-sup-1"
LEADER = "hz-001-leadership-1"
KEYS = {issuer: ed25519.Ed25519PrivateKey.generate() for issuer in (HOSPITAL, BUREAU)}
API_KEYS = {HOSPITAL: "k-hz-001-0123456789", BUREAU: "k-bureau-9876543210"}


class Registered:
    async def key(self, hospital_id: str, kid: str) -> RegisteredKey | None:
        private = KEYS.get(hospital_id)
        if private is None or kid != thumbprint(private.public_key()):
            return None
        return RegisteredKey(hospital_id, kid, private.public_key())


class Spent:
    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def spend(self, hospital_id: str, jti: str, *, keep_until: datetime) -> bool:
        fresh = f"{hospital_id}:{jti}" not in self.seen
        self.seen.add(f"{hospital_id}:{jti}")
        return fresh


def signed(issuer: str, staff_id: str) -> str:
    key = KEYS[issuer]
    return sign_staff_assertion(
        private_key=key,
        kid=thumbprint(key.public_key()),
        hospital_id=issuer,
        staff_id=staff_id,
        audience=AUDIENCE,
    )


async def whoami(api_key: str, token: str) -> httpx.Response:
    app = FastAPI()
    errors.install(app)
    app.state.keyring = ApiKeyring.from_clear_keys(API_KEYS)
    app.state.staff_assertions = StaffAssertionVerifier(
        keys=Registered(), spent=Spent(), policy=AssertionPolicy(audience=AUDIENCE)
    )

    @app.get("/whoami")
    async def proven(proven: ProvenStaff) -> dict[str, str | bool | None]:
        if proven is None:
            return {"staff": None}
        return {"issuer": proven.hospital_id, "staff": proven.staff_id, "bureau": proven.by_bureau}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        headers = {"Authorization": f"Bearer {api_key}", ASSERTION_HEADER: token}
        return await client.get("/whoami", headers=headers)


async def test_the_bureaus_key_with_its_own_assertion_proves_a_supervisor() -> None:
    response = await whoami(API_KEYS[BUREAU], signed(BUREAU, SUPERVISOR))
    assert response.status_code == 200, response.text
    assert response.json() == {"issuer": "bureau", "staff": SUPERVISOR, "bureau": True}
    # A hospital's staff are still proven with the hospital's key, and only with it: the
    # bureau's key id is not one the hospital registered (refused like any unknown key).
    hospital = await whoami(API_KEYS[HOSPITAL], signed(HOSPITAL, LEADER))
    assert hospital.json() == {"issuer": HOSPITAL, "staff": LEADER, "bureau": False}
    crossed = await whoami(API_KEYS[HOSPITAL], signed(BUREAU, SUPERVISOR))
    assert crossed.status_code == 401
    assert crossed.json()["errors"][0]["code"] == "unknown_key"


async def test_a_hospitals_assertion_with_the_bureaus_key_is_forbidden_and_says_why() -> None:
    response = await whoami(API_KEYS[BUREAU], signed(HOSPITAL, LEADER))
    assert response.status_code == 403
    assert "the bureau's key presents only the bureau's own assertions" in response.text
