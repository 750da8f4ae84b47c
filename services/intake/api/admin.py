"""Intake's admin API: the public keys each hospital's system signs staff assertions with
(shared/staff_assertion.py). Only the bureau registers, lists and revokes them; the
private keys never leave the hospitals. The bureau's own key, with which its system proves
which supervisor acts, is registered the same way under `bureau` in place of a hospital."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from services.intake.adapters.staff_assertions import KeyConflict
from services.intake.api.deps import AssertionKeysDep, PortsDep
from services.intake.api.schemas import (
    AssertionKeyCreate,
    AssertionKeyList,
    AssertionKeyRead,
    AssertionKeyRevocation,
)
from services.intake.ports import IntakePorts
from shared.auth import BUREAU, CurrentPrincipal, Principal
from shared.errors import conflict, error_responses, invalid, not_found

router = APIRouter(prefix="/v1/admin", responses=error_responses(401, 403, 422, 503))

Code = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


async def _bureau_and_hospital(principal: Principal, hospital_id: str, ports: IntakePorts) -> None:
    principal.only_bureau(
        "registers, lists and revokes hospitals' assertion keys", code="not_permitted"
    )
    if hospital_id == BUREAU:
        return  # the bureau's own key, for its supervisors
    if await ports.directory.departments(hospital_id) is None:
        raise not_found(f"hospital {hospital_id} is not loaded in the region")


def _shown(record: dict[str, Any]) -> AssertionKeyRead:
    return AssertionKeyRead(**record, active=record.get("revoked_at") is None)


@router.post(
    "/hospitals/{hospital_id}/assertion-keys",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": AssertionKeyRead, "description": "This key was already registered"},
        **error_responses(404, 409),
    },
    summary="Register a hospital's public key for staff assertions (bureau only; `bureau` "
    "for the bureau's own key, proving its supervisors)",
)
async def register_key(
    hospital_id: Code,
    body: AssertionKeyCreate,
    principal: CurrentPrincipal,
    ports: PortsDep,
    keys: AssertionKeysDep,
    response: Response,
) -> AssertionKeyRead:
    await _bureau_and_hospital(principal, hospital_id, ports)
    try:
        record, created = await keys.register(
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
    responses=error_responses(404),
    summary="A hospital's assertion keys, revoked ones included (bureau only)",
)
async def list_keys(
    hospital_id: Code, principal: CurrentPrincipal, ports: PortsDep, keys: AssertionKeysDep
) -> AssertionKeyList:
    await _bureau_and_hospital(principal, hospital_id, ports)
    records = await keys.of_hospital(hospital_id)
    return AssertionKeyList(items=[_shown(record) for record in records])


@router.post(
    "/hospitals/{hospital_id}/assertion-keys/{kid}/revoke",
    responses=error_responses(404),
    summary="Revoke a key: assertions it signs are refused from now on (bureau only)",
)
async def revoke_key(
    hospital_id: Code,
    kid: Code,
    body: AssertionKeyRevocation,
    principal: CurrentPrincipal,
    ports: PortsDep,
    keys: AssertionKeysDep,
) -> AssertionKeyRead:
    await _bureau_and_hospital(principal, hospital_id, ports)
    record = await keys.revoke(
        hospital_id=hospital_id, kid=kid, reason=body.reason, by=principal.name
    )
    if record is None:
        raise not_found(f"no key {kid} registered for {hospital_id}")
    return _shown(record)
