from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.adapters.complaints import ComplaintRepository
from shared.outbox import OutboxRelay


def repository(request: Request) -> ComplaintRepository:
    return request.app.state.repository


def relay(request: Request) -> OutboxRelay:
    return request.app.state.runtime.relay_for(request.app.state.repository.collection)


RepositoryDep = Annotated[ComplaintRepository, Depends(repository)]
RelayDep = Annotated[OutboxRelay, Depends(relay)]
