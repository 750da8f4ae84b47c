"""The message topology: names, bindings against the event contracts and the services'
handler tables (built from the bindings by handler_table), and what declare_topology asks
of the broker (a fake channel)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest

from shared.contracts import EVENT_TYPES, ComplaintRouted, DeadlineChanged, NotificationFailed
from shared.topology import (
    CONSUMER_QUEUES,
    PARK_REASON_HEADER,
    declare_topology,
    handler_table,
    parking_exchange_name,
    parking_queue_name,
    queue_name,
    subscriptions,
)

SERVICES = {"intake", "routing", "notification", "reporting"}


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: `*` is one word, `#` zero or more."""
    regex = "^" + re.escape(pattern).replace(r"\*", r"[^.]+").replace(r"\#", r".*") + "$"
    return re.match(regex, key) is not None


def bound_types(service: str) -> set[str]:
    [queue] = [q for q in CONSUMER_QUEUES if q.service == service]
    return {t for t in EVENT_TYPES if any(topic_matches(b, t) for b in queue.bindings)}


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


def test_topic_matching_helper() -> None:
    assert topic_matches("complaint.*", "complaint.received")
    assert not topic_matches("complaint.*", "notification.sent")
    assert not topic_matches("complaint.*", "complaint")
    assert topic_matches("#", "complaint.received")


@pytest.mark.parametrize("binding", [b for q in CONSUMER_QUEUES for b in q.bindings])
def test_every_binding_matches_some_event(binding: str) -> None:
    assert any(topic_matches(binding, t) for t in EVENT_TYPES), binding


def test_every_event_reaches_at_least_reporting() -> None:
    assert bound_types("reporting") == set(EVENT_TYPES)


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("intake", {"complaint.routed", "complaint.deadline_changed", "notification.failed"}),
        (
            "routing",
            {
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
            },
        ),
        (
            "notification",
            {
                "complaint.assigned",
                "complaint.replied",
                "complaint.supplement_requested",
                "complaint.not_accepted",
                "complaint.transferred",
                "complaint.extended",
                "complaint.deadline_set",
                "complaint.escalated",
            },
        ),
    ],
)
def test_the_flow_each_service_listens_to(service: str, expected: set[str]) -> None:
    assert bound_types(service) == expected


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

        return set(handlers(ports=stub, settings=stub))
    from services.reporting.consumers import handlers

    return set(handlers(facts=stub, metrics=stub))


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_queue_delivers_exactly_what_its_service_handles(service: str) -> None:
    # A bound type without a handler is acked and dropped; a handler without a binding
    # never runs. Both are silent, so the two tables must agree.
    assert _handler_table(service) == bound_types(service)


def test_subscriptions_expand_a_pattern_into_the_contracts_types() -> None:
    assert set(subscriptions("reporting")) == set(EVENT_TYPES)
    assert subscriptions("intake") == (
        "complaint.routed",
        "complaint.deadline_changed",
        "notification.failed",
    )


def test_a_handler_table_names_exactly_the_types_the_queue_receives() -> None:
    intake = [ComplaintRouted, DeadlineChanged, NotificationFailed]
    by_model = handler_table("intake", {model: model.event_type for model in intake})
    assert by_model == {t: t for t in subscriptions("intake")}
    by_name = handler_table("intake", dict.fromkeys(subscriptions("intake"), "h"))
    assert list(by_name) == list(subscriptions("intake"))


def test_a_table_that_misses_or_adds_a_type_stops_the_service() -> None:
    with pytest.raises(LookupError, match=r"no handler for \['notification.failed'\]"):
        handler_table("intake", {ComplaintRouted: "h", DeadlineChanged: "h"})
    with pytest.raises(LookupError, match=r"not subscribed to \['complaint.received'\]"):
        handler_table("intake", dict.fromkeys([*subscriptions("intake"), "complaint.received"], 1))


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
        channel,  # type: ignore[arg-type]
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
    assert queue.bound == [("huiyin.events", key) for key in binding.bindings]
    # The dead-letter routing key is exactly what the parking queue is bound with.
    assert channel.queues[parked].arguments == {"x-queue-type": "quorum"}
    assert channel.queues[parked].bound == [("huiyin.events.parking", name)]


async def test_nothing_else_is_declared() -> None:
    channel, _ = await _declared()
    assert set(channel.exchanges) == {"huiyin.events", "huiyin.events.parking"}
    assert len(channel.queues) == 2 * len(SERVICES)
