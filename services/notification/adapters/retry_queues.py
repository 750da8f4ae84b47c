"""Backoff steps kept by the broker: an event with a delivery to try again is published to
the retry queue of its step and comes back to notification's own queue when the step's
TTL runs out (shared/topology.py declare_retry_queues).

So a waiting retry holds no consumer slot and no timer in this process, and survives a
restart of notification or of the broker. The whole event comes back: deliveries already
sent or finally failed are skipped by the delivery log, so processing it again is safe.
The step number travels in a header for whoever inspects a retry queue; the delivery log
keeps the count that decides the next pause.
"""

from __future__ import annotations

import asyncio

from aio_pika.abc import AbstractChannel, AbstractConnection

from shared.contracts import Envelope
from shared.publisher import to_message
from shared.topology import RETRY_STEP_HEADER, declare_retry_queues, retry_queue_name


class RetryQueues:
    def __init__(
        self, *, prefix: str, service: str, delays: tuple[float, ...], publish_timeout: float
    ) -> None:
        self.delays = delays
        self._prefix, self._service = prefix, service
        self._publish_timeout = publish_timeout
        self._channel: AbstractChannel | None = None

    async def start(self, connection: AbstractConnection | None) -> None:
        if connection is None:
            raise RuntimeError("the broker connection is not open")
        # A robust channel: it is reopened, with confirms, after a reconnect.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_retry_queues(
            channel, prefix=self._prefix, service=self._service, delays=self.delays
        )
        self._channel = channel

    async def schedule(self, envelope: Envelope, *, step: int) -> None:
        """Publish `envelope` to wait `delays[step - 1]`; returns once the broker confirmed.
        Raises when it cannot (the consumer then requeues the event: nothing is lost)."""
        if self._channel is None:
            raise RuntimeError("retry queues are not declared yet")
        delay = self.delays[step - 1]
        message = to_message(envelope, extra_headers={RETRY_STEP_HEADER: str(step)})
        await asyncio.wait_for(
            self._channel.default_exchange.publish(
                message,
                routing_key=retry_queue_name(self._prefix, self._service, delay),
                mandatory=True,
            ),
            timeout=self._publish_timeout,
        )
