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
    sla_warning, overdue, escalated
                        → the level the scan reached, recorded; the next point planned

Every change of a clock also plans its SLA state and lists it for the scan
(adapters/clocks.py, sla_state.py); the scan (sla_scan.py) tells each point as it passes,
and its events come back here.

A deadline the calendar cannot count yet never holds an event back: it waits on the clock
for its year (lifecycle.py), and `refused` is told once per such deadline (ops metric).
Nothing here touches its dependencies until an event arrives. The types are those routing's
queue receives (shared/topology.py): a mismatch stops the service at start.
"""

from __future__ import annotations

from typing import Any

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
from shared.contracts import (
    ComplaintAccepted,
    ComplaintEscalated,
    ComplaintNotAccepted,
    ComplaintOverdue,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintReplied,
    ComplaintResolvedOnSpot,
    ComplaintSlaWarning,
    ComplaintSupplemented,
    ComplaintTransferred,
    Envelope,
    EventPayload,
    ExtensionApproved,
    LadderStep,
    RerouteRequested,
    SupplementRequested,
)
from shared.records import Decide
from shared.topology import handler_table


def handlers(
    *,
    clocks: ClockStore,
    region: RegionStore,
    calendar: WorkingCalendar,
    settings: RoutingSettings,
    refused: Refusals = ignore_refusals,
) -> dict[str, Handler]:
    rulebook = HospitalRulebook(region, settings)

    async def apply(envelope: Envelope, decide: Decide) -> None:
        await lifecycle.apply(envelope, decide, clocks=clocks, refused=refused)

    async def on_received(envelope: Envelope, payload: ComplaintReceived) -> None:
        await route_complaint(
            envelope, payload, clocks=clocks, rulebook=rulebook, calendar=calendar, refused=refused
        )

    async def on_accepted(envelope: Envelope, payload: ComplaintAccepted) -> None:
        await apply(envelope, lifecycle.accepted(payload))

    async def on_supplement_requested(envelope: Envelope, payload: SupplementRequested) -> None:
        await apply(envelope, lifecycle.paused(payload, recorded_at=envelope.occurred_at))

    async def on_supplemented(envelope: Envelope, payload: ComplaintSupplemented) -> None:
        rules = (await rulebook.of(envelope.hospital_id)).rules
        restart = lifecycle.restarted_from_supplement(
            payload, rules, calendar, recorded_at=envelope.occurred_at
        )
        await apply(envelope, restart)

    def stop(outcome: str) -> Handler:
        async def on_end(envelope: Envelope, payload: Any) -> None:
            await apply(envelope, lifecycle.stopped(payload, outcome))

        return on_end

    async def on_reroute(envelope: Envelope, payload: RerouteRequested) -> None:
        await lifecycle.rerouted(envelope, payload, clocks=clocks, rulebook=rulebook)

    async def on_extension(envelope: Envelope, payload: ExtensionApproved) -> None:
        await apply(envelope, lifecycle.extended(payload, calendar))

    async def on_reopened(envelope: Envelope, payload: ComplaintReopened) -> None:
        routing = await rulebook.of(envelope.hospital_id)
        leaders = await lifecycle.leadership_of(region, envelope.hospital_id)
        await apply(
            envelope,
            lifecycle.reopened(
                payload,
                routing.rules,
                calendar,
                leaders,
                department_label=routing.department_label,
            ),
        )

    async def on_ladder_step(envelope: Envelope, payload: LadderStep) -> None:
        await apply(envelope, lifecycle.reached(payload))

    table: dict[type[EventPayload], Handler] = {
        ComplaintReceived: on_received,
        ComplaintAccepted: on_accepted,
        SupplementRequested: on_supplement_requested,
        ComplaintSupplemented: on_supplemented,
        ComplaintNotAccepted: stop("not_accepted"),
        ComplaintTransferred: stop("transferred"),
        ComplaintResolvedOnSpot: stop("resolved_on_spot"),
        ComplaintReplied: stop("replied"),
        RerouteRequested: on_reroute,
        ExtensionApproved: on_extension,
        ComplaintReopened: on_reopened,
        ComplaintSlaWarning: on_ladder_step,
        ComplaintOverdue: on_ladder_step,
        ComplaintEscalated: on_ladder_step,
    }
    return handler_table("routing", table)
