"""The whole message topology in one table.

Every service declares all of it at start (declarations are idempotent), so a message is
never unroutable because its consumer has not started yet: it waits in a durable queue.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange


@dataclass(frozen=True)
class ConsumerQueue:
    service: str
    bindings: tuple[str, ...]


CONSUMER_QUEUES: tuple[ConsumerQueue, ...] = (
    ConsumerQueue("intake", ("complaint.routed", "complaint.deadline_changed")),
    ConsumerQueue(
        "routing",
        (
            "complaint.received",
            "complaint.accepted",
            "complaint.supplement_requested",
            "complaint.supplemented",
            "complaint.not_accepted",
            "complaint.transferred",
            "complaint.resolved_on_spot",
            "complaint.reroute_requested",
            "complaint.extension_approved",
            "complaint.replied",
            "complaint.reopened",
        ),
    ),
    ConsumerQueue(
        "notification",
        (
            "complaint.assigned",
            "complaint.replied",
            "complaint.supplement_requested",
            "complaint.not_accepted",
            "complaint.transferred",
            "complaint.extended",
            "complaint.escalated",
        ),
    ),
    ConsumerQueue("reporting", ("complaint.*", "notification.*")),
)

PARK_REASON_HEADER = "x-huiyin-park-reason"


def queue_name(prefix: str, service: str) -> str:
    return f"{prefix}.{service}"


def parking_queue_name(prefix: str, service: str) -> str:
    return f"{prefix}.{service}.parking"


def parking_exchange_name(exchange: str) -> str:
    return f"{exchange}.parking"


async def declare_topology(
    channel: AbstractChannel, *, exchange: str, prefix: str, delivery_limit: int
) -> AbstractExchange:
    """Declare the events exchange, every consumer's quorum queue and its parking queue."""
    events = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    parking = await channel.declare_exchange(
        parking_exchange_name(exchange), aio_pika.ExchangeType.DIRECT, durable=True
    )
    for consumer in CONSUMER_QUEUES:
        name = queue_name(prefix, consumer.service)
        parked = await channel.declare_queue(
            parking_queue_name(prefix, consumer.service),
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        await parked.bind(parking, routing_key=name)
        queue = await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": delivery_limit,
                "x-dead-letter-exchange": parking_exchange_name(exchange),
                "x-dead-letter-routing-key": name,
            },
        )
        for key in consumer.bindings:
            await queue.bind(events, routing_key=key)
    return events
