"""The native servers' fault controls (deploy/servers.py), which fault and chaos tests rely
on: a broker or database killed with SIGKILL starts again on the same port and data."""

from __future__ import annotations

import asyncio
import secrets

import aio_pika
import pytest
from pymongo import AsyncMongoClient

from deploy.servers import Infrastructure

MESSAGES = 20


async def queued(url: str, name: str) -> int:
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        count = 0
        while await queue.get(fail=False, no_ack=True, timeout=10) is not None:
            count += 1
        return count


async def test_a_killed_broker_restarts_with_its_durable_queues_and_messages(
    infrastructure: Infrastructure,
) -> None:
    if infrastructure.broker is None:
        pytest.skip("the broker is external; this test needs to kill and start it")
    names = [f"t{secrets.token_hex(4)}.{kind}" for kind in ("quorum", "classic")]
    connection = await aio_pika.connect(infrastructure.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(names[0], durable=True, arguments={"x-queue-type": "quorum"})
        await channel.declare_queue(names[1], durable=True)
        for n in range(MESSAGES):
            for name in names:
                message = aio_pika.Message(
                    f"{n}".encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                )
                await channel.default_exchange.publish(message, routing_key=name)
    # RabbitMQ 3.10's Ra saves its directory of quorum queues every 500 ms; a queue
    # declared just before a crash is lost with it, as it would be in production.
    await asyncio.sleep(1)

    await asyncio.to_thread(infrastructure.broker.kill)
    await asyncio.to_thread(infrastructure.broker.start)

    assert [await queued(infrastructure.amqp_url, name) for name in names] == [MESSAGES] * 2
    connection = await aio_pika.connect(infrastructure.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)


async def test_a_killed_database_restarts_with_its_data(infrastructure: Infrastructure) -> None:
    if infrastructure.database is None:
        pytest.skip("the database is external; this test needs to kill and start it")
    name = f"t{secrets.token_hex(4)}_kill"
    client: AsyncMongoClient = AsyncMongoClient(
        infrastructure.mongo_url, serverSelectionTimeoutMS=10000
    )
    try:
        await client[name]["items"].insert_many([{"_id": f"c{i}", "v": i} for i in range(100)])
        await asyncio.to_thread(infrastructure.database.kill)
        await asyncio.to_thread(infrastructure.database.start)
        assert await client[name]["items"].count_documents({}) == 100
        assert (await client[name]["items"].find_one({"_id": "c42"}) or {}).get("v") == 42
        await client.drop_database(name)
    finally:
        await client.close()


async def test_a_dropped_database_stays_dropped_and_a_half_created_one_does_not_stop_a_restart(
    infrastructure: Infrastructure,
) -> None:
    """The wrapper's index keeper once re-created a just-dropped database as an empty file,
    and FerretDB refuses to start beside a .sqlite file without its metadata: a kill -9
    after any test had dropped its databases left the database unable to come back."""
    database = infrastructure.database
    if database is None or not hasattr(database, "root"):
        pytest.skip("the database is external; this test needs its data directory")
    data = database.root / "data"
    dropped, kept = (f"t{secrets.token_hex(4)}_{kind}" for kind in ("dropped", "kept"))
    client: AsyncMongoClient = AsyncMongoClient(
        infrastructure.mongo_url, serverSelectionTimeoutMS=10000
    )
    try:
        await client[kept]["items"].insert_one({"_id": "k", "v": 1})
        await client[dropped]["items"].insert_one({"_id": "d"})
        await client.drop_database(dropped)
        await asyncio.sleep(1.5)  # the index keeper runs twice a second
        assert not (data / f"{dropped}.sqlite").exists()
        # What a crash between creating a database file and its metadata leaves behind.
        (data / f"t{secrets.token_hex(4)}_half.sqlite").write_bytes(b"")
        await asyncio.to_thread(database.kill)
        await asyncio.to_thread(database.start)
        assert (await client[kept]["items"].find_one({"_id": "k"}) or {}).get("v") == 1
        await client.drop_database(kept)
    finally:
        await client.close()
