"""Staff assertions: what proves a staff member, and every way a token is refused.

In-memory stand-ins for the two ports (registered keys, spent jti values); no servers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import errors
from shared.auth import ApiKeyring
from shared.staff_assertion import (
    ASSERTION_HEADER,
    AssertionPolicy,
    AssertionRefused,
    ProvenStaff,
    RegisteredKey,
    StaffAssertionVerifier,
    public_key_from_pem,
    public_pem,
    sign_staff_assertion,
    thumbprint,
)

AUDIENCE = "huiyin-test"
POLICY = AssertionPolicy(audience=AUDIENCE)
H1, H2 = "hz-001", "hz-002"
OFFICE = "hz-001-complaint_office-1"
KEY1 = ed25519.Ed25519PrivateKey.generate()
KEY2 = ed25519.Ed25519PrivateKey.generate()
EC_KEY = ec.generate_private_key(ec.SECP256R1())
KID1, KID2, EC_KID = (thumbprint(k.public_key()) for k in (KEY1, KEY2, EC_KEY))


class Keys:
    def __init__(self) -> None:
        self.registered = {
            (H1, KID1): RegisteredKey(H1, KID1, KEY1.public_key()),
            (H1, EC_KID): RegisteredKey(H1, EC_KID, EC_KEY.public_key()),
            (H2, KID2): RegisteredKey(H2, KID2, KEY2.public_key()),
        }

    async def key(self, hospital_id: str, kid: str) -> RegisteredKey | None:
        return self.registered.get((hospital_id, kid))

    def revoke(self, hospital_id: str, kid: str) -> None:
        key = self.registered[(hospital_id, kid)]
        self.registered[(hospital_id, kid)] = RegisteredKey(
            key.hospital_id, key.kid, key.public_key, revoked=True
        )


class Spent:
    def __init__(self) -> None:
        self.seen: dict[str, datetime] = {}

    async def spend(self, hospital_id: str, jti: str, *, keep_until: datetime) -> bool:
        if f"{hospital_id}:{jti}" in self.seen:
            return False
        self.seen[f"{hospital_id}:{jti}"] = keep_until
        return True


def verifier(keys: Keys | None = None, spent: Spent | None = None) -> StaffAssertionVerifier:
    return StaffAssertionVerifier(keys=keys or Keys(), spent=spent or Spent(), policy=POLICY)


def token(
    *,
    key: Any = KEY1,
    kid: str = KID1,
    hospital: str = H1,
    staff: str = OFFICE,
    **claims: Any,
) -> str:
    return sign_staff_assertion(
        private_key=key,
        kid=kid,
        hospital_id=hospital,
        staff_id=staff,
        audience=AUDIENCE,
        **claims,
    )


async def refused(
    text: str, *, hospital: str = H1, check: StaffAssertionVerifier | None = None
) -> AssertionRefused:
    with pytest.raises(AssertionRefused) as raised:
        await (check or verifier()).verify(text, hospital_id=hospital)
    return raised.value


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _claims(text: str) -> dict[str, Any]:
    return jwt.decode(text, options={"verify_signature": False})


# --- what a valid assertion proves --------------------------------------------------------


async def test_a_valid_assertion_proves_the_staff_member_of_the_hospital() -> None:
    spent = Spent()
    text = token()
    proven = await verifier(spent=spent).verify(text, hospital_id=H1)
    claims = _claims(text)
    assert (proven.hospital_id, proven.staff_id, proven.kid) == (H1, OFFICE, KID1)
    assert proven.jti == claims["jti"] and proven.proof() == {"kid": KID1, "jti": claims["jti"]}
    assert proven.expires_at - proven.issued_at == timedelta(minutes=2)
    # The jti is kept until the token could not be accepted anyway (exp + leeway).
    assert spent.seen[f"{H1}:{proven.jti}"] == proven.expires_at + POLICY.leeway


async def test_an_es256_key_proves_too() -> None:
    proven = await verifier().verify(token(key=EC_KEY, kid=EC_KID), hospital_id=H1)
    assert proven.kid == EC_KID


async def test_a_small_clock_skew_is_tolerated() -> None:
    ahead = datetime.now(UTC) + timedelta(seconds=20)  # the hospital's clock runs fast
    assert (await verifier().verify(token(now=ahead), hospital_id=H1)).staff_id == OFFICE


# --- refused: 401 ---------------------------------------------------------------------------


async def test_expired() -> None:
    old = datetime.now(UTC) - timedelta(minutes=10)
    assert (await refused(token(now=old))).reason == "expired"


async def test_not_yet_valid() -> None:
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert (await refused(token(now=later))).reason == "not_yet_valid"
    nbf = int((datetime.now(UTC) + timedelta(minutes=2)).timestamp())
    assert (await refused(token(nbf=nbf))).reason == "not_yet_valid"


async def test_a_lifetime_longer_than_the_cap() -> None:
    problem = await refused(token(lifetime=timedelta(minutes=30)))
    assert problem.reason == "lifetime" and problem.status == 401


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=3600))
async def test_the_lifetime_cap_is_exact(seconds: int) -> None:
    text = token(lifetime=timedelta(seconds=seconds))
    if seconds <= POLICY.max_lifetime.total_seconds():
        assert (await verifier().verify(text, hospital_id=H1)).staff_id == OFFICE
    else:
        assert (await refused(text)).reason == "lifetime"


async def test_a_replayed_jti() -> None:
    check = verifier()
    text = token()
    await check.verify(text, hospital_id=H1)
    problem = await refused(text, check=check)
    assert problem.reason == "replayed" and problem.status == 401


async def test_the_same_jti_in_a_new_token_is_a_replay_too() -> None:
    check = verifier()
    await check.verify(token(jti="fixed-jti-0123456789"), hospital_id=H1)
    assert (await refused(token(jti="fixed-jti-0123456789"), check=check)).reason == "replayed"


async def test_a_refused_token_burns_nothing() -> None:
    spent = Spent()
    await refused(token(aud="elsewhere"), check=verifier(spent=spent))
    await refused(token(lifetime=timedelta(hours=1)), check=verifier(spent=spent))
    assert spent.seen == {}


@pytest.mark.parametrize("audience", ["elsewhere", ["huiyin-test", "elsewhere"], "huiyin"])
async def test_another_audience(audience: str | list[str]) -> None:
    assert (await refused(token(aud=audience))).reason == "audience"


async def test_an_unknown_kid() -> None:
    assert (await refused(token(kid="no-such-kid"))).reason == "unknown_key"


async def test_a_revoked_kid() -> None:
    keys = Keys()
    keys.revoke(H1, KID1)
    assert (await refused(token(), check=verifier(keys))).reason == "revoked_key"


async def test_signed_with_another_hospitals_key() -> None:
    # hz-002's key and kid, claiming to be hz-001, sent with hz-001's API key.
    assert (await refused(token(key=KEY2, kid=KID2))).reason == "unknown_key"
    # hz-002's key under hz-001's kid.
    assert (await refused(token(key=KEY2, kid=KID1))).reason == "signature"


async def test_an_issuer_other_than_the_api_keys_hospital_is_forbidden() -> None:
    # hz-001's own key, but the assertion speaks for hz-002's staff.
    problem = await refused(token(hospital=H2))
    assert problem.reason == "issuer" and problem.status == 403
    # hz-002's valid assertion presented with hz-001's API key: not hz-001's key.
    assert (await refused(token(key=KEY2, kid=KID2, hospital=H2))).reason == "unknown_key"


async def test_alg_none_is_refused() -> None:
    claims = _claims(token())
    unsigned = f"{_b64({'alg': 'none', 'kid': KID1, 'typ': 'JWT'})}.{_b64(claims)}."
    assert (await refused(unsigned)).reason == "algorithm"


async def test_hs256_is_refused_even_keyed_with_the_public_key() -> None:
    """The classic confusion: an HMAC 'signed' with the public key's bytes."""
    secret = public_pem(KEY1.public_key()).encode()
    signed = f"{_b64({'alg': 'HS256', 'kid': KID1})}.{_b64(_claims(token()))}"
    mac = hmac.new(secret, signed.encode(), hashlib.sha256).digest()
    forged = f"{signed}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    assert (await refused(forged)).reason == "algorithm"


async def test_an_algorithm_other_than_the_keys_own() -> None:
    # An ES256 token under the kid of an Ed25519 key.
    assert (await refused(token(key=EC_KEY, kid=KID1))).reason == "algorithm"


async def test_a_tampered_signature_or_payload() -> None:
    header, payload, signature = token().split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert (await refused(f"{header}.{payload}.{flipped}")).reason == "signature"
    other = _claims(token()) | {"sub": "hz-001-leadership-1"}
    assert (await refused(f"{header}.{_b64(other)}.{signature}")).reason == "signature"


@pytest.mark.parametrize("missing", ["iss", "sub", "aud", "iat", "exp", "jti"])
async def test_every_claim_is_required(missing: str) -> None:
    claims = _claims(token())
    del claims[missing]
    text = jwt.encode(claims, KEY1, algorithm="EdDSA", headers={"kid": KID1})
    assert (await refused(text)).reason in {"missing_claim", "audience"}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [({"jti": "short"}, "claims"), ({"sub": "has space"}, "claims"), ({"jti": 7}, "claims")],
)
async def test_claims_of_the_wrong_shape(claims: dict[str, Any], reason: str) -> None:
    assert (await refused(token(**claims))).reason == reason


@pytest.mark.parametrize("text", ["", "not-a-jwt", "a.b.c", "x" * 5000])
async def test_garbage(text: str) -> None:
    assert (await refused(text)).reason in {"malformed", "algorithm"}


# --- keys ---------------------------------------------------------------------------------


def _pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_only_ed25519_and_p256_keys_are_accepted() -> None:
    assert isinstance(public_key_from_pem(_pem(KEY1)), ed25519.Ed25519PublicKey)
    assert isinstance(public_key_from_pem(_pem(EC_KEY)), ec.EllipticCurvePublicKey)
    for other in (
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ):
        with pytest.raises(ValueError):
            public_key_from_pem(_pem(other))
    with pytest.raises(ValueError, match="PEM"):
        public_key_from_pem("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")


def test_the_thumbprint_is_stable_and_per_key() -> None:
    assert thumbprint(public_key_from_pem(_pem(KEY1))) == KID1 != KID2


# --- the FastAPI dependency (in-process ASGI, no server) ----------------------------------

K_H1, K_BUREAU = "k-hz-001-0123456789", "k-bureau-9876543210"


def _app() -> FastAPI:
    app = FastAPI()
    errors.install(app)
    app.state.keyring = ApiKeyring.from_clear_keys({H1: K_H1, "bureau": K_BUREAU})
    app.state.staff_assertions = verifier()

    @app.get("/whoami")
    async def whoami(proven: ProvenStaff) -> dict[str, str | None]:
        return {"staff": proven.staff_id if proven else None}

    return app


async def _get(headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/whoami", headers=headers)


async def test_without_an_assertion_nobody_is_proven() -> None:
    response = await _get({"Authorization": f"Bearer {K_H1}"})
    assert response.json() == {"staff": None}


async def test_with_one_the_staff_member_is_proven() -> None:
    response = await _get({"Authorization": f"Bearer {K_H1}", ASSERTION_HEADER: token()})
    assert response.json() == {"staff": OFFICE}


async def test_a_refusal_is_a_401_naming_the_header_and_never_echoing_the_token() -> None:
    text = token(aud="elsewhere")
    response = await _get({"Authorization": f"Bearer {K_H1}", ASSERTION_HEADER: text})
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "invalid_staff_assertion"
    assert body["errors"] == [
        {
            "field": ASSERTION_HEADER,
            "location": "header",
            "message": "the assertion is for another audience (aud)",
            "code": "audience",
        }
    ]
    assert text not in response.text


async def test_the_bureau_key_presents_no_staff_assertion() -> None:
    response = await _get({"Authorization": f"Bearer {K_BUREAU}", ASSERTION_HEADER: token()})
    assert response.status_code == 403


async def test_an_assertion_without_an_api_key_is_401() -> None:
    assert (await _get({ASSERTION_HEADER: token()})).status_code == 401
