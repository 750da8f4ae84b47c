"""The platform's exchange, used by a test as the other services would use it: publishing
their events, and listening on a queue of the test's own for what a running service
publishes, one event per message or in batches (shared/contracts EventBatch): a listener
counts events, not messages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aio_pika

from shared.contracts import BATCH_MESSAGE_TYPE, Envelope, EventBatch, EventPayload
from shared.publisher import to_message
from shared.topology import BATCHES, topic_matches
from tests.support.events import HOSPITAL
from tests.support.platform import Platform
from tests.support.polling import eventually

# What routing publishes in answer to the lifecycle events it consumes.
ROUTING_ANSWERS = ("complaint.routed", "complaint.deadline_changed", "complaint.escalated")


async def publish(platform: Platform, *envelopes: Envelope) -> None:
    """Publish as a producing service does (one message per envelope, publisher confirms)."""
    connection = await aio_pika.connect(platform.infra.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(platform.names.exchange)
        for envelope in envelopes:
            await exchange.publish(to_message(envelope), routing_key=envelope.type)


def batch_keys(*keys: str) -> tuple[str, ...]:
    """The batch routing keys that may carry an event type `keys` match."""
    return tuple(
        batch
        for batch, types in BATCHES.items()
        if any(topic_matches(key, t) for key in keys for t in types)
    )


class Listener:
    """A temporary queue of this test's own, bound to the exchange for some event types
    (`keys`, and the batch keys that may carry them), and the exchange to publish on."""

    once_each = False  # count an event that arrives twice (published at least once) once

    def __init__(
        self,
        exchange: aio_pika.abc.AbstractExchange,
        queue: aio_pika.abc.AbstractQueue,
        keys: tuple[str, ...] = ("#",),
    ) -> None:
        self.exchange, self.queue, self.keys = exchange, queue, keys
        self.seen: list[Envelope] = []

    async def publish(self, payload: EventPayload, complaint_id: str) -> Envelope:
        envelope = payload.envelope(hospital_id=HOSPITAL, complaint_id=complaint_id)
        await self.exchange.publish(to_message(envelope), routing_key=envelope.type)
        return envelope

    async def drain(self) -> list[Envelope]:
        """What arrived since the last look (also kept in `seen`): a batch's events in
        order, those of the types this listener asked for."""
        arrived = []
        while (message := await self.queue.get(fail=False, no_ack=True)) is not None:
            if message.type == BATCH_MESSAGE_TYPE:
                events = EventBatch.model_validate_json(message.body).events
                arrived += [e for e in events if any(topic_matches(k, e.type) for k in self.keys)]
            else:
                arrived.append(Envelope.model_validate_json(message.body))
        self.seen += arrived
        return arrived

    async def heard(self, count: int, *, timeout: float = 20.0) -> list[Envelope]:
        """Everything seen, once it is at least `count` messages."""

        async def enough() -> list[Envelope] | None:
            await self.drain()
            return self.seen if len(self.seen) >= count else None

        return await eventually(enough, timeout=timeout, what=f"{count} messages")

    async def answer(self, event_type: str, count: int = 1, **match: Any) -> list[Envelope]:
        """The `count` or more events of a type seen so far whose payload has `match`."""

        async def found() -> list[Envelope] | None:
            await self.drain()
            matching = [
                e
                for e in self.seen
                if e.type == event_type and all(e.payload.get(k) == v for k, v in match.items())
            ]
            if self.once_each:
                matching = list({e.event_id: e for e in matching}.values())
            return matching if len(matching) >= count else None

        try:
            return await eventually(found, what=f"{count} {event_type} {match}")
        except TimeoutError as late:
            raise AssertionError(f"{late}; seen: {self.seen}") from None

    def distinct(self, event_type: str) -> int:
        """How many different events of a type were seen."""
        return len({e.event_id for e in self.seen if e.type == event_type})


async def listen(
    channel: aio_pika.abc.AbstractChannel,
    platform: Platform,
    *keys: str,
    listener: type[Listener] = Listener,
) -> Listener:
    """A listener on an open channel, whose queue receives the events routed by `keys`,
    alone or in a batch."""
    exchange = await channel.get_exchange(platform.names.exchange)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for key in (*keys, *batch_keys(*keys)):
        await queue.bind(exchange, key)
    return listener(exchange, queue, keys)


@contextlib.asynccontextmanager
async def listening(
    platform: Platform, *keys: str, listener: type[Listener] = Listener
) -> AsyncIterator[Listener]:
    """A listener on a connection of its own, for as long as the block runs."""
    connection = await aio_pika.connect(platform.infra.amqp_url)
    async with connection:
        yield await listen(await connection.channel(), platform, *keys, listener=listener)
