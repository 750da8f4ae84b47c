"""The envelope and every event contract: round trips, rejections, published schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.contracts import EVENT_TYPES, Envelope, EventPayload, Person, json_schemas
from tests.support.events import every_event, received

# One realistic instance of every event type, with every optional field filled.
SAMPLES: dict[str, EventPayload] = every_event()


def _envelope(payload: EventPayload, **overrides: Any) -> Envelope:
    fields: dict[str, Any] = {
        "hospital_id": "hz-001",
        "complaint_id": "c-0001",
        "trace_context": {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
    }
    return payload.envelope(**(fields | overrides))


def test_there_is_a_sample_for_every_event_type() -> None:
    assert set(SAMPLES) == set(EVENT_TYPES)
    for name, sample in SAMPLES.items():
        assert type(sample) is EVENT_TYPES[name]


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_round_trips_through_json(name: str) -> None:
    sample = SAMPLES[name]
    envelope = _envelope(sample)
    wire = envelope.model_dump_json()
    json.loads(wire)  # plain JSON on the wire
    received = Envelope.model_validate_json(wire)
    assert received == envelope
    assert received.type == name and received.schema_version == EVENT_TYPES[name].schema_version
    assert EVENT_TYPES[received.type].model_validate(received.payload) == sample


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_round_trips_through_an_outbox_document(name: str) -> None:
    envelope = _envelope(SAMPLES[name])
    document = envelope.to_document()
    assert isinstance(document["event_id"], str)  # BSON has no UUID without a codec
    assert isinstance(document["occurred_at"], datetime)  # dates stay dates
    json.dumps(document["payload"])  # the payload is already plain JSON
    restored = Envelope.from_document(document)
    assert restored == envelope
    assert EVENT_TYPES[name].model_validate(restored.payload) == SAMPLES[name]


def test_a_document_as_the_database_returns_it_round_trips() -> None:
    # MongoDB hands back naive UTC datetimes with millisecond precision.
    envelope = _envelope(SAMPLES["complaint.received"])
    document = envelope.to_document()
    stored = document | {
        "occurred_at": envelope.occurred_at.replace(tzinfo=None, microsecond=123000)
    }
    restored = Envelope.from_document(stored)
    assert restored.occurred_at == envelope.occurred_at.replace(microsecond=123000)
    assert restored.occurred_at.tzinfo is not None
    assert restored.model_dump(exclude={"occurred_at"}) == envelope.model_dump(
        exclude={"occurred_at"}
    )


def test_from_document_does_not_mutate_its_input() -> None:
    document = _envelope(SAMPLES["complaint.overdue"]).to_document()
    document["occurred_at"] = datetime(2026, 11, 23, 1, 0)
    snapshot = dict(document)
    Envelope.from_document(document)
    assert document == snapshot and document["occurred_at"].tzinfo is None


def test_the_envelope_is_built_from_the_payload_class() -> None:
    for name, sample in SAMPLES.items():
        envelope = _envelope(sample)
        assert envelope.type == name == type(sample).event_type
        assert envelope.schema_version == type(sample).schema_version >= 1
        assert envelope.payload == sample.model_dump(mode="json")
        assert isinstance(envelope.event_id, UUID)


def test_each_envelope_gets_its_own_id_and_a_utc_time() -> None:
    sample = SAMPLES["complaint.received"]
    first, second = _envelope(sample), _envelope(sample)
    assert first.event_id != second.event_id
    assert first.occurred_at.utcoffset() == timedelta(0)


def test_occurred_at_is_kept_as_given_but_in_utc() -> None:
    local = datetime(2026, 11, 23, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    envelope = _envelope(SAMPLES["complaint.received"], occurred_at=local)
    assert envelope.occurred_at == local and envelope.occurred_at.tzinfo is UTC


def test_a_missing_trace_context_is_an_empty_map() -> None:
    envelope = SAMPLES["complaint.received"].envelope(hospital_id="h", complaint_id="c")
    assert envelope.trace_context == {}


@settings(max_examples=30, deadline=None)
@given(
    content=st.text(min_size=1, max_size=60),
    demand=st.none() | st.text(max_size=30),
    anonymous=st.booleans(),
    seconds=st.integers(min_value=0, max_value=10**9),
    offset_minutes=st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_received_events_with_any_text_survive_the_wire(
    content: str, demand: str | None, anonymous: bool, seconds: int, offset_minutes: int
) -> None:
    tz = timezone(timedelta(minutes=offset_minutes))
    received_at = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    event = received(
        channel="phone",
        kind="suggestion",
        anonymous=anonymous,
        received_at=received_at.astimezone(tz),
        content=content,
        demand=demand,
    )
    envelope = Envelope.model_validate_json(_envelope(event).model_dump_json())
    restored = type(event).model_validate(envelope.payload)
    assert restored == event and restored.received_at == received_at


# --- rejections ---------------------------------------------------------------------------


def _document(**changes: Any) -> dict[str, Any]:
    return _envelope(SAMPLES["complaint.received"]).model_dump(mode="json") | changes


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"type": "ComplaintReceived"}, "type"),
        ({"type": "complaint"}, "type"),
        ({"type": "complaint.received.v2"}, "type"),
        ({"type": "x" * 40 + "." + "y" * 30}, "type"),
        ({"schema_version": 0}, "schema_version"),
        ({"schema_version": -1}, "schema_version"),
        ({"hospital_id": ""}, "hospital_id"),
        ({"hospital_id": "h" * 65}, "hospital_id"),
        ({"complaint_id": ""}, "complaint_id"),
        ({"occurred_at": "2026-11-23T01:00:00"}, "occurred_at"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"trace_context": {"traceparent": 1}}, "trace_context"),
        ({"payload": "not an object"}, "payload"),
        ({"unexpected": True}, "unexpected"),
    ],
)
def test_malformed_envelopes_are_rejected_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        Envelope.model_validate(_document(**changes))
    assert field in {str(error["loc"][0]) for error in raised.value.errors()}


@pytest.mark.parametrize("missing", ["type", "hospital_id", "complaint_id", "payload"])
def test_required_envelope_fields(missing: str) -> None:
    document = _document()
    del document[missing]
    with pytest.raises(ValidationError):
        Envelope.model_validate(document)


def test_the_envelope_is_immutable() -> None:
    envelope = _envelope(SAMPLES["complaint.received"])
    with pytest.raises(ValidationError):
        envelope.type = "complaint.replied"


def test_unknown_event_types_have_no_contract() -> None:
    # The envelope carries any well-formed type (a wildcard-bound consumer may see new
    # ones); only EVENT_TYPES gives a payload a contract. The consumer parks the rest
    # (see test_consumer_outcomes).
    envelope = Envelope.model_validate(_document(type="complaint.teleported"))
    assert envelope.type not in EVENT_TYPES


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_a_payload_missing_a_required_field_is_rejected(name: str) -> None:
    model = EVENT_TYPES[name]
    payload = SAMPLES[name].model_dump(mode="json")
    for field, info in model.model_fields.items():
        if info.is_required():
            with pytest.raises(ValidationError) as raised:
                model.model_validate({k: v for k, v in payload.items() if k != field})
            assert field in str(raised.value)


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_payloads_ignore_fields_added_by_a_newer_producer(name: str) -> None:
    payload = SAMPLES[name].model_dump(mode="json") | {"added_in_a_later_release": 1}
    assert EVENT_TYPES[name].model_validate(payload) == SAMPLES[name]


def test_payload_times_must_carry_a_zone() -> None:
    payload = SAMPLES["complaint.overdue"].model_dump(mode="json") | {
        "due_at": "2026-11-30T15:59:59"
    }
    with pytest.raises(ValidationError, match="due_at"):
        EVENT_TYPES["complaint.overdue"].model_validate(payload)


def test_a_bad_complainant_address_is_refused() -> None:
    payload = SAMPLES["complaint.replied"].model_dump(mode="json") | {
        "complainant_email": "not an address"
    }
    with pytest.raises(ValidationError, match="complainant_email"):
        EVENT_TYPES["complaint.replied"].model_validate(payload)


# --- confidentiality by contract ----------------------------------------------------------

IDENTITY_FIELDS = {"complainant", "complainant_name", "complainant_phone", "name", "phone"}


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_no_event_carries_the_complainant_name_or_phone(name: str) -> None:
    assert not IDENTITY_FIELDS & set(EVENT_TYPES[name].model_fields)


def test_a_staff_member_on_the_bus_is_only_an_address() -> None:
    # Whatever else the directory knows of them stays behind (docs/rules.md#confidentiality).
    directory_entry = {
        "staff_id": "hz-001-finance-1",
        "name": "钱会计",
        "email": "finance.1@hz1.example.org",
        "phone": "13900002222",
        "roles": ["handler"],
        "absent": True,
    }
    on_the_bus = Person.model_validate(directory_entry).model_dump(mode="json")
    assert on_the_bus == {k: directory_entry[k] for k in ("staff_id", "name", "email")}


# --- published schemas --------------------------------------------------------------------


def test_one_schema_per_event_type_and_version_plus_the_envelope() -> None:
    schemas = json_schemas()
    expected = {"envelope"} | {f"{n}.v{m.schema_version}" for n, m in EVENT_TYPES.items()}
    assert set(schemas) == expected


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_each_schema_describes_its_event(name: str) -> None:
    model = EVENT_TYPES[name]
    schema = json_schemas()[f"{name}.v{model.schema_version}"]
    json.dumps(schema)  # publishable as JSON
    assert schema["type"] == "object"
    assert set(schema["properties"]) == set(model.model_fields)
    required = {field for field, info in model.model_fields.items() if info.is_required()}
    assert set(schema.get("required", [])) == required


def test_the_envelope_schema_documents_the_wire_rules() -> None:
    schema = json_schemas()["envelope"]
    properties = schema["properties"]
    assert set(schema["required"]) == {"type", "hospital_id", "complaint_id", "payload"}
    assert properties["type"]["pattern"] == r"^[a-z]+\.[a-z_]+$"
    assert properties["schema_version"]["minimum"] == 1
    assert schema.get("additionalProperties") is False


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_name_fits_the_envelope_type_rule(name: str) -> None:
    # A type the envelope refuses could never be published.
    Envelope.model_validate(_document(type=name))
    assert name.split(".")[0] in {"complaint", "notification"}
