"""Which events routing reacts to: the first decision (service.py), then the SLA clock
through the lifecycle (lifecycle.py). One table, so the whole flow reads in one screen:

    received            → decide: category, departments, priority, case type, handler,
                          deadlines; start the clock; publish complaint.routed (revision 1)
    accepted            → record acceptance against its own target
    supplement_requested→ pause;  supplemented → restart from that day (deadline_changed)
    not_accepted, transferred, resolved_on_spot, replied → stop
    reroute_requested   → new decision in another department (routed, revision + 1)
    extension_approved  → reply deadline + n working days (deadline_changed)
    reopened            → re-review deadline (deadline_changed); flagged → escalated

A deadline the calendar cannot count yet never holds an event back: it waits on the clock
for its year (lifecycle.py), and `refused` is told once per such deadline (ops metric).
Nothing here touches its dependencies until an event arrives.
"""

from __future__ import annotations

from services.routing import lifecycle
from services.routing.adapters.clocks import ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.domain.calendar import WorkingCalendar
from services.routing.service import (
    HospitalRulebook,
    Refusals,
    ignore_refusals,
    route_complaint,
)
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
    refused: Refusals = ignore_refusals,
) -> dict[str, Handler]:
    rulebook = HospitalRulebook(region, settings)

    def relay():  # type: ignore[no-untyped-def]
        return runtime.relay_for(clocks.collection)

    async def apply(envelope, decide) -> None:  # type: ignore[no-untyped-def]
        await lifecycle.apply(envelope, decide, clocks=clocks, relay=relay(), refused=refused)

    async def on_received(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await route_complaint(
            envelope,
            payload,
            clocks=clocks,
            rulebook=rulebook,
            calendar=calendar,
            relay=relay(),
            refused=refused,
        )

    async def on_accepted(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await apply(envelope, lifecycle.accepted(payload))

    async def on_supplement_requested(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await apply(envelope, lifecycle.paused(payload, recorded_at=envelope.occurred_at))

    async def on_supplemented(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        rules = (await rulebook.of(envelope.hospital_id)).rules
        restart = lifecycle.restarted_from_supplement(
            payload, rules, calendar, recorded_at=envelope.occurred_at
        )
        await apply(envelope, restart)

    def stop(outcome: str) -> Handler:
        async def on_end(envelope, payload) -> None:  # type: ignore[no-untyped-def]
            await apply(envelope, lifecycle.stopped(payload, outcome))

        return on_end

    async def on_reroute(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await lifecycle.rerouted(envelope, payload, clocks=clocks, rulebook=rulebook, relay=relay())

    async def on_extension(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        await apply(envelope, lifecycle.extended(payload, calendar))

    async def on_reopened(envelope, payload) -> None:  # type: ignore[no-untyped-def]
        rules = (await rulebook.of(envelope.hospital_id)).rules
        leaders = await lifecycle.leadership_of(region, envelope.hospital_id)
        await apply(envelope, lifecycle.reopened(payload, rules, calendar, leaders))

    return {
        "complaint.received": on_received,
        "complaint.accepted": on_accepted,
        "complaint.supplement_requested": on_supplement_requested,
        "complaint.supplemented": on_supplemented,
        "complaint.not_accepted": stop("not_accepted"),
        "complaint.transferred": stop("transferred"),
        "complaint.resolved_on_spot": stop("resolved_on_spot"),
        "complaint.replied": stop("replied"),
        "complaint.reroute_requested": on_reroute,
        "complaint.extension_approved": on_extension,
        "complaint.reopened": on_reopened,
    }
