"""The scan's index on the real MongoDB-wire server (services/routing/adapters/sla_slots.py,
adapters/ladder_records.py): a pass after days without one reads the hours' documents and
the slots of the minutes that list something, not every minute; the slots a day behind the
cursor are swept; and of several passes claiming the same levels at once, each level goes
to exactly one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from bench.sla_scan import Clocks, due_points
from deploy.demo import REGION_FILE
from deploy.servers import Infrastructure
from services.routing.adapters.ladder_records import LadderRecords, step_id
from services.routing.adapters.region_store import RegionStore
from services.routing.adapters.sla_slots import (
    MINUTES,
    SHARDS,
    SLOTS,
    SlotIndex,
    minute_of,
    shard_of,
    time_slot,
)
from services.routing.admin import read_region
from services.routing.sla_scan import scan_once
from shared.contracts import EventBatch
from shared.runtime import mongo_client

pytestmark = pytest.mark.timeout(120)


class Batches:
    """A publisher that keeps what it was given (the broker's part is tested elsewhere)."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def publish_batch(self, batch: EventBatch) -> None:
        self.events += batch.events


@pytest.fixture
async def db(infrastructure: Infrastructure) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client = mongo_client(infrastructure.mongo_url)
    database = client[f"huiyin_test_scan_index_{uuid4().hex[:8]}"]
    try:
        yield database
    finally:
        await client.drop_database(database.name)
        await client.close()


async def one_due_clock(
    db: AsyncDatabase[dict[str, Any]], *, cursor: datetime, due_at: datetime
) -> tuple[SlotIndex, dict[str, Any]]:
    """The region loaded, the scan's cursor at `cursor` and one clock listed in the minute
    of `due_at` with its last level due then (one point to tell)."""
    region = read_region(REGION_FILE)
    await RegionStore(db).load(region)
    slots = SlotIndex(db)
    await slots.set_cursor(minute_of(cursor))
    entry = Clocks(region).entry(4, due_points(4, due_at))
    await slots.add(time_slot(due_at, shard_of(entry["id"])), f"{entry['id']}~1", entry)
    return slots, entry


async def test_a_pass_after_three_days_reads_only_the_minutes_that_list_something(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    slots, entry = await one_due_clock(
        db, cursor=now - timedelta(days=3), due_at=now - timedelta(days=2, hours=5)
    )

    published = Batches()
    result = await scan_once(
        now=now, slots=slots, records=LadderRecords(db), region=RegionStore(db), publisher=published
    )

    # The 16 late slots and the 16 of the one minute listed: not 3 days of minutes
    # (69,000 slot reads); the hours' documents are 73 reads by `_id`.
    assert result.slots_read == 2 * SHARDS
    assert (result.due, result.published) == (1, 1)
    assert [e.complaint_id for e in published.events] == [entry["id"]]
    assert result.through == minute_of(now - timedelta(minutes=2))


async def test_the_slots_a_day_behind_the_cursor_are_swept_with_their_hour_not_by_the_pass(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    old = now - timedelta(days=2)
    slots, entry = await one_due_clock(db, cursor=old - timedelta(minutes=1), due_at=old)
    records = LadderRecords(db)

    async def scan(at: datetime) -> None:
        await scan_once(
            now=at, slots=slots, records=records, region=RegionStore(db), publisher=Batches()
        )

    await scan(old + timedelta(minutes=5))  # tells it
    assert await slots.sweep(await slots.cursor() or "") == 0  # starts a day behind here
    assert await db[SLOTS].find_one({"_id": time_slot(old, shard_of(entry["id"]))}) is not None
    await scan(now)
    swept = [await slots.sweep(await slots.cursor() or "") for _ in range(10)]
    assert sum(swept) >= 24 and swept[-1] == 0  # six hours a run, then nothing left
    assert await db[SLOTS].find_one({"_id": time_slot(old, shard_of(entry["id"]))}) is None
    assert await db[MINUTES].find_one({"_id": minute_of(old)[:10]}) is None


async def test_passes_claiming_the_same_levels_at_once_each_get_a_share_and_never_the_same(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    steps = [step_id(str(uuid4()), 1, "warning") for _ in range(600)]
    today = datetime.now(UTC).date()
    await LadderRecords(db).ensure_collections()
    # Four passes, each with overlapping parts of the same levels, all at once.
    parts = [steps[:400], steps[200:], steps[::2], steps]
    claimed = await asyncio.gather(*(LadderRecords(db).claim(part, today=today) for part in parts))
    everything = [step for share in claimed for step in share]
    assert sorted(everything) == sorted(steps)  # every level once, by exactly one pass
    assert await LadderRecords(db).claim(steps, today=today) == set()
    # The next day's pass still knows them (the day before is read too).
    assert await LadderRecords(db).claim(steps, today=today + timedelta(days=1)) == set()
