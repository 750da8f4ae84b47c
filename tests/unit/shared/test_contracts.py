"""The envelope and event contracts every service shares."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.contracts import EVENT_TYPES, ComplaintReceived, Envelope
from shared.contracts.events import json_schemas

RECEIVED = ComplaintReceived.model_validate(
    {
        "case_number": "HZ-001-202611-00001",
        "channel": "web",
        "kind": "complaint",
        "anonymous": False,
        "content": "药房发错药",
        "received_at": datetime(2026, 11, 23, 1, 0, tzinfo=UTC),
    }
)


def test_envelope_round_trips_through_a_document_and_json() -> None:
    envelope = RECEIVED.envelope(
        hospital_id="hz-001", complaint_id="c1", trace_context={"traceparent": "00-x"}
    )
    assert Envelope.from_document(envelope.to_document()) == envelope
    assert Envelope.model_validate_json(envelope.model_dump_json()) == envelope
    assert envelope.type == "complaint.received" and envelope.schema_version == 1


def test_naive_dates_from_the_database_are_read_as_utc() -> None:
    document = RECEIVED.envelope(hospital_id="hz-001", complaint_id="c1").to_document()
    document["occurred_at"] = datetime(2026, 11, 23, 1, 0)
    assert Envelope.from_document(document).occurred_at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def test_occurred_at_is_normalised_to_utc() -> None:
    local = datetime(2026, 11, 23, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    envelope = RECEIVED.envelope(hospital_id="h", complaint_id="c", occurred_at=local)
    assert envelope.occurred_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "Complaint Received"}, "type"),
        ({"hospital_id": ""}, "hospital_id"),
        ({"schema_version": 0}, "schema_version"),
        ({"surprise": 1}, "surprise"),
        ({"occurred_at": "2026-11-23T01:00:00"}, "occurred_at"),
    ],
)
def test_bad_envelopes_are_rejected_naming_the_field(change: dict, field: str) -> None:  # type: ignore[type-arg]
    document = RECEIVED.envelope(hospital_id="h", complaint_id="c").model_dump(mode="json")
    with pytest.raises(ValidationError) as raised:
        Envelope.model_validate(document | change)
    assert field in str(raised.value)


def test_every_event_type_has_a_published_schema() -> None:
    schemas = json_schemas()
    assert "envelope" in schemas
    for name, model in EVENT_TYPES.items():
        assert f"{name}.v{model.schema_version}" in schemas
        assert name == model.event_type
        assert "." in name
    assert date  # keep the import for the date-typed fields of the routed event
