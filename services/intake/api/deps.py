from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.service import IntakePorts


def ports(request: Request) -> IntakePorts:
    state = request.app.state
    return IntakePorts(
        repository=state.repository,
        directory=state.directory,
        identity=state.identity,
        relay=state.runtime.relay_for(state.repository.collection),
    )


PortsDep = Annotated[IntakePorts, Depends(ports)]
