"""The envelope every message on the bus travels in, alone or in a batch.

Consumers route, deduplicate and trace on envelope fields alone, so a payload can
evolve (schema_version) without every consumer parsing it. A batch (EventBatch) is only a
cheaper way to carry many envelopes in one message: each keeps its own event id, type,
hospital and complaint, and every consumer applies it as if it had arrived alone
(shared/consumer.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(default_factory=uuid4)
    type: str = Field(pattern=r"^[a-z]+\.[a-z_]+$", max_length=64)
    schema_version: int = Field(default=1, ge=1)
    occurred_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    hospital_id: str = Field(min_length=1, max_length=64)
    complaint_id: str = Field(min_length=1, max_length=64)
    trace_context: dict[str, str] = Field(default_factory=dict)
    payload: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def to_document(self) -> dict[str, Any]:
        """BSON-friendly form for an outbox entry (dates stay dates)."""
        return self.model_dump(mode="python") | {"event_id": str(self.event_id)}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Envelope:
        occurred = document["occurred_at"]
        if isinstance(occurred, datetime) and occurred.tzinfo is None:
            document = document | {"occurred_at": occurred.replace(tzinfo=UTC)}
        return cls.model_validate(document)


# The AMQP message `type` of a batch (a single event's is its event type).
BATCH_MESSAGE_TYPE: Final = "batch"
# Well above what a publisher sends (the SLA scan sends up to 1,000), so one message stays
# a few MB at most and a consumer's prefetch of batches stays bounded in memory.
MAX_BATCH_EVENTS: Final = 2000


class EventBatch(BaseModel):
    """Many events in one AMQP message, published on `routing_key` (shared/topology.py
    BATCHES names the event types each key may carry and binds it to every queue that
    subscribes to one of them). Publishing 10,000 events one by one with confirms costs
    seconds; in batches of 1,000, a tenth of a second."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: UUID = Field(default_factory=uuid4)
    routing_key: str = Field(pattern=r"^batch\.[a-z_]+$", max_length=64)
    events: list[Envelope] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)
