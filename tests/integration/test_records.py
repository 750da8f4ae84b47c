"""shared/records.py against the real MongoDB-wire server: one change of a record at a time,
the change and its events in one write, once per event id, a redelivered insert refused."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from deploy.servers import Infrastructure
from shared.contracts import ComplaintEscalated
from shared.outbox import OutboxRelay
from shared.records import Decision, Records
from shared.runtime import mongo_client
from tests.support import events as sample


@pytest.fixture
async def records(infrastructure: Infrastructure) -> AsyncIterator[Records]:
    client = mongo_client(infrastructure.mongo_url)
    name = f"t{secrets.token_hex(4)}_records"
    collection = client[name]["things"]
    try:
        yield Records(collection, OutboxRelay(collection))  # never started: events only queue
    finally:
        await client.drop_database(name)
        await client.close()


def escalated(level: str) -> ComplaintEscalated:
    return sample.escalated(level=level, reason="测试")


async def test_a_change_and_its_events_are_one_write(records: Records) -> None:
    created = await records.insert({"_id": "c1", "hospital_id": "hz-001", "n": 0})
    assert created is not None and created.events == ()

    def decide(record: dict[str, Any]) -> Decision:
        return Decision({"$set": {"n": record["n"] + 1}}, [escalated("leadership")])

    changed = await records.change("c1", decide)
    assert changed is not None and changed.changed
    [event] = changed.events
    assert (event.type, event.hospital_id, event.complaint_id) == (
        "complaint.escalated",
        "hz-001",
        "c1",
    )
    stored = await records.collection.find_one({"_id": "c1"})
    assert stored is not None and stored["n"] == 1
    assert list(stored["outbox"]) == [str(event.event_id)] and stored["outbox_pending"]


async def test_concurrent_changes_of_one_record_each_see_the_last(records: Records) -> None:
    await records.insert({"_id": "c2", "hospital_id": "hz-001", "n": 0})

    def increment(record: dict[str, Any]) -> Decision:
        return Decision({"$set": {"n": record["n"] + 1}})

    await asyncio.gather(*(records.change("c2", increment) for _ in range(40)))
    stored = await records.get("c2")
    assert stored is not None and stored["n"] == 40


async def test_once_per_event_applies_a_redelivery_once(records: Records) -> None:
    await records.insert({"_id": "c3", "hospital_id": "hz-001", "n": 0})

    def increment(record: dict[str, Any]) -> Decision:
        return Decision({"$inc": {"n": 1}}, [escalated("bureau")])

    first = await records.change("c3", increment, once_per="event-1")
    again = await records.change("c3", increment, once_per="event-1")
    assert first is not None and first.changed and len(first.events) == 1
    assert again is not None and not again.changed and again.events == ()
    nothing = await records.change("c3", lambda record: None, once_per="event-2")
    assert nothing is not None and nothing.after["applied_events"] == ["event-1", "event-2"]
    assert nothing.after["n"] == 1


async def test_a_second_insert_of_one_id_is_refused_and_a_missing_record_is_none(
    records: Records,
) -> None:
    assert await records.insert({"_id": "c4", "hospital_id": "hz-001"}) is not None
    assert await records.insert({"_id": "c4", "hospital_id": "hz-001"}) is None
    assert await records.change("missing", lambda record: Decision()) is None
