"""Consuming events: one durable queue per service, a handler table, explicit outcomes.

Every event ends in exactly one of three ways, decided here and nowhere else:
- ack: the handler's effect is durable (handlers are idempotent by event id), or the
  event is none of this service's business (no handler: bound through a wildcard or a batch);
- park: the event can never succeed (unparseable, unknown schema, a PermanentFailure):
  it is republished to the service's parking queue with the reason in a header, then acked;
- requeue: a transient failure (database or network); after a short pause the message is
  nacked back. The quorum queue's delivery limit dead-letters it to the parking queue
  if it keeps failing, so nothing loops forever and nothing is dropped.

A batch message (type BATCH_MESSAGE_TYPE, an EventBatch) is fanned out: its events are
applied in order, each through exactly the path a single event takes (`_apply`). One that
can never succeed is parked alone, as a single-event message of its own, and the batch goes
on; a transient failure lets the batch go on too, then requeues the whole batch, whose
events already applied are then no-ops, because every handler applies an event id once
(shared/records.py `applied_events`, notification's deliveries keyed by `_id`,
reporting's facts.apply). Once every event is applied, skipped or parked, the batch is
acked once. A batch that cannot be read at all is parked whole, and so is one the delivery
limit dead-letters: a replay of it is fanned out again like a first delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aio_pika
from aio_pika.abc import (
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from opentelemetry import propagate, trace
from pydantic import ValidationError

from shared.contracts import BATCH_MESSAGE_TYPE, EVENT_TYPES, Envelope, EventBatch, EventPayload
from shared.metrics import ServiceMetrics
from shared.publisher import to_message
from shared.topology import PARK_REASON_HEADER, PARKED_AT_HEADER, parking_exchange_name, queue_name

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, Any], Awaitable[None]]


class PermanentFailure(Exception):
    """The message is well-formed but can never be applied; park it with this reason."""


@dataclass(frozen=True)
class Applied:
    """The handler's effect is durable; counted once the message is acked."""

    event_type: str
    seconds: float


@dataclass(frozen=True)
class Parked:
    """The event can never be applied, for this reason."""

    reason: str


# What became of one event: applied, skipped (no handler here), parked, or to be requeued.
Outcome = Applied | Parked | Literal["skipped", "requeue"]


@dataclass(frozen=True)
class Subscription:
    """A consumer on one durable queue. The queue object is kept here: the robust channel
    restores the consumer after a reconnect only while a reference to it lives."""

    queue: AbstractQueue
    tag: str

    @classmethod
    async def start(
        cls,
        connection: AbstractConnection,
        queue_name: str,
        on_message: Callable[[AbstractIncomingMessage], Awaitable[None]],
        *,
        prefetch: int,
    ) -> Subscription:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(queue_name, ensure=True)
        return cls(queue, await queue.consume(on_message))

    async def cancel(self) -> None:
        """No more deliveries; unacked ones go back to the queue."""
        try:
            await self.queue.cancel(self.tag)
        except Exception:  # the channel may already be gone at shutdown
            log.debug("consumer cancel failed on %s", self.queue.name, exc_info=True)


class EventConsumer:
    def __init__(
        self,
        *,
        connection: AbstractConnection,
        service: str,
        handlers: Mapping[str, Handler],
        metrics: ServiceMetrics,
        exchange: str,
        prefix: str,
        prefetch: int,
        retry_pause_seconds: float = 1.0,
        publish_timeout: float = 10.0,
    ) -> None:
        self._connection = connection
        self._service = service
        self._handlers = dict(handlers)
        self._metrics = metrics
        self._exchange_name = exchange
        self._queue_name = queue_name(prefix, service)
        self._prefetch = prefetch
        self._retry_pause = retry_pause_seconds
        self._publish_timeout = publish_timeout
        self._tracer = trace.get_tracer(f"huiyin.{service}")
        self._subscription: Subscription | None = None
        self._parking: AbstractExchange | None = None
        # Every handled type counts from 0 at start, so a consumer that never consumes
        # shows as a flat series (the alert HuiyinConsumerStalled), not as no series.
        for event_type in self._handlers:
            metrics.events_consumed.labels(service, event_type)

    async def start(self) -> None:
        park_channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        self._parking = await park_channel.get_exchange(parking_exchange_name(self._exchange_name))
        self._subscription = await Subscription.start(
            self._connection, self._queue_name, self._on_message, prefetch=self._prefetch
        )

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.cancel()
        self._subscription = None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if message.type == BATCH_MESSAGE_TYPE:
            await self._on_batch(message)
            return
        started = time.perf_counter()
        try:
            envelope = Envelope.model_validate_json(message.body)
        except ValidationError as error:
            event_type = message.type or message.routing_key or "unknown"
            await self._park(message, f"invalid envelope: {_first_error(error)}", event_type)
            return
        outcome = await self._apply(envelope, started=started)
        if isinstance(outcome, Parked):
            await self._park(message, outcome.reason, envelope.type)
        elif outcome == "requeue":
            await asyncio.sleep(self._retry_pause)
            await message.nack(requeue=True)
        else:
            await message.ack()
            self._count_consumed([outcome] if isinstance(outcome, Applied) else [])

    async def _on_batch(self, message: AbstractIncomingMessage) -> None:
        try:
            batch = EventBatch.model_validate_json(message.body)
        except ValidationError as error:
            reason = f"invalid batch: {_first_error(error)}"
            await self._park(message, reason, BATCH_MESSAGE_TYPE)
            return
        applied: list[Applied] = []
        again = False
        for envelope in batch.events:
            outcome = await self._apply(envelope, started=time.perf_counter())
            if isinstance(outcome, Parked) and not await self._park_event(envelope, outcome.reason):
                # Not parked: deliver the batch again (its applied events are no-ops) rather
                # than lose this one; the delivery limit bounds the attempts.
                outcome = "requeue"
            # One event that must be tried again does not hold up the others: they are
            # applied now, and the redelivered batch finds them done.
            again = again or outcome == "requeue"
            if isinstance(outcome, Applied):
                applied.append(outcome)
        if again:
            await asyncio.sleep(self._retry_pause)
            await message.nack(requeue=True)
            return
        await message.ack()
        self._count_consumed(applied)

    async def _apply(self, envelope: Envelope, *, started: float) -> Outcome:
        """One event, alone or from a batch: handler lookup, contract check, the handler,
        in a tracing span of its own. Acknowledging is the caller's."""
        handler = self._handlers.get(envelope.type)
        if handler is None:
            return "skipped"  # bound by a wildcard or a batch; nothing to do with it here
        payload_model: type[EventPayload] | None = EVENT_TYPES.get(envelope.type)
        parent = propagate.extract(envelope.trace_context)
        with self._tracer.start_as_current_span(
            f"consume {envelope.type}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.destination.name": self._queue_name,
                "messaging.message.id": str(envelope.event_id),
                "huiyin.hospital_id": envelope.hospital_id,
                "huiyin.complaint_id": envelope.complaint_id,
            },
        ) as span:
            try:
                if payload_model is None or envelope.schema_version > payload_model.schema_version:
                    raise PermanentFailure(
                        f"unsupported event {envelope.type} v{envelope.schema_version}"
                    )
                try:
                    payload = payload_model.model_validate(envelope.payload)
                except ValidationError as error:
                    raise PermanentFailure(f"invalid payload: {_first_error(error)}") from error
                await handler(envelope, payload)
            except PermanentFailure as failure:
                span.set_status(trace.StatusCode.ERROR, str(failure))
                return Parked(str(failure))
            except Exception as error:
                span.record_exception(error)
                span.set_status(trace.StatusCode.ERROR, type(error).__name__)
                self._metrics.events_failed.labels(self._service, envelope.type).inc()
                log.warning(
                    "handler failed; requeueing",
                    extra={"event_type": envelope.type, "event_id": str(envelope.event_id)},
                    exc_info=True,
                )
                return "requeue"
        return Applied(envelope.type, time.perf_counter() - started)

    def _count_consumed(self, applied: list[Applied]) -> None:
        """After the ack: huiyin_events_consumed counts events handled and acknowledged."""
        for event in applied:
            self._metrics.events_consumed.labels(self._service, event.event_type).inc()
            self._metrics.handle_seconds.labels(self._service, event.event_type).observe(
                event.seconds
            )

    async def _park(self, message: AbstractIncomingMessage, reason: str, event_type: str) -> None:
        """The message as it arrived, with the reason; acked once the broker has it."""
        self._count_parked(reason, event_type, message.message_id)
        headers = dict(message.headers or {}) | _park_headers(reason)
        parked = aio_pika.Message(
            body=message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        if not await self._to_parking(parked):
            # Could not park with a reason: let the broker dead-letter it instead.
            await message.reject(requeue=False)
            return
        await message.ack()

    async def _park_event(self, envelope: Envelope, reason: str) -> bool:
        """One event of a batch, parked alone: a single-event message of its own (its type,
        its event id), so the operators' view and a replay treat it like any other."""
        self._count_parked(reason, envelope.type, str(envelope.event_id))
        return await self._to_parking(to_message(envelope, extra_headers=_park_headers(reason)))

    def _count_parked(self, reason: str, event_type: str, message_id: str | None) -> None:
        # A bounded label: an unreadable message's type is whatever its sender wrote.
        if event_type not in EVENT_TYPES and event_type != BATCH_MESSAGE_TYPE:
            event_type = "unknown"
        self._metrics.events_failed.labels(self._service, event_type).inc()
        self._metrics.events_parked.labels(self._service).inc()
        log.error(
            "parking message",
            extra={"reason": reason, "message_id": message_id, "queue": self._queue_name},
        )

    async def _to_parking(self, message: aio_pika.Message) -> bool:
        """Published to this service's parking queue and confirmed; False when not."""
        assert self._parking is not None
        try:
            await asyncio.wait_for(
                self._parking.publish(message, routing_key=self._queue_name, mandatory=True),
                timeout=self._publish_timeout,
            )
        except Exception:
            log.exception("parking publish failed")
            return False
        return True


def _park_headers(reason: str) -> dict[str, str]:
    return {PARK_REASON_HEADER: reason[:500], PARKED_AT_HEADER: datetime.now(UTC).isoformat()}


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg')}"
