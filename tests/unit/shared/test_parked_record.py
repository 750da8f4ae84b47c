"""What the drain stores for one delivery from a parking queue, and what a replay sends:
the reason (ours, or the broker's x-death), the envelope's fields, an id that sorts by
parking time and is the same for a redelivery, and the message as it first arrived."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import aio_pika
import bson
from bson.codec_options import CodecOptions
from hypothesis import given
from hypothesis import strategies as st

from shared.parking import PARKED_ID_PATTERN, parked_id, parked_record, replay_message
from shared.publisher import to_message
from shared.topology import PARK_REASON_HEADER, PARKED_AT_HEADER
from tests.support import events as sample

PARKED_AT = datetime(2026, 11, 30, 8, 15, 2, 123456, tzinfo=UTC)
ENVELOPE = sample.envelope(sample.overdue(), "c-42")
# What the broker keeps of the message as first published (not its delivery mode).
FIRST = ("body", "content_type", "message_id", "type", "timestamp")


def parked_by_consumer(**extra_headers: object) -> aio_pika.Message:
    first = to_message(ENVELOPE)
    headers = dict(first.headers or {})
    headers |= {
        PARK_REASON_HEADER: "hospital hz-001 is not in the region; load it, replay",
        PARKED_AT_HEADER: PARKED_AT.isoformat(),
        "x-delivery-count": 2,
        "x-huiyin-retry-step": "3",  # a consumer's own retry state: a replay starts afresh
        **extra_headers,
    }
    return aio_pika.Message(headers=headers, **{name: getattr(first, name) for name in FIRST})


def dead_lettered(reason: str = "delivery_limit") -> aio_pika.Message:
    """As RabbitMQ 3.10 hands it over after the quorum queue's delivery limit."""
    first = to_message(ENVELOPE)
    death = {
        "count": 1,
        "reason": reason,
        "queue": "huiyin.routing",
        "time": datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC),
        "exchange": "huiyin.events",
        "routing-keys": ["complaint.overdue"],
    }
    headers = dict(first.headers or {}) | {
        "x-death": [death],
        "x-delivery-count": 0,
        "x-first-death-exchange": "huiyin.events",
        "x-first-death-queue": "huiyin.routing",
        "x-first-death-reason": reason,
    }
    return aio_pika.Message(
        body=first.body, headers=headers, message_id=first.message_id, type=first.type
    )


def through_the_database(record: dict) -> dict:
    """What a record reads back as (the service's client is tz-aware)."""
    return bson.decode(bson.encode(record), CodecOptions(tz_aware=True))


def test_a_message_parked_by_the_consumer_carries_its_reason_and_envelope() -> None:
    record = parked_record(parked_by_consumer(), queue="huiyin.routing")
    assert record["source"] == "consumer"
    assert record["reason"] == "hospital hz-001 is not in the region; load it, replay"
    assert record["parked_at"] == PARKED_AT
    assert record["status"] == "parked" and record["history"] == []
    assert (record["event_type"], record["event_id"]) == (
        "complaint.overdue",
        str(ENVELOPE.event_id),
    )
    assert (record["complaint_id"], record["hospital_id"]) == ("c-42", "hz-001")
    assert re.fullmatch(PARKED_ID_PATTERN, record["_id"])
    assert record["_id"].startswith("20261130T081502123456Z-")


def test_the_delivery_limit_is_read_from_x_death() -> None:
    record = parked_record(dead_lettered(), queue="huiyin.routing")
    assert record["source"] == "broker"
    assert record["reason"].startswith("delivery limit reached")
    assert "x-death: delivery_limit, queue huiyin.routing, count 1" in record["reason"]
    assert record["parked_at"] == datetime(2026, 11, 30, 9, 0, 0, tzinfo=UTC)
    assert record["death"]["reason"] == "delivery_limit"
    assert record["event_type"] == "complaint.overdue" and record["complaint_id"] == "c-42"


def test_a_redelivery_is_the_same_record_and_another_parking_is_another() -> None:
    first = parked_record(parked_by_consumer(), queue="q", now=PARKED_AT + timedelta(seconds=1))
    again = parked_record(
        parked_by_consumer(**{"x-delivery-count": 3}), queue="q", now=PARKED_AT + timedelta(hours=1)
    )
    later = parked_record(
        parked_by_consumer(**{PARKED_AT_HEADER: (PARKED_AT + timedelta(minutes=5)).isoformat()}),
        queue="q",
    )
    assert first["_id"] == again["_id"]
    assert later["_id"] != first["_id"] and later["_id"] > first["_id"]


def test_an_unreadable_body_is_still_stored_with_what_is_known() -> None:
    message = aio_pika.Message(b"{not json", headers={PARK_REASON_HEADER: "invalid envelope: x"})
    record = parked_record(message, queue="q", now=PARKED_AT)
    assert record["event_type"] == "unknown" and record["event_id"] is None
    assert record["reason"] == "invalid envelope: x"
    assert record["parked_at"] == PARKED_AT  # no header of when: the time it was drained
    assert through_the_database(record)["message"]["body"] == b"{not json"


def test_a_replay_is_the_message_as_it_first_arrived() -> None:
    first = to_message(ENVELOPE)
    for parked in (parked_by_consumer(), dead_lettered()):
        stored = through_the_database(parked_record(parked, queue="huiyin.routing"))
        again = replay_message(stored)
        assert again.body == first.body
        assert (again.message_id, again.type) == (first.message_id, first.type)
        assert again.headers == first.headers  # no reason, retry step, x-death or count
        assert again.delivery_mode is aio_pika.DeliveryMode.PERSISTENT


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31)),
    st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3650)),
    st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
    st.text(alphabet="0123456789abcdef", min_size=16, max_size=16),
)
def test_ids_sort_by_parking_time(at: datetime, gap: timedelta, digest: str, other: str) -> None:
    earlier = at.replace(tzinfo=UTC)
    later = earlier + gap
    if later.year > 9999:
        return
    assert parked_id(earlier, digest) < parked_id(later, other)
    assert re.fullmatch(PARKED_ID_PATTERN, parked_id(earlier, digest))
