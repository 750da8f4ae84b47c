"""The store must give MongoDB's single-document atomicity, which case numbers, read-model
counters and optimistic versioning rely on. FerretDB v1 alone does not (an update is a read
then a write); deploy/ferretdb serialises writes per collection to restore it."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from deploy.servers import Infrastructure
from shared.runtime import mongo_client

WRITERS = 200


@pytest.fixture
async def collection(infrastructure: Infrastructure) -> AsyncIterator[AsyncCollection]:
    client = mongo_client(infrastructure.mongo_url)
    name = f"t{secrets.token_hex(4)}_atomicity"
    try:
        yield client[name]["documents"]
    finally:
        await client.drop_database(name)
        await client.close()


async def test_concurrent_increments_are_never_lost(collection: AsyncCollection) -> None:
    async def take() -> int:
        counter = await collection.find_one_and_update(
            {"_id": "hz-001:202611"},
            {"$inc": {"seq": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(counter["seq"])

    await collection.insert_one({"_id": "other"})  # the collection exists before the race
    taken = await asyncio.gather(*(take() for _ in range(WRITERS)))
    assert sorted(taken) == list(range(1, WRITERS + 1))  # every case number exactly once


async def test_a_version_guard_admits_one_writer(collection: AsyncCollection) -> None:
    await collection.insert_one({"_id": "c1", "version": 1, "by": None})

    async def claim(writer: int) -> bool:
        won = await collection.find_one_and_update(
            {"_id": "c1", "version": 1}, {"$set": {"by": writer}, "$inc": {"version": 1}}
        )
        return won is not None

    wins = Counter(await asyncio.gather(*(claim(n) for n in range(50))))
    assert wins[True] == 1
    assert (await collection.find_one({"_id": "c1"}))["version"] == 2
