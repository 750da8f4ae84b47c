"""What intake's routes depend on, as `Annotated` aliases: the ports bootstrap built once,
and the identity access log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.adapters.identity_reads import IdentityReadLog
from services.intake.ports import IntakePorts


def ports(request: Request) -> IntakePorts:
    return request.app.state.ports


PortsDep = Annotated[IntakePorts, Depends(ports)]


def identity_reads(request: Request) -> IdentityReadLog:
    return request.app.state.identity_reads


IdentityReadsDep = Annotated[IdentityReadLog, Depends(identity_reads)]
