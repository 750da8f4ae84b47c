"""Which events intake reacts to, and what each does to the complaint.

The types are those intake's queue receives (shared/topology.py): a table that misses
or adds one stops the service at start. Each event changes its complaint once: the
event's id joins `applied_events` in the same write (shared/records.py), so a
redelivery changes nothing. An event about a complaint
intake does not have can never apply and is parked; a change that cannot apply yet
(routing_decisions.RoutingNotApplied, escalations.NoticeBeforeItsStep) is retried
(shared/consumer.py says how). An event a predicate in CONCERNS says is not intake's
business (a notice that is no ladder step's) is acked without touching the complaint.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from services.intake.change import Change
from services.intake.delivery_problems import failure_change
from services.intake.domain.confidentiality import IdentityCipher
from services.intake.escalations import step_change, told_change
from services.intake.ports import IntakePorts
from services.intake.routing_decisions import deadline_change, routed_change
from shared.consumer import Handler, PermanentFailure
from shared.contracts import (
    ComplaintEscalated,
    ComplaintOverdue,
    ComplaintRouted,
    ComplaintSlaWarning,
    DeadlineChanged,
    Envelope,
    EventPayload,
    NotificationFailed,
    NotificationSent,
)
from shared.records import Decision
from shared.topology import handler_table


class EventChange(Protocol):
    """What an event does to the complaint it is about (pure)."""

    def __call__(
        self,
        complaint: dict[str, Any],
        envelope: Envelope,
        payload: Any,
        /,
        *,
        identity: IdentityCipher,
        now: datetime,
    ) -> Change: ...


CHANGES: dict[type[EventPayload], EventChange] = {
    ComplaintRouted: routed_change,
    DeadlineChanged: deadline_change,
    NotificationFailed: failure_change,
    # The escalation ladder (docs/rules.md#escalation): each level reached, who was told.
    ComplaintSlaWarning: step_change,
    ComplaintOverdue: step_change,
    ComplaintEscalated: step_change,
    NotificationSent: told_change,
}

# Of these types only some events concern the complaint: the others change nothing and
# are not even read from the database.
CONCERNS: dict[type[EventPayload], Callable[[Any], bool]] = {
    NotificationSent: lambda sent: sent.level is not None,  # a ladder step's notice
}


def handlers(*, ports: IntakePorts) -> dict[str, Handler]:
    """Building the table touches nothing: `ports` is used per message."""
    return handler_table(
        "intake",
        {
            model: partial(apply_once, change, ports=ports, concerns=CONCERNS.get(model))
            for model, change in CHANGES.items()
        },
    )


async def apply_once(
    change: EventChange,
    envelope: Envelope,
    payload: Any,
    *,
    ports: IntakePorts,
    concerns: Callable[[Any], bool] | None = None,
) -> None:
    if concerns is not None and not concerns(payload):
        return

    def decide(complaint: dict[str, Any]) -> Decision:
        now = datetime.now(UTC)
        changed = change(complaint, envelope, payload, identity=ports.identity, now=now)
        return changed.decision(complaint, now=now)

    applied = await ports.complaints.change(
        envelope.complaint_id, decide, once_per=str(envelope.event_id)
    )
    if applied is None:
        # An event about a complaint intake lost or never had can never be applied.
        raise PermanentFailure(f"complaint {envelope.complaint_id} does not exist")
