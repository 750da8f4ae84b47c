"""Publishing with publisher confirms.

mandatory + on_return_raises turn an unroutable message into an error instead of a
silent confirm; the timeout guards against a publish hanging through a reconnect. The
outbox keeps the event until publish returns, so a failure here is always retried.
"""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractExchange
from prometheus_client import Counter

from shared.contracts import Envelope


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
