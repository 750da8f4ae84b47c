from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.adapters.identity_reads import IdentityReadLog
from services.intake.service import IntakePorts


def ports(request: Request) -> IntakePorts:
    state = request.app.state
    return IntakePorts(
        repository=state.repository,
        directory=state.directory,
        identity=state.identity,
        relay=state.runtime.relay_for(state.repository.collection),
        received_window=state.received_window,
    )


PortsDep = Annotated[IntakePorts, Depends(ports)]


def identity_reads(request: Request) -> IdentityReadLog:
    return request.app.state.identity_reads


IdentityReadsDep = Annotated[IdentityReadLog, Depends(identity_reads)]
