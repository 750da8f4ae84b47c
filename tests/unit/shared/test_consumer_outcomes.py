"""How a consumer treats what arrives: the contract check (unknown type, newer schema,
bad payload) ends in the parking queue; a known event reaches its handler. In-process
fakes stand in for the broker's message and parking exchange."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.consumer import EventConsumer, PermanentFailure
from shared.contracts import ComplaintOverdue, Envelope
from shared.metrics import ServiceMetrics
from shared.topology import PARK_REASON_HEADER

OVERDUE = ComplaintOverdue(
    level="reply_due", reason="答复期限已到", due_at=datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)
)


@dataclass
class FakeMessage:
    body: bytes
    type: str | None = None
    routing_key: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = "m-1"
    content_type: str | None = "application/json"
    outcome: list[str] = field(default_factory=list)

    async def ack(self) -> None:
        self.outcome.append("ack")

    async def nack(self, requeue: bool = True) -> None:
        self.outcome.append(f"nack(requeue={requeue})")

    async def reject(self, requeue: bool = False) -> None:
        self.outcome.append(f"reject(requeue={requeue})")


@dataclass
class FakeParking:
    published: list[tuple[Any, str]] = field(default_factory=list)

    async def publish(self, message: Any, routing_key: str, **_: Any) -> None:
        self.published.append((message, routing_key))


def _consumer(handlers: dict[str, Any]) -> tuple[EventConsumer, FakeParking, ServiceMetrics]:
    metrics = ServiceMetrics("routing")
    consumer = EventConsumer(
        connection=None,  # never touched by _on_message
        service="routing",
        handlers=handlers,
        metrics=metrics,
        exchange="huiyin.events",
        prefix="huiyin",
        prefetch=1,
        retry_pause_seconds=0,
    )
    parking = FakeParking()
    consumer._parking = parking  # what start() would look up
    return consumer, parking, metrics


def _wire(**changes: Any) -> bytes:
    envelope = OVERDUE.envelope(hospital_id="hz-001", complaint_id="c-1")
    return envelope.model_copy(update=changes).model_dump_json().encode()


class Recorder:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[Envelope, Any]] = []
        self.error = error

    async def __call__(self, envelope: Envelope, payload: Any) -> None:
        self.calls.append((envelope, payload))
        if self.error:
            raise self.error


def _parked_reason(parking: FakeParking) -> str:
    [(message, routing_key)] = parking.published
    assert routing_key == "huiyin.routing"  # back to this service's parking queue
    return message.headers[PARK_REASON_HEADER]


async def test_a_known_event_reaches_its_handler_typed_and_is_acked() -> None:
    handler = Recorder()
    consumer, parking, metrics = _consumer({"complaint.overdue": handler})
    message = FakeMessage(_wire())
    await consumer._on_message(message)
    [(envelope, payload)] = handler.calls
    assert payload == OVERDUE and isinstance(payload, ComplaintOverdue)
    assert envelope.type == "complaint.overdue"
    assert message.outcome == ["ack"] and parking.published == []


async def test_an_event_type_outside_the_contracts_is_parked() -> None:
    handler = Recorder()
    consumer, parking, _ = _consumer({"complaint.teleported": handler})
    message = FakeMessage(_wire(type="complaint.teleported"))
    await consumer._on_message(message)
    assert handler.calls == []
    version = OVERDUE.schema_version
    assert f"unsupported event complaint.teleported v{version}" in _parked_reason(parking)
    assert message.outcome == ["ack"]  # acked only after it is safely parked


async def test_a_newer_schema_version_than_we_understand_is_parked() -> None:
    handler = Recorder()
    consumer, parking, _ = _consumer({"complaint.overdue": handler})
    newer = OVERDUE.schema_version + 1
    message = FakeMessage(_wire(schema_version=newer))
    await consumer._on_message(message)
    assert handler.calls == []
    assert f"unsupported event complaint.overdue v{newer}" in _parked_reason(parking)


async def test_a_payload_that_breaks_its_contract_is_parked_naming_the_field() -> None:
    handler = Recorder()
    consumer, parking, _ = _consumer({"complaint.overdue": handler})
    message = FakeMessage(_wire(payload={"department": "x", "reason": "答复期限已到"}))
    await consumer._on_message(message)
    assert handler.calls == []
    reason = _parked_reason(parking)
    assert reason.startswith("invalid payload") and "level" in reason


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{}", b'{"type": "complaint.overdue"}', _wire()[:-1]],
    ids=["garbage", "empty", "partial", "truncated"],
)
async def test_an_unreadable_envelope_is_parked(body: bytes) -> None:
    consumer, parking, metrics = _consumer({"complaint.overdue": Recorder()})
    message = FakeMessage(body, type="complaint.overdue")
    await consumer._on_message(message)
    assert _parked_reason(parking).startswith("invalid envelope")
    assert message.outcome == ["ack"]
    assert metrics.events_parked.labels("routing")._value.get() == 1


async def test_an_event_this_service_does_not_handle_is_acked_and_ignored() -> None:
    consumer, parking, _ = _consumer({"complaint.received": Recorder()})
    message = FakeMessage(_wire())  # complaint.overdue, reached through a wildcard binding
    await consumer._on_message(message)
    assert message.outcome == ["ack"] and parking.published == []


async def test_a_permanent_failure_in_the_handler_is_parked_with_its_reason() -> None:
    handler = Recorder(PermanentFailure("complaint c-1 does not exist"))
    consumer, parking, _ = _consumer({"complaint.overdue": handler})
    message = FakeMessage(_wire())
    await consumer._on_message(message)
    assert _parked_reason(parking) == "complaint c-1 does not exist"
    assert message.outcome == ["ack"]


async def test_a_transient_failure_is_requeued_not_parked() -> None:
    consumer, parking, _ = _consumer({"complaint.overdue": Recorder(ConnectionError("db"))})
    message = FakeMessage(_wire())
    await consumer._on_message(message)
    assert message.outcome == ["nack(requeue=True)"] and parking.published == []


async def test_when_parking_fails_the_broker_dead_letters_instead() -> None:
    consumer, parking, _ = _consumer({"complaint.overdue": Recorder()})

    async def broken(*_: Any, **__: Any) -> None:
        raise ConnectionError("channel closed")

    parking.publish = broken
    message = FakeMessage(b"not json")
    await consumer._on_message(message)
    assert message.outcome == ["reject(requeue=False)"]
