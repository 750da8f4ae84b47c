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


async def test_records_created_together_share_insert_commands(
    infrastructure: Infrastructure,
) -> None:
    commands: list[str] = []
    client = mongo_client(
        infrastructure.mongo_url, operations=lambda command, _: commands.append(command)
    )
    name = f"t{secrets.token_hex(4)}_records"
    records = Records(client[name]["things"])
    try:
        first = [{"_id": f"c{n}", "hospital_id": "hz-001", "n": n} for n in range(40)]
        created = await asyncio.gather(*(records.insert(record) for record in first))
        assert all(c is not None for c in created)
        # A record already stored, among new ones: refused alone, the others stored.
        again = [{"_id": "c7", "hospital_id": "hz-001", "n": -1}, {"_id": "c40", "n": 40}]
        second = await asyncio.gather(*(records.insert(record) for record in again))
        assert second[0] is None and second[1] is not None
        assert await records.collection.count_documents({}) == 41
        assert (await records.get("c7") or {}).get("n") == 7
        assert commands.count("insert") < 20  # 42 records: the first alone, then in groups
    finally:
        await client.drop_database(name)
        await client.close()


async def test_records_remembered_as_written_are_changed_without_a_read(
    infrastructure: Infrastructure,
) -> None:
    commands: list[tuple[str, str]] = []
    client = mongo_client(
        infrastructure.mongo_url,
        operations=lambda command, collection: commands.append((command, collection)),
    )
    name = f"t{secrets.token_hex(4)}_records"
    records = Records(client[name]["things"], remember_seconds=0.5)

    def increment(record: dict[str, Any]) -> Decision:
        return Decision({"$set": {"n": record["n"] + 1}})

    try:
        await records.insert({"_id": "c1", "hospital_id": "hz-001", "n": 0})
        first = await records.change("c1", increment)
        second = await records.change("c1", increment)
        assert first is not None and second is not None
        assert (first.after["n"], second.after["n"]) == (1, 2)
        assert [c for c, _ in commands] == ["insert", "findAndModify", "findAndModify"]
        # What a caller does to the record it was given is not what the next change sees.
        second.after["n"] = 99
        third = await records.change("c1", increment)
        assert third is not None and third.after["n"] == 3
        await asyncio.sleep(0.6)  # forgotten: the next change reads the record again
        commands.clear()
        fourth = await records.change("c1", increment)
        assert fourth is not None and fourth.after["n"] == 4
        assert [c for c, _ in commands] == ["find", "findAndModify"]
    finally:
        await client.drop_database(name)
        await client.close()
