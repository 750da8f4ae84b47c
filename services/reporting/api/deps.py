"""What the reports routes depend on, as `Annotated` aliases: the complaint facts bootstrap
built once. Who calls is shared/auth.py's CurrentPrincipal."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from services.reporting.adapters.complaint_facts import ComplaintFacts


def facts(request: Request) -> ComplaintFacts:
    return cast(ComplaintFacts, request.app.state.facts)


FactsDep = Annotated[ComplaintFacts, Depends(facts)]
