"""A task that writes for many callers (shared/group_commit.py, intake's case counters) is
bound by no caller's deadline, while each caller still waits no longer than its own: the
request that happened to start the task must not fail the writes of the requests after it
once its time is up (shared/mongo_clients.py writer_task, within_callers_deadline)."""

from __future__ import annotations

import asyncio
import secrets
import time

import pymongo
import pytest
from pymongo import InsertOne
from pymongo.errors import PyMongoError

from deploy.servers import Infrastructure
from services.intake.adapters.case_counters import CaseCounters
from shared.group_commit import GroupCommit
from shared.runtime import mongo_client


async def test_the_starting_callers_deadline_fails_it_alone(infrastructure: Infrastructure) -> None:
    control = infrastructure.database
    if control is None:
        pytest.skip("the database is external; this test needs to pause it")
    client = mongo_client(infrastructure.mongo_url)
    name = f"t{secrets.token_hex(4)}_writers"
    commit = GroupCommit(client[name]["things"])
    counters = CaseCounters(client[name]["case_counters"])
    await commit.write([InsertOne({"_id": "warm"})])
    await counters.next("hz-001:202612")
    await asyncio.to_thread(control.pause)
    try:
        with pymongo.timeout(1.0):  # a request's deadline: it starts both writer tasks
            first = asyncio.ensure_future(commit.write([InsertOne({"_id": "first"})]))
            first_number = asyncio.ensure_future(counters.next("hz-001:202612"))
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(commit.write([InsertOne({"_id": "second"})]))
        second_number = asyncio.ensure_future(counters.next("hz-001:202612"))
        started = time.monotonic()
        with pytest.raises(PyMongoError):
            await first  # its own deadline, as its own command would
        with pytest.raises(PyMongoError):
            await first_number
        assert time.monotonic() - started < 3.0
    finally:
        await asyncio.to_thread(control.resume)
    try:
        # The others, without a deadline of their own, are written once the server answers.
        assert await asyncio.wait_for(second, timeout=30) == set()
        assert await asyncio.wait_for(second_number, timeout=30) == 3  # 2 went to `first`
        stored = {d["_id"] async for d in client[name]["things"].find({})}
        assert {"warm", "second"} <= stored
    finally:
        await client.drop_database(name)
        await client.close()
