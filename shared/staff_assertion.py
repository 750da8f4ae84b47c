"""Proven staff identity: who acts is signed by the hospital's system, never just claimed.

The API key authenticates a hospital's *system* (registration, batch upload). Which staff
member acts is proven separately: for each request the system signs a short-lived JWT
for that person with a private key whose public half the bureau registered for the
hospital, and sends it in the `X-Huiyin-Staff-Assertion` header beside the API key.

    header  {"alg": "EdDSA" | "ES256", "kid": <key id registered by the bureau>}
    claims  {"iss": <hospital id>, "sub": <staff id>, "aud": <the platform's audience>,
             "iat": <now>, "exp": <at most `max_lifetime` after iat>, "jti": <random, once>}

Only asymmetric algorithms are accepted, and each key only with the algorithm of its
type (no `none`, no HS*, no algorithm confusion). A token is refused (401) when it is
malformed, names a key not registered for the API key's hospital or since revoked, fails
its signature, is expired or not yet valid (beyond `leeway` of clock skew), lives longer
than `max_lifetime`, is for another audience, or was presented before (its `jti` is spent
on first use); it is forbidden (403) when `iss` is not the API key's hospital.

The bureau proves its own people the same way: its system signs with a key the bureau
registered for itself under the issuer `bureau` (`iss` = "bureau", `sub` = one of the region
file's `bureau.supervisors`), sent beside the bureau's API key. That proves which supervisor
acts where the bureau acts at all (acknowledging an escalation, 督办); the bureau still
handles no cases. A hospital's assertion presented with the bureau's key is a 403.

`StaffAssertionVerifier` does the checking against two small ports (the registered keys,
the ledger of spent jti values), so every service can verify; `ProvenStaff` is the
FastAPI dependency. `sign_staff_assertion` is the reference for a hospital's side.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi import Depends, Header, Request
from jwt import exceptions as jwt_errors

from shared.auth import BUREAU, CurrentPrincipal
from shared.errors import ApiError, ErrorItem

log = logging.getLogger(__name__)

ASSERTION_HEADER = "X-Huiyin-Staff-Assertion"
ALGORITHMS = ("EdDSA", "ES256")
REQUIRED_CLAIMS = ["iss", "sub", "aud", "iat", "exp", "jti"]
STAFF_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# Random enough not to repeat by accident (a UUID, 22+ characters of token_urlsafe).
JTI = re.compile(r"[A-Za-z0-9_.:-]{16,128}")
TOKEN_MAX_CHARS = 4096

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


# --- keys -------------------------------------------------------------------------------


def algorithm_of(key: PublicKey | PrivateKey) -> str:
    """The one algorithm a key signs with: Ed25519 → EdDSA, P-256 → ES256."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256R1):
            return "ES256"
        raise ValueError(f"EC keys must use P-256 (ES256), not {key.curve.name}")
    raise ValueError("only Ed25519 (EdDSA) and P-256 (ES256) keys are accepted")


def public_key_from_pem(pem: str) -> PublicKey:
    """A PEM public key (SubjectPublicKeyInfo) of an accepted type; ValueError otherwise."""
    try:
        key = serialization.load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError) as error:
        raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY-----)") from error
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("only Ed25519 (EdDSA) and P-256 (ES256) keys are accepted")
    algorithm_of(key)
    return key


def public_pem(key: PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def thumbprint(key: PublicKey) -> str:
    """A stable key id derived from the key itself (SHA-256 of its DER form, 16 hex)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


@dataclass(frozen=True)
class RegisteredKey:
    """A public key the bureau registered for a hospital, as verification needs it."""

    hospital_id: str
    kid: str
    public_key: PublicKey
    revoked: bool = False

    @property
    def algorithm(self) -> str:
        return algorithm_of(self.public_key)


class HospitalKeys(Protocol):
    async def key(self, hospital_id: str, kid: str) -> RegisteredKey | None:
        """The key registered under `kid` for this hospital (revoked ones too), or None."""


class SpentTokens(Protocol):
    async def spend(self, hospital_id: str, jti: str, *, keep_until: datetime) -> bool:
        """Record the jti as used; False when it already was (a replay)."""


# --- what a valid assertion proves ------------------------------------------------------


@dataclass(frozen=True)
class StaffAssertion:
    """A staff member proven by their hospital's signature for this one request."""

    hospital_id: str
    staff_id: str
    kid: str
    jti: str
    issued_at: datetime
    expires_at: datetime

    def proof(self) -> dict[str, str]:
        """What a record keeps to show how the actor was proven (no secret in it)."""
        return {"kid": self.kid, "jti": self.jti}

    @property
    def by_bureau(self) -> bool:
        """Signed by the bureau for one of its supervisors, not by a hospital."""
        return self.hospital_id == BUREAU


class AssertionRefused(Exception):
    """Why an assertion does not prove anyone; `reason` is a stable code."""

    def __init__(self, reason: str, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status

    def error(self) -> ApiError:
        item = ErrorItem(
            field=ASSERTION_HEADER, location="header", message=str(self), code=self.reason
        )
        if self.status == 401:
            return ApiError(
                401,
                "invalid_staff_assertion",
                f"{ASSERTION_HEADER}: {self}",
                errors=[item],
                headers={"WWW-Authenticate": "Bearer"},
            )
        return ApiError(self.status, "forbidden", f"{ASSERTION_HEADER}: {self}", errors=[item])


def assertion_required(what: str) -> ApiError:
    """401 for an action that needs a proven staff member and came without one."""
    message = (
        f"{ASSERTION_HEADER} is required: {what} needs the acting staff member's assertion, "
        "signed by the hospital's system with a key the bureau registered"
    )
    item = ErrorItem(field=ASSERTION_HEADER, location="header", message=message, code="missing")
    return ApiError(
        401,
        "staff_assertion_required",
        message,
        errors=[item],
        headers={"WWW-Authenticate": "Bearer"},
    )


@dataclass(frozen=True)
class AssertionPolicy:
    audience: str
    max_lifetime: timedelta = timedelta(minutes=5)
    leeway: timedelta = timedelta(seconds=30)


_REFUSALS: tuple[tuple[type[Exception], str, str], ...] = (
    # Order matters: several are subclasses of DecodeError / InvalidTokenError.
    (jwt_errors.ExpiredSignatureError, "expired", "the assertion has expired"),
    (jwt_errors.ImmatureSignatureError, "not_yet_valid", "the assertion is not valid yet"),
    (jwt_errors.InvalidAudienceError, "audience", "the assertion is for another audience (aud)"),
    (jwt_errors.MissingRequiredClaimError, "missing_claim", "the assertion lacks a required claim"),
    (jwt_errors.InvalidSignatureError, "signature", "the signature does not verify"),
    (jwt_errors.InvalidAlgorithmError, "algorithm", "the algorithm does not match the key"),
    (jwt_errors.InvalidIssuedAtError, "claims", "iat must be a number"),
    (jwt_errors.InvalidSubjectError, "claims", "sub must be a string"),
    (jwt_errors.InvalidJTIError, "claims", "jti must be a string"),
    (jwt_errors.DecodeError, "malformed", "the assertion is not a well-formed signed JWT"),
    (jwt_errors.InvalidTokenError, "invalid", "the assertion is invalid"),
)


class StaffAssertionVerifier:
    def __init__(self, *, keys: HospitalKeys, spent: SpentTokens, policy: AssertionPolicy) -> None:
        self._keys = keys
        self._spent = spent
        self.policy = policy

    async def verify(self, token: str, *, hospital_id: str) -> StaffAssertion:
        """The staff member `token` proves for the hospital the API key authenticated.

        Signature and claims first; the jti is spent last, so a refused token burns
        nothing and an accepted one can never be used again."""
        kid = self._header_kid(token)
        key = await self._keys.key(hospital_id, kid)
        if key is None:
            message = f"kid {kid} is not a key registered for {hospital_id}"
            raise AssertionRefused("unknown_key", message)
        if key.revoked:
            raise AssertionRefused("revoked_key", f"key {kid} of {hospital_id} was revoked")
        assertion = self.check(token, key=key)
        keep_until = assertion.expires_at + self.policy.leeway
        if not await self._spent.spend(hospital_id, assertion.jti, keep_until=keep_until):
            message = "this assertion was already used (jti); sign a new one for every request"
            raise AssertionRefused("replayed", message)
        return assertion

    @staticmethod
    def _header_kid(token: str) -> str:
        if len(token) > TOKEN_MAX_CHARS:
            raise AssertionRefused("malformed", "the assertion is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise AssertionRefused("malformed", "not a well-formed signed JWT") from error
        if header.get("alg") not in ALGORITHMS:
            raise AssertionRefused(
                "algorithm", f"alg must be one of {', '.join(ALGORITHMS)} (asymmetric)"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not STAFF_ID.fullmatch(kid):
            raise AssertionRefused("unknown_key", "the header names no key id (kid)")
        return kid

    def check(self, token: str, *, key: RegisteredKey) -> StaffAssertion:
        """Signature, issuer, audience, times and claim shapes against one known key."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
                audience=self.policy.audience,
                issuer=key.hospital_id,
                leeway=self.policy.leeway,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.InvalidIssuerError as error:
            raise AssertionRefused(
                "issuer",
                f"iss must be {key.hospital_id}, the hospital whose API key sent it: a "
                "hospital's system asserts only its own staff",
                status=403,
            ) from error
        except jwt.InvalidTokenError as error:
            for kind, reason, message in _REFUSALS:
                if isinstance(error, kind):
                    raise AssertionRefused(reason, message) from error
            raise AssertionRefused("invalid", "the assertion is invalid") from error
        issued = datetime.fromtimestamp(float(claims["iat"]), UTC)
        expires = datetime.fromtimestamp(float(claims["exp"]), UTC)
        if expires - issued > self.policy.max_lifetime:
            seconds = int(self.policy.max_lifetime.total_seconds())
            raise AssertionRefused("lifetime", f"exp - iat exceeds {seconds} seconds")
        if not STAFF_ID.fullmatch(claims["sub"]):
            raise AssertionRefused("claims", "sub must be a staff id ([A-Za-z0-9_.:-], ≤ 64)")
        if not JTI.fullmatch(claims["jti"]):
            raise AssertionRefused("claims", "jti must be 16–128 random characters [A-Za-z0-9_.:-]")
        return StaffAssertion(
            hospital_id=key.hospital_id,
            staff_id=claims["sub"],
            kid=key.kid,
            jti=claims["jti"],
            issued_at=issued,
            expires_at=expires,
        )


# --- the hospital's side ----------------------------------------------------------------


def sign_staff_assertion(
    *,
    private_key: PrivateKey,
    kid: str,
    hospital_id: str,
    staff_id: str,
    audience: str,
    lifetime: timedelta = timedelta(minutes=2),
    now: datetime | None = None,
    **claims: Any,
) -> str:
    """What a hospital's system sends for one request of one staff member."""
    issued = int((now or datetime.now(UTC)).timestamp())
    payload = {
        "iss": hospital_id,
        "sub": staff_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + int(lifetime.total_seconds()),
        "jti": secrets.token_urlsafe(18),
    } | claims
    return jwt.encode(
        payload, private_key, algorithm=algorithm_of(private_key), headers={"kid": kid}
    )


# --- FastAPI ----------------------------------------------------------------------------


async def proven_staff(
    request: Request,
    principal: CurrentPrincipal,
    token: Annotated[
        str | None,
        Header(
            alias=ASSERTION_HEADER,
            max_length=TOKEN_MAX_CHARS,
            description="JWT signed by the hospital's system for the staff member acting: "
            "kid, iss=hospital, sub=staff id, aud, iat, exp (≤ 5 min), jti (single use); "
            "with the bureau's key, signed by the bureau's system: iss=bureau, sub=supervisor",
        ),
    ] = None,
) -> StaffAssertion | None:
    """The proven staff member (or bureau supervisor) of this request, or None when no
    assertion was sent."""
    if token is None:
        return None
    issuer = principal.hospital_id or BUREAU
    verifier: StaffAssertionVerifier = request.app.state.staff_assertions
    try:
        if principal.is_bureau:
            _issued_by_the_bureau(token.strip())
        return await verifier.verify(token.strip(), hospital_id=issuer)
    except AssertionRefused as refused:
        log.info("staff assertion refused", extra={"issuer": issuer, "reason": refused.reason})
        raise refused.error() from refused


def _issued_by_the_bureau(token: str) -> None:
    """The bureau's key carries only the bureau's own assertions: a hospital's, even a
    valid one, proves a hospital's staff member, who acts with their hospital's key. (Read
    before the signature only to say so; the verifier then checks `iss` against the
    bureau's registered key.)"""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        raise AssertionRefused("malformed", "not a well-formed signed JWT") from error
    if claims.get("iss") != BUREAU:
        message = (
            f"the bureau's key presents only the bureau's own assertions (iss {BUREAU}, sub a "
            "supervisor); a hospital's staff act with their hospital's key"
        )
        raise AssertionRefused("bureau", message, status=403)


ProvenStaff = Annotated[StaffAssertion | None, Depends(proven_staff)]
