"""Turning events into deliveries: decide who is told what, send once, log the outcome."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from services.notification.adapters.deliveries import FAILED, SENT, DeliveryLog
from services.notification.adapters.mailer import SmtpMailer
from services.notification.domain.messages import (
    Message,
    assignment_for_handler,
    escalation_for,
    extension_for_complainant,
    extension_for_handler,
    mask_address,
    not_accepted_for_complainant,
    receipt_for_complainant,
    reply_for_complainant,
    supplement_request_for_complainant,
    transfer_for_complainant,
)
from shared.contracts import (
    ComplaintAssigned,
    ComplaintEscalated,
    ComplaintExtended,
    ComplaintNotAccepted,
    ComplaintReplied,
    ComplaintTransferred,
    Envelope,
    NotificationFailed,
    NotificationSent,
    SupplementRequested,
)
from shared.outbox import OutboxRelay
from shared.tracing import current_trace_context

log = logging.getLogger(__name__)


async def deliver(
    envelope: Envelope,
    messages: Iterable[Message | None],
    *,
    deliveries: DeliveryLog,
    mailer: SmtpMailer,
    relay: OutboxRelay,
) -> None:
    for message in filter(None, messages):
        delivery_id = f"{envelope.event_id}:{message.role}"
        if message.recipient_key:
            delivery_id += f":{message.recipient_key}"
        fresh = await deliveries.claim(
            delivery_id,
            {
                "complaint_id": envelope.complaint_id,
                "hospital_id": envelope.hospital_id,
                "source_event_id": str(envelope.event_id),
                "source_event_type": envelope.type,
                "recipient_role": message.role.value,
                "recipient": mask_address(message.to),
                "channel": "email",
                "subject": message.subject,
            },
        )
        if not fresh:
            continue
        common = {
            "delivery_id": delivery_id,
            "source_event_id": str(envelope.event_id),
            "recipient_role": message.role.value,
        }
        try:
            attempts = await mailer.send(message, delivery_id=delivery_id)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"[:300]
            log.warning("delivery failed", extra={"delivery_id": delivery_id, "reason": reason})
            outcome = NotificationFailed(**common, attempts=mailer.attempts, error=reason)
            status, attempts, error_text = FAILED, outcome.attempts, reason
        else:
            outcome = NotificationSent(**common, attempts=attempts)
            status, error_text = SENT, None
        event = outcome.envelope(
            hospital_id=envelope.hospital_id,
            complaint_id=envelope.complaint_id,
            trace_context=current_trace_context(),
        )
        await deliveries.finish(
            delivery_id, status=status, attempts=attempts, error=error_text, event=event
        )
        relay.notify(delivery_id, [event])


async def on_assigned(
    envelope: Envelope, event: ComplaintAssigned, *, tracking_url: str, **adapters: object
) -> None:
    await deliver(
        envelope,
        [assignment_for_handler(event), receipt_for_complainant(event, tracking_url=tracking_url)],
        **adapters,  # type: ignore[arg-type]
    )


async def on_replied(envelope: Envelope, event: ComplaintReplied, **adapters: object) -> None:
    await deliver(envelope, [reply_for_complainant(event)], **adapters)  # type: ignore[arg-type]


def messages_for(event: Any, *, tracking_url: str) -> list[Message | None]:
    """Who is told about a lifecycle step, by event type."""
    if isinstance(event, SupplementRequested):
        return [supplement_request_for_complainant(event, tracking_url=tracking_url)]
    if isinstance(event, ComplaintNotAccepted):
        return [not_accepted_for_complainant(event)]
    if isinstance(event, ComplaintTransferred):
        return [transfer_for_complainant(event)]
    if isinstance(event, ComplaintExtended):
        return [
            extension_for_complainant(event, tracking_url=tracking_url),
            extension_for_handler(event),
        ]
    if isinstance(event, ComplaintEscalated):
        return [escalation_for(event, person) for person in event.recipients]
    raise TypeError(f"no messages for {type(event).__name__}")


async def on_lifecycle(
    envelope: Envelope, event: Any, *, tracking_url: str, **adapters: object
) -> None:
    await deliver(envelope, messages_for(event, tracking_url=tracking_url), **adapters)  # type: ignore[arg-type]
