"""A scan pass cut off between claiming its levels and publishing them
(services/routing/sla_scan.py, adapters/ladder_records.py): its staged chunk lists only
the slots, and the next pass builds each event again from the slots' entries and
publishes it, once, under the event id the dead pass would have used; a pass after that
publishes nothing. Real FerretDB and RabbitMQ with confirms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import aio_pika
import pytest
from aio_pika.abc import AbstractExchange, AbstractQueue

from bench.sla_scan import Clocks, cleanup, due_points
from deploy.demo import REGION_FILE
from deploy.servers import Infrastructure
from services.routing import sla_scan
from services.routing.adapters.ladder_records import BATCHES, TOLD, LadderRecords
from services.routing.adapters.region_store import RegionStore
from services.routing.adapters.sla_slots import SlotIndex, minute_of, time_slot
from services.routing.admin import read_region
from services.routing.sla_scan import scan_once
from shared.contracts import BATCH_MESSAGE_TYPE, Envelope, EventBatch
from shared.publisher import EventPublisher
from shared.runtime import mongo_client
from shared.topology import LADDER_BATCH, declare_topology
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(120)

LADDER_EVENTS = ("complaint.sla_warning", "complaint.overdue", "complaint.escalated")
DUE = 30


class StuckPublisher:
    """A broker that never confirms: the pass holds its claims and waits here."""

    def __init__(self) -> None:
        self.held: list[Envelope] = []

    async def publish_batch(self, batch: EventBatch) -> None:
        self.held.extend(batch.events)
        await asyncio.Event().wait()


class Run:
    def __init__(self, db: Any, exchange: AbstractExchange, queue: AbstractQueue) -> None:
        self.db, self.exchange, self.queue = db, exchange, queue

    async def scan(self, publisher: Any, *, now: datetime) -> sla_scan.ScanResult:
        return await scan_once(
            now=now,
            slots=SlotIndex(self.db),
            records=LadderRecords(self.db),
            region=RegionStore(self.db),
            publisher=publisher,
        )

    async def received(self) -> list[Envelope]:
        """The ladder events that arrived, batch messages unpacked."""
        events: list[Envelope] = []
        while (message := await self.queue.get(no_ack=True, fail=False)) is not None:
            assert message.type == BATCH_MESSAGE_TYPE, message.type  # the scan sends batches
            events += EventBatch.model_validate_json(message.body).events
        return events


@pytest.fixture
async def run(infrastructure: Infrastructure) -> AsyncIterator[Run]:
    name = uuid4().hex[:8]
    client = mongo_client(infrastructure.mongo_url)
    connection = await aio_pika.connect(infrastructure.amqp_url)
    db = client[f"huiyin_test_recovery_{name}"]
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_topology(
            channel, exchange=f"huiyin.test.{name}", prefix=name, delivery_limit=5
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in (*LADDER_EVENTS, LADDER_BATCH):
            await queue.bind(exchange, routing_key=key)
        try:
            yield Run(db, exchange, queue)
        finally:
            await cleanup(channel, exchange=f"huiyin.test.{name}", prefix=name)
    finally:
        await connection.close()
        await client.drop_database(db.name)
        await client.close()


async def test_a_pass_cut_off_after_claiming_is_published_by_the_next_once(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    region = read_region(REGION_FILE)
    await RegionStore(run.db).load(region)
    now = datetime.now(UTC).replace(microsecond=0)
    due_at = now - timedelta(minutes=5)
    clocks, slots = Clocks(region), SlotIndex(run.db)
    for n in range(DUE):
        entry = clocks.entry(n, due_points(n, due_at))
        await slots.add(time_slot(due_at, n % 16), f"{entry['id']}~1", entry)
    await slots.set_cursor(minute_of(due_at - timedelta(minutes=1)))

    stuck = StuckPublisher()
    first = asyncio.create_task(run.scan(stuck, now=now))

    async def all_held() -> bool:
        return len(stuck.held) == DUE

    await eventually(all_held, timeout=30, what="every level claimed, its event held")
    first.cancel()  # the pass dies: claimed, nothing confirmed
    with pytest.raises(asyncio.CancelledError):
        await first
    told = await run.db[TOLD].find({}).to_list(None)
    assert sum(len(t["s"]) for t in told) == DUE
    (batch,) = await run.db[BATCHES].find({}).to_list(None)
    assert set(batch) == {"_id", "at", "staged", "slots"}  # where to look, not the events

    # Found left behind at once instead of after two minutes.
    monkeypatch.setattr(sla_scan, "LEFT_BEHIND_AFTER", timedelta(0))
    publisher = EventPublisher(run.exchange, timeout=10.0)
    second = await run.scan(publisher, now=now + timedelta(seconds=30))
    assert (second.recovered, second.published) == (DUE, 0)
    assert await run.db[BATCHES].count_documents({}) == 0

    async def all_received() -> list[Envelope]:
        got.extend(await run.received())
        return got if len(got) >= DUE else []

    got: list[Envelope] = []
    await eventually(all_received, timeout=30, interval=0.05, what="the recovered events")
    recovered = {e.event_id: e for e in got}
    assert len(got) == DUE and len(recovered) == DUE
    # Each event as the dead pass built it, under the same event id.
    assert recovered == {e.event_id: e for e in stuck.held}

    third = await run.scan(publisher, now=now + timedelta(minutes=1))
    assert (third.recovered, third.published) == (0, 0)
    await asyncio.sleep(0.5)  # nothing more arrives (a negative: give the broker a moment)
    assert await run.received() == []
