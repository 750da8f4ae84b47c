"""What routing's admin routes depend on, as `Annotated` aliases of what bootstrap built
once: the clocks, the region copy, the working-day calendar with its store and watch, and
the per-hospital rulebook. Who calls is shared/auth.py's CurrentPrincipal."""

from __future__ import annotations

from typing import Annotated

from services.routing.adapters.calendar_store import CalendarStore
from services.routing.adapters.clocks import ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.calendar_loading import CalendarWatch
from services.routing.domain.calendar import WorkingCalendar
from services.routing.service import HospitalRulebook
from shared.http import from_app_state

ClocksDep = Annotated[ClockStore, from_app_state("clocks")]
RegionDep = Annotated[RegionStore, from_app_state("region")]
CalendarDep = Annotated[WorkingCalendar, from_app_state("calendar")]
CalendarStoreDep = Annotated[CalendarStore, from_app_state("calendar_store")]
CalendarWatchDep = Annotated[CalendarWatch, from_app_state("calendar_watch")]
RulebookDep = Annotated[HospitalRulebook, from_app_state("rulebook")]
