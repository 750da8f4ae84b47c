"""Consuming events: one durable queue per service, a handler table, explicit outcomes.

Every delivery ends in exactly one of three ways, decided here and nowhere else:
- ack: the handler's effect is durable (handlers are idempotent by event id);
- park: the message can never succeed (unparseable, unknown schema, a PermanentFailure):
  it is republished to the service's parking queue with the reason in a header, then acked;
- requeue: a transient failure (database or network); after a short pause the message is
  nacked back. The quorum queue's delivery limit dead-letters it to the parking queue
  if it keeps failing, so nothing loops forever and nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from opentelemetry import propagate, trace
from pydantic import ValidationError

from shared.contracts import EVENT_TYPES, Envelope, EventPayload
from shared.metrics import ServiceMetrics
from shared.topology import PARK_REASON_HEADER, PARKED_AT_HEADER, parking_exchange_name, queue_name

log = logging.getLogger(__name__)

Handler = Callable[[Envelope, Any], Awaitable[None]]


class PermanentFailure(Exception):
    """The message is well-formed but can never be applied; park it with this reason."""


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
        started = time.perf_counter()
        event_type = message.type or message.routing_key or "unknown"
        try:
            envelope = Envelope.model_validate_json(message.body)
        except ValidationError as error:
            await self._park(message, f"invalid envelope: {_first_error(error)}", event_type)
            return
        event_type = envelope.type
        handler = self._handlers.get(envelope.type)
        if handler is None:
            await message.ack()  # bound by a wildcard; this service has nothing to do with it
            return
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
                await self._park(message, str(failure), event_type)
                return
            except Exception as error:
                span.record_exception(error)
                span.set_status(trace.StatusCode.ERROR, type(error).__name__)
                self._metrics.events_failed.labels(self._service, event_type).inc()
                log.warning(
                    "handler failed; requeueing",
                    extra={"event_type": event_type, "event_id": str(envelope.event_id)},
                    exc_info=True,
                )
                await asyncio.sleep(self._retry_pause)
                await message.nack(requeue=True)
                return
        await message.ack()
        self._metrics.events_consumed.labels(self._service, event_type).inc()
        self._metrics.handle_seconds.labels(self._service, event_type).observe(
            time.perf_counter() - started
        )

    async def _park(self, message: AbstractIncomingMessage, reason: str, event_type: str) -> None:
        self._metrics.events_failed.labels(self._service, event_type).inc()
        self._metrics.events_parked.labels(self._service).inc()
        log.error(
            "parking message",
            extra={"reason": reason, "message_id": message.message_id, "queue": self._queue_name},
        )
        assert self._parking is not None
        headers = dict(message.headers or {})
        headers[PARK_REASON_HEADER] = reason[:500]
        headers[PARKED_AT_HEADER] = datetime.now(UTC).isoformat()
        try:
            await asyncio.wait_for(
                self._parking.publish(
                    aio_pika.Message(
                        body=message.body,
                        headers=headers,
                        content_type=message.content_type,
                        message_id=message.message_id,
                        type=message.type,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=self._queue_name,
                    mandatory=True,
                ),
                timeout=self._publish_timeout,
            )
        except Exception:
            # Could not park with a reason: let the broker dead-letter it instead.
            log.exception("parking publish failed; rejecting to the dead-letter exchange")
            await message.reject(requeue=False)
            return
        await message.ack()


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg')}"
