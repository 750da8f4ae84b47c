"""The whole message topology in one table.

Every service declares all of it at start (declarations are idempotent), so a message is
never unroutable because its consumer has not started yet: it waits in a durable queue.

A single event travels on its type as routing key. A batch of events (shared/contracts
EventBatch) travels on a batch routing key (BATCHES), bound to every queue that subscribes
to any type the key may carry; each consumer then applies the events it handles and skips
the rest (shared/consumer.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

from shared.contracts import EVENT_TYPES, EventPayload

H = TypeVar("H")


@dataclass(frozen=True)
class ConsumerQueue:
    service: str
    bindings: tuple[str, ...]


CONSUMER_QUEUES: tuple[ConsumerQueue, ...] = (
    ConsumerQueue(
        "intake",
        (
            "complaint.routed",
            "complaint.deadline_changed",
            # A notice that finally could not be delivered is recorded on the complaint.
            "notification.failed",
            # The escalation ladder: each level reached, and who its notices reached.
            "complaint.sla_warning",
            "complaint.overdue",
            "complaint.escalated",
            "notification.sent",
        ),
    ),
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
            # The ladder's levels the scan reached: recorded on the clock, next point planned.
            "complaint.sla_warning",
            "complaint.overdue",
            "complaint.escalated",
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
            "complaint.deadline_set",
            "complaint.escalated",
            # The rest of the ladder, and the supervisor's orders (督办意见) for the handler.
            "complaint.sla_warning",
            "complaint.overdue",
            "complaint.escalation_acknowledged",
        ),
    ),
    ConsumerQueue("reporting", ("complaint.*", "notification.*")),
)


def topic_matches(pattern: str, event_type: str) -> bool:
    """AMQP topic matching, as the broker routes: `*` is one word, `#` zero or more."""
    words = re.escape(pattern).replace(r"\*", r"[^.]+").replace(r"\#", r".*")
    return re.fullmatch(words, event_type) is not None


def subscriptions(service: str) -> tuple[str, ...]:
    """The event types `service`'s queue receives: its bindings, a pattern such as
    `complaint.*` standing for every contract type it matches (shared/contracts)."""
    [queue] = [q for q in CONSUMER_QUEUES if q.service == service]
    return tuple(
        dict.fromkeys(
            event_type
            for binding in queue.bindings
            for event_type in EVENT_TYPES
            if topic_matches(binding, event_type)
        )
    )


# Batch routing keys and the event types a batch on each may carry. The SLA scan publishes
# the ladder's levels it reaches in batches (services/routing/sla_scan.py).
LADDER_BATCH = "batch.ladder"
BATCHES: dict[str, tuple[str, ...]] = {
    LADDER_BATCH: ("complaint.sla_warning", "complaint.overdue", "complaint.escalated"),
}


def batch_bindings(service: str) -> tuple[str, ...]:
    """The batch routing keys `service`'s queue is bound to: those that may carry a type it
    subscribes to. Bound explicitly, since a pattern such as reporting's `complaint.*` does
    not match `batch.ladder`."""
    subscribed = set(subscriptions(service))
    return tuple(key for key, types in BATCHES.items() if subscribed.intersection(types))


def handler_table(
    service: str, handlers: Mapping[str, H] | Mapping[type[EventPayload], H]
) -> dict[str, H]:
    """`service`'s consumer table: a handler for exactly the types it subscribes to, keyed
    by event type (`handlers` may name a type or its payload model). Either mismatch stops
    the service at start, because at run time both are silent: a received type without a
    handler is acked and dropped (shared/consumer.py), a handler nothing delivers never
    runs."""
    table: dict[str, H] = {
        key if isinstance(key, str) else key.event_type: handler
        for key, handler in handlers.items()
    }
    subscribed = subscriptions(service)
    unhandled = [t for t in subscribed if t not in table]
    unsubscribed = [t for t in table if t not in subscribed]
    if unhandled or unsubscribed:
        raise LookupError(
            f"{service}'s handlers do not match its queue's bindings (shared/topology.py): "
            f"no handler for {unhandled or 'none'}; not subscribed to {unsubscribed or 'none'}"
        )
    return {event_type: table[event_type] for event_type in subscribed}


PARK_REASON_HEADER = "x-huiyin-park-reason"
RETRY_STEP_HEADER = "x-huiyin-retry-step"
# When the consumer parked it (ISO 8601, UTC): orders and identifies it among parked ones.
PARKED_AT_HEADER = "x-huiyin-parked-at"


def queue_name(prefix: str, service: str) -> str:
    return f"{prefix}.{service}"


def parking_queue_name(prefix: str, service: str) -> str:
    return f"{prefix}.{service}.parking"


def parking_exchange_name(exchange: str) -> str:
    return f"{exchange}.parking"


async def declare_topology(
    channel: AbstractChannel, *, exchange: str, prefix: str, delivery_limit: int
) -> AbstractExchange:
    """Declare the events exchange, every consumer's quorum queue (bound to its event types
    and to the batch keys that carry them) and its parking queue."""
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
        for key in (*consumer.bindings, *batch_bindings(consumer.service)):
            await queue.bind(events, routing_key=key)
    return events


def delay_milliseconds(seconds: float) -> int:
    """A backoff step as RabbitMQ's message TTL: whole milliseconds, at least one."""
    return max(1, round(seconds * 1000))


def retry_queue_name(prefix: str, service: str, delay_seconds: float) -> str:
    """Named by its delay, so changing the steps declares new queues instead of clashing
    with the arguments of existing ones (steps with the same delay share a queue)."""
    return f"{queue_name(prefix, service)}.retry.{delay_milliseconds(delay_seconds)}ms"


async def declare_retry_queues(
    channel: AbstractChannel, *, prefix: str, service: str, delays: tuple[float, ...]
) -> list[str]:
    """One queue per backoff step of `service`: nobody consumes it; a message waits there
    for the step's TTL, then is dead-lettered through the default exchange back to the
    service's own queue. Quorum queues with at-least-once dead-lettering, so a waiting
    retry survives a broker restart and is not lost on its way back."""
    names = []
    for delay in dict.fromkeys(delays):
        name = retry_queue_name(prefix, service, delay)
        await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-message-ttl": delay_milliseconds(delay),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue_name(prefix, service),
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )
        names.append(name)
    return names
