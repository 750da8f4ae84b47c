"""Event batches without a broker: what a batch may be (EventBatch), which queues a batch
key reaches (BATCHES, batch_bindings), the message it travels in, and the one consumer
outcome the real broker cannot be made to show: a bad event that cannot be parked."""

from __future__ import annotations

from typing import Any

import aio_pika
import pytest
from pydantic import ValidationError

from shared.contracts import (
    BATCH_MESSAGE_TYPE,
    EVENT_TYPES,
    MAX_BATCH_EVENTS,
    Envelope,
    EventBatch,
)
from shared.publisher import BATCH_EVENTS_HEADER, to_batch_message
from shared.topology import (
    BATCHES,
    CONSUMER_QUEUES,
    LADDER_BATCH,
    batch_bindings,
    subscriptions,
    topic_matches,
)
from tests.support import events as sample
from tests.unit.shared.test_consumer_outcomes import FakeMessage, Recorder, _consumer

OVERDUE = sample.envelope(sample.overdue())


def _error_fields(error: ValidationError) -> list[str]:
    return [".".join(str(part) for part in e["loc"]) for e in error.errors()]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"events": []}, "events"),
        ({"events": [OVERDUE] * (MAX_BATCH_EVENTS + 1)}, "events"),
        ({"routing_key": "complaint.overdue"}, "routing_key"),  # an event's key, not a batch's
        ({"routing_key": "batch.Ladder"}, "routing_key"),
        ({"routing_key": "batch."}, "routing_key"),
        ({"routing_key": "batch.ladder.more"}, "routing_key"),
        ({"count": 1}, "count"),  # extra="forbid"
    ],
    ids=["empty", "too-many", "event-key", "upper-case", "no-name", "two-words", "extra"],
)
def test_a_batch_that_breaks_its_contract_is_refused_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    fields: dict[str, Any] = {"routing_key": LADDER_BATCH, "events": [OVERDUE]} | changes
    with pytest.raises(ValidationError) as refused:
        EventBatch(**fields)
    assert _error_fields(refused.value) == [field]


def test_an_event_in_a_batch_is_held_to_the_envelope_contract() -> None:
    raw = OVERDUE.model_dump(mode="json") | {"hospital_id": ""}
    with pytest.raises(ValidationError) as refused:
        EventBatch.model_validate({"routing_key": LADDER_BATCH, "events": [raw]})
    assert _error_fields(refused.value) == ["events.0.hospital_id"]


def test_each_event_keeps_its_own_identity_through_the_wire() -> None:
    events = [
        sample.envelope(sample.sla_warning(), "c-1"),
        OVERDUE,
        sample.escalated().envelope(hospital_id="hz-002", complaint_id="c-9"),
    ]
    batch = EventBatch(routing_key=LADDER_BATCH, events=events)
    again = EventBatch.model_validate_json(batch.model_dump_json())
    assert again == batch and again.events == events
    assert [e.hospital_id for e in again.events] == ["hz-001", "hz-001", "hz-002"]
    assert len({e.event_id for e in again.events} | {again.batch_id}) == 4
    with pytest.raises(ValidationError):
        batch.routing_key = "batch.other"  # type: ignore[misc]  # frozen


def test_a_batch_travels_as_one_persistent_message_of_its_own_type() -> None:
    batch = EventBatch(routing_key=LADDER_BATCH, events=[OVERDUE, OVERDUE])
    message = to_batch_message(batch)
    assert message.type == BATCH_MESSAGE_TYPE == "batch"
    assert message.message_id == str(batch.batch_id)
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.headers == {BATCH_EVENTS_HEADER: 2}
    assert EventBatch.model_validate_json(message.body) == batch


@pytest.mark.parametrize("key", sorted(BATCHES))
def test_a_batch_key_carries_contract_types_and_no_event_pattern_routes_it(key: str) -> None:
    assert set(BATCHES[key]) <= set(EVENT_TYPES)
    # So the key must be bound explicitly: reporting's complaint.* does not match it.
    assert not any(topic_matches(b, key) for q in CONSUMER_QUEUES for b in q.bindings)


@pytest.mark.parametrize("service", [q.service for q in CONSUMER_QUEUES])
def test_a_batch_key_is_bound_to_exactly_the_queues_subscribing_to_one_of_its_types(
    service: str,
) -> None:
    expected = tuple(k for k, types in BATCHES.items() if set(types) & set(subscriptions(service)))
    assert batch_bindings(service) == expected
    assert LADDER_BATCH in batch_bindings(service)  # today every service follows the ladder


async def test_a_bad_event_that_cannot_be_parked_sends_the_whole_batch_back() -> None:
    handler = Recorder()
    consumer, parking, _ = _consumer({"complaint.overdue": handler})

    async def broken(*_: Any, **__: Any) -> None:
        raise ConnectionError("channel closed")

    parking.publish = broken  # type: ignore[method-assign]
    bad = OVERDUE.model_copy(update={"payload": {}})
    after = sample.envelope(sample.overdue(), "c-2")
    batch = EventBatch(routing_key=LADDER_BATCH, events=[OVERDUE, bad, after])
    message = FakeMessage(batch.model_dump_json().encode(), type=BATCH_MESSAGE_TYPE)
    await consumer._on_message(message)  # type: ignore[arg-type]
    # Not lost and not dead-lettered whole: the others applied all the same, then the
    # batch redelivered (they are no-ops then).
    assert message.outcome == ["nack(requeue=True)"]
    assert [e for e, _ in handler.calls] == [OVERDUE, after]


def test_a_batch_of_the_largest_size_is_accepted() -> None:
    events: list[Envelope] = [OVERDUE] * MAX_BATCH_EVENTS
    assert len(EventBatch(routing_key=LADDER_BATCH, events=events).events) == MAX_BATCH_EVENTS
