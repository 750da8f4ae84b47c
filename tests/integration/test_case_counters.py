"""Case numbers drawn together: registrations of one hospital that arrive at the same time
share one increment of its counter (services/intake/adapters/case_counters.py), on the real
MongoDB-wire server, and still get every number once, without gaps."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from deploy.servers import Infrastructure
from services.intake.adapters.case_counters import CaseCounters
from shared.mongo_clients import StoreOperations, bounded


@pytest.fixture
async def counted(infrastructure: Infrastructure) -> AsyncIterator[tuple[CaseCounters, list[str]]]:
    commands: list[str] = []
    listener = StoreOperations(lambda command, _: commands.append(command))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infrastructure.mongo_url, **bounded(30.0), event_listeners=[listener]
    )
    name = f"t{secrets.token_hex(4)}_counters"
    try:
        yield CaseCounters(client[name]["case_counters"]), commands
    finally:
        await client.drop_database(name)
        await client.close()


async def test_numbers_drawn_together_are_each_given_once_in_fewer_commands(
    counted: tuple[CaseCounters, list[str]],
) -> None:
    counters, commands = counted
    drawn = await asyncio.gather(*(counters.next("hz-001:202612") for _ in range(60)))
    other = await asyncio.gather(*(counters.next("hz-002:202612") for _ in range(5)))
    assert sorted(drawn) == list(range(1, 61))
    assert sorted(other) == [1, 2, 3, 4, 5]
    # In arrival order: the first caller gets the first number.
    assert drawn == sorted(drawn)
    assert 2 <= commands.count("findAndModify") <= 10  # the first alone, then the waiting ones


async def test_a_number_drawn_alone_goes_at_once_and_counts_on(
    counted: tuple[CaseCounters, list[str]],
) -> None:
    counters, commands = counted
    assert [await counters.next("hz-001:202612") for _ in range(3)] == [1, 2, 3]
    assert commands.count("findAndModify") == 3


async def test_a_failed_draw_fails_its_waiting_callers_and_the_next_draw_counts_on(
    counted: tuple[CaseCounters, list[str]],
) -> None:
    counters, _ = counted
    assert await counters.next("hz-001:202612") == 1
    # A counter whose value is not a number: the server refuses the increment.
    await counters.collection.update_one({"_id": "hz-001:202612"}, {"$set": {"seq": "x"}})
    results = await asyncio.gather(
        *(counters.next("hz-001:202612") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, Exception) for result in results)
    await counters.collection.update_one({"_id": "hz-001:202612"}, {"$set": {"seq": 1}})
    assert await counters.next("hz-001:202612") == 2
