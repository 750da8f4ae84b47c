"""The relay's sweeps (shared/outbox.py) on the real MongoDB-wire server and broker: between
scans of the whole collection, a sweep reads only the documents the relay suspects, each by
`_id`, and publishes what they hold; a document nobody told the relay about waits for the
next scan, which runs at start and then every `full_sweep_seconds`."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient, monitoring

from deploy.servers import Infrastructure
from shared.mongo_clients import bounded
from shared.outbox import OutboxRelay, outbox_fields
from tests.integration.test_outbox_batches import Outbox, events, outbox, stored
from tests.support.polling import eventually

__all__ = ["outbox"]  # the fixture this module uses


class Finds(monitoring.CommandListener):
    """The filter of each find sent to the outbox's collection."""

    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command.get("find") == "things":
            self.filters.append(dict(event.command.get("filter") or {}))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def scans(self) -> list[dict[str, Any]]:
        return [f for f in self.filters if "_id" not in f]


async def test_between_scans_a_sweep_reads_only_the_suspects_by_id(
    outbox: Outbox, infrastructure: Infrastructure
) -> None:
    await stored(outbox, 3)  # three documents with two events each, left behind
    finds = Finds()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infrastructure.mongo_url, **bounded(30.0), event_listeners=[finds]
    )
    collection = client[outbox.collection.database.name]["things"]
    relay = OutboxRelay(collection, sweep_seconds=0.1, full_sweep_seconds=3600, stale_seconds=0)
    relay.start(outbox.publisher)

    async def on_broker(count: int) -> bool:
        return await outbox.on_broker() == count

    try:
        # The first sweep scans the collection: the six events go out, the outboxes empty.
        await eventually(lambda: on_broker(6), what="the first scan's events")
        await eventually(outbox.cleared, what="the outboxes cleared")
        assert len(finds.scans()) == 1, finds.filters
        # Left behind again, and nobody tells the relay: the next scan is an hour away.
        await outbox.collection.update_one({"_id": "c-0"}, {"$set": outbox_fields(events(0))})
        await asyncio.sleep(0.5)
        assert await outbox.on_broker() == 6
        # A write of c-0 that failed without saying whether it happened: the next sweep
        # reads that document by `_id` and publishes its events.
        relay.suspect("c-0")
        await eventually(lambda: on_broker(8), what="the suspect's events")
        await eventually(outbox.cleared, what="the suspect's outbox cleared")
        assert len(finds.scans()) == 1  # still the one scan at start
        assert {"_id": "c-0"} in finds.filters
    finally:
        await relay.stop()
        await client.close()
