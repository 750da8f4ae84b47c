"""Publishing with publisher confirms.

mandatory + on_return_raises turn an unroutable message into an error instead of a
silent confirm; the timeout guards against a publish hanging through a reconnect. The
outbox keeps the event until publish returns, so a failure here is always retried.

Many events at once (the SLA scan's ladder levels) go as an EventBatch in one message:
one confirm instead of one per event, and every consumer applies each event as if it had
arrived alone (shared/consumer.py).
"""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractExchange
from prometheus_client import Counter

from shared.contracts import BATCH_MESSAGE_TYPE, Envelope, EventBatch
from shared.topology import BATCHES

# The number of events in a batch message (for an operator reading a parked one; not
# x-huiyin-*, which a replay strips as delivery state).
BATCH_EVENTS_HEADER = "batch_events"


def to_message(
    envelope: Envelope, *, extra_headers: dict[str, str] | None = None
) -> aio_pika.Message:
    return aio_pika.Message(
        body=envelope.model_dump_json().encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(envelope.event_id),
        type=envelope.type,
        timestamp=envelope.occurred_at,
        headers={
            **envelope.trace_context,
            "hospital_id": envelope.hospital_id,
            "schema_version": envelope.schema_version,
            **(extra_headers or {}),
        },
    )


def to_batch_message(batch: EventBatch) -> aio_pika.Message:
    return aio_pika.Message(
        body=batch.model_dump_json().encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(batch.batch_id),
        type=BATCH_MESSAGE_TYPE,
        headers={BATCH_EVENTS_HEADER: len(batch.events)},
    )


def unroutable_in_batch(batch: EventBatch) -> list[str]:
    """The event types in `batch` its routing key may not carry. The key is bound only to
    the queues of the types BATCHES names for it, so another type would miss its
    consumers and be confirmed all the same: silently lost."""
    allowed = BATCHES.get(batch.routing_key, ())
    return sorted({e.type for e in batch.events if e.type not in allowed})


class EventPublisher:
    def __init__(
        self, exchange: AbstractExchange, *, timeout: float, confirmed: Counter | None = None
    ) -> None:
        self._exchange = exchange
        self._timeout = timeout
        self._confirmed = confirmed

    async def publish(self, envelope: Envelope) -> None:
        await asyncio.wait_for(
            self._exchange.publish(to_message(envelope), routing_key=envelope.type, mandatory=True),
            timeout=self._timeout,
        )
        if self._confirmed is not None:
            self._confirmed.inc()

    async def publish_batch(self, batch: EventBatch) -> None:
        """One message for all of `batch`'s events, confirmed as a whole; `confirmed`
        counts the events, as if each had been published alone."""
        if misrouted := unroutable_in_batch(batch):
            raise ValueError(
                f"a batch on {batch.routing_key} may not carry {misrouted} "
                "(shared/topology.py BATCHES)"
            )
        await asyncio.wait_for(
            self._exchange.publish(
                to_batch_message(batch), routing_key=batch.routing_key, mandatory=True
            ),
            timeout=self._timeout,
        )
        if self._confirmed is not None:
            self._confirmed.inc(len(batch.events))
