"""How the outbox relay clears what it published (shared/outbox.py), counted by a
CommandListener on the real MongoDB-wire server with the real broker: one statement per
document however many of its events were confirmed, at most STATEMENTS_PER_COMMAND to a
command, and the confirmations of many small batches cleared together; every event is on
the broker once, and every entry gone from its document."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection

from deploy.servers import Infrastructure
from shared.bulk_writes import STATEMENTS_PER_COMMAND
from shared.contracts import Envelope
from shared.mongo_clients import bounded
from shared.outbox import OutboxRelay, new_outbox
from shared.publisher import EventPublisher
from shared.topology import declare_topology, queue_name
from tests.support import events as sample
from tests.support.platform import Names, drop_everything
from tests.support.polling import eventually


class Updates(monitoring.CommandListener):
    """The statements of each update command sent to one collection, by `_id`-addressed
    command (the sweep's flag clearing, a multi-update, is not the relay's clearing)."""

    def __init__(self, collection: str) -> None:
        self.collection = collection
        self.commands: list[int] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name == "update" and command.get("update") == self.collection:
            updates = command.get("updates", [])
            if not any(u.get("multi") for u in updates):
                self.commands.append(len(updates))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass
class Outbox:
    collection: AsyncCollection[dict[str, Any]]
    updates: Updates
    publisher: EventPublisher
    channel: aio_pika.abc.AbstractChannel
    queue: str

    async def on_broker(self) -> int:
        declared = await self.channel.declare_queue(self.queue, passive=True)
        assert declared.declaration_result.message_count is not None
        return declared.declaration_result.message_count

    async def cleared(self) -> bool:
        return await self.collection.count_documents({"outbox": {"$ne": {}}}) == 0


@pytest.fixture
async def outbox(infrastructure: Infrastructure) -> AsyncIterator[Outbox]:
    names = Names()
    updates = Updates("things")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infrastructure.mongo_url, **bounded(30.0), event_listeners=[updates]
    )
    try:
        connection = await aio_pika.connect(infrastructure.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await declare_topology(
                channel, exchange=names.exchange, prefix=names.prefix, delivery_limit=5
            )
            yield Outbox(
                client[names.database("outbox")]["things"],
                updates,
                EventPublisher(exchange, timeout=10),
                channel,
                queue_name(names.prefix, "routing"),  # where complaint.received goes
            )
    finally:
        await client.drop_database(names.database("outbox"))
        await client.close()
        await drop_everything(infrastructure, names)


def events(n: int) -> list[Envelope]:
    return [sample.envelope(sample.received(), f"c-{n}") for _ in range(2)]


async def stored(outbox: Outbox, documents: int) -> list[tuple[str, list[Envelope]]]:
    """`documents` documents, each with two events waiting in its outbox."""
    written = [(f"c-{n}", events(n)) for n in range(documents)]
    await outbox.collection.insert_many(
        [{"_id": doc_id, "hospital_id": "hz-001", **new_outbox(e)} for doc_id, e in written]
    )
    return written


async def test_a_burst_is_cleared_one_statement_per_document_fifty_to_a_command(
    outbox: Outbox,
) -> None:
    documents = 120
    relay = OutboxRelay(outbox.collection, sweep_seconds=3600)
    for doc_id, envelopes in await stored(outbox, documents):
        relay.notify(doc_id, envelopes)
    relay.start(outbox.publisher)
    try:
        await eventually(outbox.cleared, what="every entry cleared", timeout=30)
    finally:
        await relay.stop()
    assert await outbox.on_broker() == 2 * documents  # each event once
    assert relay.published == 2 * documents and relay.pending == 0
    # Before: one statement per event (240), in commands per batch of the fast path.
    assert outbox.updates.commands == [STATEMENTS_PER_COMMAND, STATEMENTS_PER_COMMAND, 20]


async def test_events_confirmed_one_batch_at_a_time_are_cleared_together(
    outbox: Outbox,
) -> None:
    documents = 30
    relay = OutboxRelay(outbox.collection, sweep_seconds=3600)
    relay.start(outbox.publisher)
    try:
        for doc_id, envelopes in await stored(outbox, documents):
            relay.notify(doc_id, envelopes)  # as a change is written: one at a time
            await eventually(
                lambda: asyncio.sleep(0, relay.pending == 0), what="published", timeout=10
            )
        await eventually(outbox.cleared, what="every entry cleared", timeout=30)
    finally:
        await relay.stop()
    assert await outbox.on_broker() == 2 * documents
    assert relay.published == 2 * documents
    # Before: a command for each batch the broker confirmed (30 here).
    assert sum(outbox.updates.commands) == documents and len(outbox.updates.commands) <= 3


async def test_what_is_confirmed_when_the_relay_stops_is_cleared(outbox: Outbox) -> None:
    relay = OutboxRelay(outbox.collection, sweep_seconds=3600)
    relay.start(outbox.publisher)
    for doc_id, envelopes in await stored(outbox, 5):
        relay.notify(doc_id, envelopes)
    await eventually(lambda: asyncio.sleep(0, relay.pending == 0), what="published", timeout=10)
    await relay.stop()  # within its gathering time
    assert await outbox.cleared()
    assert await outbox.on_broker() == 10 and outbox.updates.commands == [5]
