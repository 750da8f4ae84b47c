"""What routing's admin routes depend on, as `Annotated` aliases of what bootstrap built
once: the clocks, the region copy, the working-day calendar with its store and watch, and
the per-hospital rulebook. Who calls is shared/auth.py's CurrentPrincipal."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from services.routing.adapters.calendar_store import CalendarStore
from services.routing.adapters.clocks import ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.calendar_loading import CalendarWatch
from services.routing.domain.calendar import WorkingCalendar
from services.routing.service import HospitalRulebook


def clocks(request: Request) -> ClockStore:
    return cast(ClockStore, request.app.state.clocks)


def region(request: Request) -> RegionStore:
    return cast(RegionStore, request.app.state.region)


def calendar(request: Request) -> WorkingCalendar:
    return cast(WorkingCalendar, request.app.state.calendar)


def calendar_store(request: Request) -> CalendarStore:
    return cast(CalendarStore, request.app.state.calendar_store)


def calendar_watch(request: Request) -> CalendarWatch:
    return cast(CalendarWatch, request.app.state.calendar_watch)


def rulebook(request: Request) -> HospitalRulebook:
    return cast(HospitalRulebook, request.app.state.rulebook)


ClocksDep = Annotated[ClockStore, Depends(clocks)]
RegionDep = Annotated[RegionStore, Depends(region)]
CalendarDep = Annotated[WorkingCalendar, Depends(calendar)]
CalendarStoreDep = Annotated[CalendarStore, Depends(calendar_store)]
CalendarWatchDep = Annotated[CalendarWatch, Depends(calendar_watch)]
RulebookDep = Annotated[HospitalRulebook, Depends(rulebook)]
