"""The message topology: names, bindings against the event contracts, each service's
handler table against what its queue receives (handler_table), and what declare_topology
asks of the broker (a fake channel)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest

from shared.contracts import EVENT_TYPES
from shared.topology import (
    CONSUMER_QUEUES,
    PARK_REASON_HEADER,
    batch_bindings,
    declare_topology,
    handler_table,
    parking_exchange_name,
    parking_queue_name,
    queue_name,
    subscriptions,
    topic_matches,
)

SERVICES = {"intake", "routing", "notification", "reporting"}


# --- pure names ---------------------------------------------------------------------------


def test_names() -> None:
    assert queue_name("huiyin", "routing") == "huiyin.routing"
    assert parking_queue_name("huiyin", "routing") == "huiyin.routing.parking"
    assert parking_exchange_name("huiyin.events") == "huiyin.events.parking"
    assert PARK_REASON_HEADER.startswith("x-")


@pytest.mark.parametrize("prefix", ["huiyin", "test-3f2a", "a.b"])
def test_all_names_are_distinct_for_any_prefix(prefix: str) -> None:
    names = [queue_name(prefix, q.service) for q in CONSUMER_QUEUES]
    names += [parking_queue_name(prefix, q.service) for q in CONSUMER_QUEUES]
    assert len(set(names)) == len(names) == 2 * len(SERVICES)


def test_different_prefixes_never_share_a_queue() -> None:
    # Tests isolate themselves by prefix; a shared name would leak messages between them.
    a = {queue_name("t1", s) for s in SERVICES} | {parking_queue_name("t1", s) for s in SERVICES}
    b = {queue_name("t2", s) for s in SERVICES} | {parking_queue_name("t2", s) for s in SERVICES}
    assert not a & b


# --- bindings against the contracts -------------------------------------------------------


def test_one_queue_per_service() -> None:
    services = [q.service for q in CONSUMER_QUEUES]
    assert len(services) == len(set(services)) and set(services) == SERVICES


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("complaint.*", "complaint.received", True),
        ("complaint.*", "notification.sent", False),
        ("complaint.*", "complaint", False),
        ("complaint.*", "complaint.a.b", False),  # `*` is one word
        ("complaint.#", "complaint.a.b", True),  # `#` is any number of words
        ("#", "complaint.received", True),
        ("complaint.routed", "complaint.routed", True),
        ("complaint.routed", "complaint.routedx", False),
        ("complaint.routed", "complaintxrouted", False),  # a dot is a dot
    ],
)
def test_topic_matching_is_the_brokers(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


@pytest.mark.parametrize("binding", [b for q in CONSUMER_QUEUES for b in q.bindings])
def test_every_binding_matches_some_event(binding: str) -> None:
    assert any(topic_matches(binding, t) for t in EVENT_TYPES), binding


def test_every_event_reaches_at_least_reporting() -> None:
    assert set(subscriptions("reporting")) == set(EVENT_TYPES)


def _handler_table(service: str) -> set[str]:
    stub: Any = object()
    if service == "intake":
        from services.intake.consumers import handlers

        return set(handlers(ports=stub))
    if service == "routing":
        from services.routing.consumers import handlers

        return set(handlers(clocks=stub, region=stub, calendar=stub, settings=stub))
    if service == "notification":
        from services.notification.consumers import handlers

        return set(handlers(ports=stub, settings=stub, ladder=stub))
    from services.reporting.consumers import handlers

    return set(handlers(facts=stub, counters=stub, metrics=stub))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_handles_exactly_what_its_queue_receives(service: str) -> None:
    # A bound type without a handler is acked and dropped; a handler without a binding
    # never runs. Both are silent, so building the table refuses either (handler_table).
    assert _handler_table(service) == set(subscriptions(service))


def test_a_named_binding_subscribes_only_that_type_in_binding_order() -> None:
    [intake] = [q for q in CONSUMER_QUEUES if q.service == "intake"]
    assert subscriptions("intake") == intake.bindings


def test_a_handler_table_names_exactly_the_types_the_queue_receives() -> None:
    intake = [EVENT_TYPES[t] for t in subscriptions("intake")]
    by_model = handler_table("intake", {model: model.event_type for model in reversed(intake)})
    assert by_model == {t: t for t in subscriptions("intake")}
    assert list(by_model) == list(subscriptions("intake"))  # in subscription order


def test_a_table_that_misses_or_adds_a_type_stops_the_service() -> None:
    *kept, missed = subscriptions("intake")
    with pytest.raises(LookupError, match=rf"no handler for \['{missed}'\]"):
        handler_table("intake", dict.fromkeys(kept, "h"))
    [other, *_] = [t for t in EVENT_TYPES if t not in subscriptions("intake")]
    with pytest.raises(LookupError, match=rf"not subscribed to \['{other}'\]"):
        handler_table("intake", dict.fromkeys([*subscriptions("intake"), other], 1))


# --- declaration (fake channel) -----------------------------------------------------------


@dataclass
class FakeQueue:
    name: str
    arguments: dict[str, Any]
    bound: list[tuple[str, str]] = field(default_factory=list)

    async def bind(self, exchange: Any, routing_key: str) -> None:
        self.bound.append((exchange.name, routing_key))


@dataclass
class FakeExchange:
    name: str
    kind: Any


@dataclass
class FakeChannel:
    exchanges: dict[str, FakeExchange] = field(default_factory=dict)
    queues: dict[str, FakeQueue] = field(default_factory=dict)

    async def declare_exchange(self, name: str, kind: Any, durable: bool) -> FakeExchange:
        assert durable
        self.exchanges[name] = FakeExchange(name, kind)
        return self.exchanges[name]

    async def declare_queue(self, name: str, durable: bool, arguments: dict[str, Any]) -> FakeQueue:
        assert durable
        self.queues[name] = FakeQueue(name, arguments)
        return self.queues[name]


async def _declared() -> tuple[FakeChannel, Any]:
    channel = FakeChannel()
    events = await declare_topology(
        channel,
        exchange="huiyin.events",
        prefix="huiyin",
        delivery_limit=5,
    )
    return channel, events


async def test_declares_a_topic_exchange_and_a_direct_parking_exchange() -> None:
    channel, events = await _declared()
    assert events.name == "huiyin.events"
    assert channel.exchanges["huiyin.events"].kind is aio_pika.ExchangeType.TOPIC
    assert channel.exchanges["huiyin.events.parking"].kind is aio_pika.ExchangeType.DIRECT


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_each_service_gets_a_quorum_queue_that_dead_letters_to_its_parking_queue(
    service: str,
) -> None:
    channel, _ = await _declared()
    name, parked = queue_name("huiyin", service), parking_queue_name("huiyin", service)
    queue = channel.queues[name]
    assert queue.arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 5,
        "x-dead-letter-exchange": "huiyin.events.parking",
        "x-dead-letter-routing-key": name,
    }
    [binding] = [q for q in CONSUMER_QUEUES if q.service == service]
    keys = (*binding.bindings, *batch_bindings(service))  # and the batches carrying them
    assert queue.bound == [("huiyin.events", key) for key in keys]
    # The dead-letter routing key is exactly what the parking queue is bound with.
    assert channel.queues[parked].arguments == {"x-queue-type": "quorum"}
    assert channel.queues[parked].bound == [("huiyin.events.parking", name)]


async def test_nothing_else_is_declared() -> None:
    channel, _ = await _declared()
    assert set(channel.exchanges) == {"huiyin.events", "huiyin.events.parking"}
    assert len(channel.queues) == 2 * len(SERVICES)
