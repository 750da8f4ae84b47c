"""Turning events into deliveries: decide who is told what, send once, log the outcome."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from services.notification.adapters.deliveries import FAILED, SENT, DeliveryLog
from services.notification.adapters.mailer import SmtpMailer
from services.notification.domain.messages import Message, mask_address
from services.notification.domain.notices import notices_for
from shared.contracts import Envelope, EventPayload, NotificationFailed, NotificationSent
from shared.outbox import OutboxRelay
from shared.tracing import current_trace_context

log = logging.getLogger(__name__)


def delivery_id_of(envelope: Envelope, message: Message) -> str:
    """One delivery per event and person: `{event}:{role}` or, when one event reaches
    several people of a role (leaders), `{event}:{role}:{staff_id}`. A redelivered event
    maps to the same ids, which the delivery log has already claimed."""
    delivery_id = f"{envelope.event_id}:{message.role}"
    return f"{delivery_id}:{message.recipient_key}" if message.recipient_key else delivery_id


async def deliver(
    envelope: Envelope,
    messages: Iterable[Message],
    *,
    deliveries: DeliveryLog,
    mailer: SmtpMailer,
    relay: OutboxRelay,
) -> None:
    for message in messages:
        delivery_id = delivery_id_of(envelope, message)
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


async def notify(
    envelope: Envelope,
    event: EventPayload,
    *,
    tracking_url: str,
    deliveries: DeliveryLog,
    mailer: SmtpMailer,
    relay: OutboxRelay,
) -> None:
    await deliver(
        envelope,
        notices_for(event, tracking_url=tracking_url),
        deliveries=deliveries,
        mailer=mailer,
        relay=relay,
    )
