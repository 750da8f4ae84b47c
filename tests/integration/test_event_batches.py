"""Event batches on the real broker: the SLA scan publishes the ladder's levels many to a
message (shared/contracts EventBatch); the batch key reaches every queue that subscribes
to one of its types, and each consumer applies every event as if it had arrived alone
(shared/consumer.py): in order, a type it does not handle skipped, a bad one parked alone,
a transient failure redelivering the batch without applying anything twice."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast
from uuid import UUID

import aio_pika
import pytest

from deploy.servers import Infrastructure
from shared.consumer import EventConsumer, Handler
from shared.contracts import (
    BATCH_MESSAGE_TYPE,
    ComplaintEscalated,
    ComplaintOverdue,
    Envelope,
    EventBatch,
)
from shared.metrics import ServiceMetrics
from shared.publisher import EventPublisher
from shared.topology import (
    CONSUMER_QUEUES,
    LADDER_BATCH,
    PARK_REASON_HEADER,
    declare_topology,
    parking_queue_name,
    queue_name,
)
from tests.support import events as sample
from tests.support.bus import listen
from tests.support.platform import Names, Platform, drop_everything
from tests.support.polling import eventually


@dataclass
class Bus:
    infra: Infrastructure
    names: Names
    channel: aio_pika.abc.AbstractChannel
    publisher: EventPublisher

    async def ready(self, queue: str) -> int:
        """Messages waiting in `queue` (declared passively: never creates one)."""
        declared = await self.channel.declare_queue(queue, passive=True)
        assert declared.declaration_result.message_count is not None
        return declared.declaration_result.message_count

    def queue(self, service: str) -> str:
        return queue_name(self.names.prefix, service)

    def parking(self, service: str) -> str:
        return parking_queue_name(self.names.prefix, service)


@pytest.fixture
async def bus(infrastructure: Infrastructure) -> AsyncIterator[Bus]:
    """The platform's topology under names of this test's own, and a confirming publisher."""
    names = Names()
    try:
        connection = await aio_pika.connect(infrastructure.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await declare_topology(
                channel, exchange=names.exchange, prefix=names.prefix, delivery_limit=5
            )
            yield Bus(infrastructure, names, channel, EventPublisher(exchange, timeout=10))
    finally:
        await drop_everything(infrastructure, names)


@contextlib.asynccontextmanager
async def consuming(
    bus: Bus, handlers: Mapping[str, Handler], *, service: str = "routing"
) -> AsyncIterator[ServiceMetrics]:
    """`service`'s consumer with these handlers, on a connection of its own; closed at the
    end, after which any delivery it had not acked is back in the queue."""
    metrics = ServiceMetrics(service)
    connection = await aio_pika.connect(bus.infra.amqp_url)
    async with connection:
        consumer = EventConsumer(
            connection=connection,
            service=service,
            handlers=handlers,
            metrics=metrics,
            exchange=bus.names.exchange,
            prefix=bus.names.prefix,
            prefetch=10,
            retry_pause_seconds=0.05,
        )
        await consumer.start()
        yield metrics
        await consumer.stop()


def count(metrics: ServiceMetrics, name: str, **labels: str) -> float:
    sample_value = metrics.registry.get_sample_value(name, {"service": metrics.service, **labels})
    return sample_value or 0.0


async def counted(metrics: ServiceMetrics, name: str, expected: float, **labels: str) -> None:
    async def reached() -> bool:
        return count(metrics, name, **labels) >= expected

    await eventually(reached, timeout=15, what=f"{name} {labels} = {expected}")


@dataclass
class Ledger:
    """A handler as the real ones behave: it applies each event id once (a repeat is a
    no-op), and may fail once, transiently, on one event."""

    fail_once: UUID | None = None
    calls: list[UUID] = field(default_factory=list)  # every call, repeats included
    applied: list[tuple[Envelope, Any]] = field(default_factory=list)

    async def __call__(self, envelope: Envelope, payload: Any) -> None:
        self.calls.append(envelope.event_id)
        if envelope.event_id == self.fail_once:
            self.fail_once = None
            raise ConnectionError("database went away")
        if all(e.event_id != envelope.event_id for e, _ in self.applied):
            self.applied.append((envelope, payload))

    @property
    def applied_ids(self) -> list[UUID]:
        return [e.event_id for e, _ in self.applied]


def ladder(*steps: Any) -> list[Envelope]:
    """One envelope per ladder step, each for a complaint of its own."""
    return [sample.envelope(step, f"c-{n}") for n, step in enumerate(steps)]


async def test_a_batch_is_applied_event_by_event_in_order_skipping_what_the_service_ignores(
    bus: Bus,
) -> None:
    warning, overdue, escalated, overdue_2, warning_2 = ladder(
        sample.sla_warning(),
        sample.overdue(),
        sample.escalated(),
        sample.overdue(level="accept_due"),
        sample.sla_warning(),
    )
    ledger = Ledger()
    # This service handles overdue and escalated only: both sla_warning events are skipped.
    async with consuming(
        bus, {"complaint.overdue": ledger, "complaint.escalated": ledger}
    ) as metrics:
        await bus.publisher.publish_batch(
            EventBatch(
                routing_key=LADDER_BATCH,
                events=[warning, overdue, escalated, overdue_2, warning_2],
            )
        )
        await counted(metrics, "huiyin_events_consumed_total", 2, event_type="complaint.overdue")
        await counted(metrics, "huiyin_events_consumed_total", 1, event_type="complaint.escalated")
    assert ledger.calls == [overdue.event_id, escalated.event_id, overdue_2.event_id]
    assert ledger.applied_ids == ledger.calls  # each once, in the batch's order
    [(first, payload), (_, escalation), (_, third)] = ledger.applied
    assert first == overdue and isinstance(payload, ComplaintOverdue)  # typed, as alone
    assert isinstance(escalation, ComplaintEscalated) and third.level == "accept_due"
    assert count(metrics, "huiyin_events_consumed_total", event_type="complaint.sla_warning") == 0
    # Acked once, every event handled: nothing went back to the queue, nothing was parked.
    assert await bus.ready(bus.queue("routing")) == 0
    assert await bus.ready(bus.parking("routing")) == 0
    assert count(metrics, "huiyin_events_failed_total", event_type="complaint.overdue") == 0


async def test_an_event_with_an_invalid_payload_is_parked_alone_and_the_others_applied(
    bus: Bus,
) -> None:
    good, bad, after = ladder(sample.overdue(), sample.overdue(), sample.escalated())
    bad = bad.model_copy(update={"payload": bad.payload | {"level": None}})
    ledger = Ledger()
    async with consuming(
        bus, {"complaint.overdue": ledger, "complaint.escalated": ledger}
    ) as metrics:
        await bus.publisher.publish_batch(
            EventBatch(routing_key=LADDER_BATCH, events=[good, bad, after])
        )
        await counted(metrics, "huiyin_events_consumed_total", 1, event_type="complaint.escalated")
        assert count(metrics, "huiyin_events_parked_total") == 1
    assert ledger.applied_ids == [good.event_id, after.event_id]
    assert await bus.ready(bus.queue("routing")) == 0

    # Parked as a single-event message of its own: its type, its id, its reason.
    parking = await bus.channel.get_queue(bus.parking("routing"))
    parked = await parking.get(no_ack=True)
    assert await parking.get(fail=False) is None
    assert parked.type == "complaint.overdue" and parked.message_id == str(bad.event_id)
    reason = str((parked.headers or {})[PARK_REASON_HEADER])
    assert reason.startswith("invalid payload: level")
    assert Envelope.model_validate_json(parked.body) == bad


async def test_a_transient_failure_applies_the_rest_then_redelivers_the_batch_once_each(
    bus: Bus,
) -> None:
    first, failing, last = ladder(sample.overdue(), sample.escalated(), sample.overdue())
    ledger = Ledger(fail_once=failing.event_id)
    async with consuming(
        bus, {"complaint.overdue": ledger, "complaint.escalated": ledger}
    ) as metrics:
        await bus.publisher.publish_batch(
            EventBatch(routing_key=LADDER_BATCH, events=[first, failing, last])
        )
        await counted(metrics, "huiyin_events_consumed_total", 2, event_type="complaint.overdue")
    ids = [first.event_id, failing.event_id, last.event_id]
    # First delivery: `first` applied, `failing` raised, `last` applied all the same (one
    # event to retry holds up no other), the batch nacked back. Second: all three again,
    # no-ops for the two applied, `failing` applied.
    assert ledger.calls == [*ids, *ids]
    assert ledger.applied_ids == [first.event_id, last.event_id, failing.event_id]
    assert count(metrics, "huiyin_events_failed_total", event_type="complaint.escalated") == 1
    # Counted once each: only the delivery that was acked counts.
    assert count(metrics, "huiyin_events_consumed_total", event_type="complaint.escalated") == 1
    assert await bus.ready(bus.queue("routing")) == 0
    assert await bus.ready(bus.parking("routing")) == 0


async def test_an_unreadable_batch_is_parked_whole_with_its_reason(bus: Bus) -> None:
    [event] = ladder(sample.overdue())
    body = EventBatch(routing_key=LADDER_BATCH, events=[event]).model_dump(mode="json")
    body["events"][0]["hospital_id"] = ""  # every event carries its hospital
    exchange = await bus.channel.get_exchange(bus.names.exchange)
    message = aio_pika.Message(json.dumps(body).encode(), type=BATCH_MESSAGE_TYPE, message_id="b-1")
    ledger = Ledger()
    async with consuming(bus, {"complaint.overdue": ledger}) as metrics:
        await exchange.publish(message, routing_key=LADDER_BATCH, mandatory=True)
        await counted(metrics, "huiyin_events_parked_total", 1)
    assert ledger.calls == []
    parking = await bus.channel.get_queue(bus.parking("routing"))
    parked = await parking.get(no_ack=True)
    assert (parked.type, parked.message_id) == (BATCH_MESSAGE_TYPE, "b-1")
    reason = str((parked.headers or {})[PARK_REASON_HEADER])
    assert reason.startswith("invalid batch: events.0.hospital_id")


async def test_a_ladder_batch_reaches_every_queue_that_subscribes_to_its_types(
    bus: Bus,
) -> None:
    # A queue of the test's own bound by the patterns every event type matches: a batch
    # is not an event, so none of them may route it.
    exchange = await bus.channel.get_exchange(bus.names.exchange)
    elsewhere = await bus.channel.declare_queue(exclusive=True, auto_delete=True)
    for pattern in ("complaint.#", "notification.#", "*.escalated"):
        await elsewhere.bind(exchange, pattern)

    events = ladder(sample.sla_warning(), sample.overdue(), sample.escalated())
    await bus.publisher.publish_batch(EventBatch(routing_key=LADDER_BATCH, events=events))

    services = [q.service for q in CONSUMER_QUEUES]
    assert sorted(services) == ["intake", "notification", "reporting", "routing"]
    for service in services:
        queue = await bus.channel.get_queue(bus.queue(service))
        message = await queue.get(no_ack=True)
        assert message.type == BATCH_MESSAGE_TYPE, service
        assert EventBatch.model_validate_json(message.body).events == events
        assert await queue.get(fail=False) is None, f"{service} got it twice"
        assert await bus.ready(bus.parking(service)) == 0
    assert await elsewhere.get(fail=False) is None

    # A batch key BATCHES does not name is bound nowhere: the broker returns it.
    with pytest.raises(aio_pika.exceptions.DeliveryError):
        await exchange.publish(aio_pika.Message(b"{}"), routing_key="batch.other", mandatory=True)


async def test_a_batch_refuses_an_event_type_its_key_may_not_carry(bus: Bus) -> None:
    # complaint.received is routed to routing and reporting only; on batch.ladder it would
    # reach intake and notification too and, worse, miss any queue not bound to the key.
    received = sample.envelope(sample.received())
    [overdue] = ladder(sample.overdue())
    batch = EventBatch(routing_key=LADDER_BATCH, events=[overdue, received])
    with pytest.raises(ValueError, match=r"may not carry \['complaint.received'\]"):
        await bus.publisher.publish_batch(batch)
    assert await bus.ready(bus.queue("routing")) == 0


async def test_a_listener_hears_the_events_of_its_types_that_arrive_in_a_batch(
    bus: Bus,
) -> None:
    platform = cast(Platform, SimpleNamespace(names=bus.names))  # all that listen reads
    listener = await listen(bus.channel, platform, "complaint.escalated")
    warning, escalated, overdue, escalated_2 = ladder(
        sample.sla_warning(), sample.escalated(), sample.overdue(), sample.escalated()
    )
    await bus.publisher.publish_batch(
        EventBatch(routing_key=LADDER_BATCH, events=[warning, escalated, overdue, escalated_2])
    )
    assert await listener.heard(2) == [escalated, escalated_2]
