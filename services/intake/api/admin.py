"""Intake's admin API: the public keys each hospital's system signs staff assertions with
(shared/staff_assertion.py). Only the bureau registers, lists and revokes them; the
private keys never leave the hospitals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.intake.adapters.staff_assertions import AssertionKeyStore, KeyConflict
from shared.auth import CurrentPrincipal, Principal
from shared.errors import conflict, error_responses, forbidden, invalid, not_found

router = APIRouter(prefix="/v1/admin", responses=error_responses(401, 403, 422, 503))

Code = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class AssertionKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    public_key: str = Field(
        min_length=1,
        max_length=4096,
        description="PEM public key (-----BEGIN PUBLIC KEY-----): Ed25519 (EdDSA) or P-256 (ES256)",
    )
    kid: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="the `kid` the hospital puts in each assertion's header; defaults to the "
        "key's thumbprint",
    )
    note: str | None = Field(default=None, max_length=200, description="e.g. HIS 2026 key")


class AssertionKeyRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=200, description="e.g. 私钥泄露, 轮换")


class AssertionKeyRead(BaseModel):
    hospital_id: str
    kid: str
    algorithm: str
    public_key: str
    thumbprint: str
    note: str | None = None
    registered_at: datetime
    registered_by: str
    active: bool = Field(description="false once revoked: assertions it signs are refused")
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoked_reason: str | None = None


class AssertionKeyList(BaseModel):
    items: list[AssertionKeyRead]


def _store(request: Request) -> AssertionKeyStore:
    return request.app.state.assertion_keys


async def _bureau_and_hospital(principal: Principal, hospital_id: str, request: Request) -> None:
    if not principal.is_bureau:
        raise forbidden(
            "only the bureau registers, lists and revokes hospitals' assertion keys",
            code="not_permitted",
        )
    if await request.app.state.ports.directory.departments(hospital_id) is None:
        raise not_found(f"hospital {hospital_id} is not loaded in the region")


def _shown(record: dict[str, Any]) -> AssertionKeyRead:
    return AssertionKeyRead(**record, active=record.get("revoked_at") is None)


@router.post(
    "/hospitals/{hospital_id}/assertion-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=AssertionKeyRead,
    responses={
        200: {"model": AssertionKeyRead, "description": "This key was already registered"},
        **error_responses(404, 409),
    },
    summary="Register a hospital's public key for staff assertions (bureau only)",
)
async def register_key(
    hospital_id: Code,
    body: AssertionKeyCreate,
    principal: CurrentPrincipal,
    request: Request,
    response: Response,
) -> AssertionKeyRead:
    await _bureau_and_hospital(principal, hospital_id, request)
    try:
        record, created = await _store(request).register(
            hospital_id=hospital_id,
            public_key=body.public_key,
            kid=body.kid,
            note=body.note,
            by=principal.name,
        )
    except ValueError as error:
        raise invalid("public_key", str(error)) from error
    except KeyConflict as clash:
        raise conflict(str(clash), code="key_conflict") from clash
    if not created:
        response.status_code = status.HTTP_200_OK
    return _shown(record)


@router.get(
    "/hospitals/{hospital_id}/assertion-keys",
    response_model=AssertionKeyList,
    responses=error_responses(404),
    summary="A hospital's assertion keys, revoked ones included (bureau only)",
)
async def list_keys(
    hospital_id: Code, principal: CurrentPrincipal, request: Request
) -> AssertionKeyList:
    await _bureau_and_hospital(principal, hospital_id, request)
    records = await _store(request).of_hospital(hospital_id)
    return AssertionKeyList(items=[_shown(record) for record in records])


@router.post(
    "/hospitals/{hospital_id}/assertion-keys/{kid}/revoke",
    response_model=AssertionKeyRead,
    responses=error_responses(404),
    summary="Revoke a key: assertions it signs are refused from now on (bureau only)",
)
async def revoke_key(
    hospital_id: Code,
    kid: Code,
    body: AssertionKeyRevocation,
    principal: CurrentPrincipal,
    request: Request,
) -> AssertionKeyRead:
    await _bureau_and_hospital(principal, hospital_id, request)
    record = await _store(request).revoke(
        hospital_id=hospital_id, kid=kid, reason=body.reason, by=principal.name
    )
    if record is None:
        raise not_found(f"no key {kid} registered for {hospital_id}")
    return _shown(record)
