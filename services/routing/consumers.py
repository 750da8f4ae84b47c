"""Which events routing reacts to."""

from __future__ import annotations

from services.routing.adapters.clocks import ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.categories import KeywordClassifier
from services.routing.service import route_complaint, stop_clock
from services.routing.settings import RoutingSettings
from shared.consumer import Handler
from shared.runtime import ServiceRuntime


def handlers(
    *,
    runtime: ServiceRuntime,
    clocks: ClockStore,
    region: RegionStore,
    calendar: WorkingCalendar,
    settings: RoutingSettings,
) -> dict[str, Handler]:
    classifier = KeywordClassifier()

    async def on_received(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await route_complaint(
            envelope,
            payload,
            clocks=clocks,
            region=region,
            classifier=classifier,
            calendar=calendar,
            reply_working_days=settings.reply_working_days,
            relay=runtime.relay_for(clocks.collection),
        )

    async def on_replied(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await stop_clock(envelope, payload, clocks=clocks)

    return {"complaint.received": on_received, "complaint.replied": on_replied}
