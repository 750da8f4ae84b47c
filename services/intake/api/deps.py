"""What intake's routes depend on, as `Annotated` aliases: the ports bootstrap built once,
the identity access log and the hospitals' assertion keys. Who calls is
shared/auth.py's CurrentPrincipal."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from services.intake.adapters.identity_reads import IdentityReadLog
from services.intake.adapters.staff_assertions import AssertionKeyStore
from services.intake.ports import IntakePorts


def ports(request: Request) -> IntakePorts:
    return cast(IntakePorts, request.app.state.ports)


PortsDep = Annotated[IntakePorts, Depends(ports)]


def identity_reads(request: Request) -> IdentityReadLog:
    return cast(IdentityReadLog, request.app.state.identity_reads)


IdentityReadsDep = Annotated[IdentityReadLog, Depends(identity_reads)]


def assertion_keys(request: Request) -> AssertionKeyStore:
    return cast(AssertionKeyStore, request.app.state.assertion_keys)


AssertionKeysDep = Annotated[AssertionKeyStore, Depends(assertion_keys)]
