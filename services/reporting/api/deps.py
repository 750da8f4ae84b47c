"""What the reports routes depend on, as `Annotated` aliases: the complaint facts, the
report counters and the region's names (adapters/region.py) bootstrap built once. Who
calls is shared/auth.py's CurrentPrincipal."""

from __future__ import annotations

from typing import Annotated

from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.adapters.region import Region
from services.reporting.adapters.report_counters import ReportCounters
from shared.http import from_app_state

FactsDep = Annotated[ComplaintFacts, from_app_state("facts")]

CountersDep = Annotated[ReportCounters, from_app_state("counters")]

RegionDep = Annotated[Region, from_app_state("region")]
