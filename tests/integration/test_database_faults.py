"""No client can hang the database, and readiness sees a database that stops answering.

FerretDB v1 deadlocks on an update command of 100 statements or more (it holds a pooled
connection per statement and waits for one more) and every later request on that database
hangs with it; deploy/ferretdb/main.go runs such commands one statement at a time. These
tests talk to the database with PyMongo alone, as any client could.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import bson
import httpx
import pymongo
import pytest
from pymongo import DeleteOne, MongoClient, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError, PyMongoError

from deploy.servers import Infrastructure
from tests.support.platform import Platform
from tests.support.polling import eventually

TYPE_MISMATCH = 14  # $inc on a string


@pytest.fixture
def database(infrastructure: Infrastructure) -> Iterator[Database]:
    """A fresh database; a hung server fails the test within seconds, not the suite."""
    client: MongoClient = MongoClient(
        infrastructure.mongo_url, serverSelectionTimeoutMS=5000, socketTimeoutMS=20000
    )
    name = f"t{secrets.token_hex(4)}_bulk"
    try:
        yield client[name]
        client.drop_database(name)
    finally:
        client.close()


def answers_at_once(db: Database) -> None:
    started = time.monotonic()
    db["probe"].update_one({"_id": "p"}, {"$inc": {"n": 1}}, upsert=True)
    assert db["probe"].find_one({"_id": "p"}) is not None
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
@pytest.mark.parametrize("size", [100, 140, 1000])
def test_an_update_bulk_of_any_size_completes_with_mongodbs_result(
    database: Database, size: int, ordered: bool
) -> None:
    items = database["items"]
    items.insert_many([{"_id": f"c{i}", "v": 0, "s": "text"} for i in range(size)])
    upserts = {3, size - 2}  # new documents
    failing = size // 2  # $inc on a string: a write error at a known index
    requests = []
    for i in range(size):
        if i in upserts:
            requests.append(UpdateOne({"_id": f"new{i}"}, {"$set": {"v": 1}}, upsert=True))
        elif i == failing:
            requests.append(UpdateOne({"_id": f"c{i}"}, {"$inc": {"s": 1}}))
        else:
            requests.append(UpdateOne({"_id": f"c{i}"}, {"$inc": {"v": 1}}))

    with pytest.raises(BulkWriteError) as raised:
        items.bulk_write(requests, ordered=ordered)

    result = raised.value.details
    applied = range(failing) if ordered else [i for i in range(size) if i != failing]
    upserted = [i for i in applied if i in upserts]
    assert [(e["index"], e["code"]) for e in result["writeErrors"]] == [(failing, TYPE_MISMATCH)]
    assert result["nMatched"] == result["nModified"] == len(applied) - len(upserted)
    assert result["nUpserted"] == len(upserted)
    assert result["upserted"] == [{"index": i, "_id": f"new{i}"} for i in upserted]
    incremented = {d["_id"] for d in items.find({"v": 1}, {"_id": 1})}
    expected = {f"new{i}" if i in upserts else f"c{i}" for i in applied}
    assert incremented == expected
    answers_at_once(database)


def test_an_update_bulk_without_errors_reports_every_statement(database: Database) -> None:
    items = database["items"]
    items.insert_many([{"_id": f"c{i}", "v": 0} for i in range(1000)])
    requests = [UpdateOne({"_id": f"c{i}"}, {"$inc": {"v": 1}}) for i in range(1000)]
    requests.append(UpdateOne({"_id": "late"}, {"$set": {"v": 1}}, upsert=True))

    result = items.bulk_write(requests)

    assert (result.matched_count, result.modified_count) == (1000, 1000)
    assert result.upserted_ids == {1000: "late"}
    assert items.count_documents({"v": 1}) == 1001
    answers_at_once(database)


def test_a_delete_bulk_of_1000_completes(database: Database) -> None:
    """Deletes pass the relay unsplit: FerretDB closes each statement's query first."""
    items = database["items"]
    items.insert_many([{"_id": f"c{i}"} for i in range(1000)])

    result = items.bulk_write([DeleteOne({"_id": f"c{i}"}) for i in range(1000)], ordered=False)

    assert result.deleted_count == 1000
    assert items.count_documents({}) == 0
    answers_at_once(database)


def test_two_concurrent_bulks_on_one_database_both_complete(database: Database) -> None:
    """90 statements each: under 100 alone, over it together (the pool is per database)."""
    for name in ("first", "second"):
        database[name].insert_many([{"_id": f"c{i}", "v": 0} for i in range(90)])
    start = threading.Barrier(2)
    modified: dict[str, int] = {}
    failures: list[BaseException] = []

    def bulk(name: str) -> None:
        try:
            start.wait()
            requests = [UpdateOne({"_id": f"c{i}"}, {"$inc": {"v": 1}}) for i in range(90)]
            modified[name] = database[name].bulk_write(requests).modified_count
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=bulk, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert modified == {"first": 90, "second": 90}
    answers_at_once(database)


async def test_readiness_fails_while_the_database_does_not_answer(intake_only: Platform) -> None:
    control = intake_only.infra.database
    if control is None:
        pytest.skip("the database is external; this test needs to pause it")
    async with httpx.AsyncClient(base_url=intake_only.url("intake"), timeout=10) as intake:
        assert (await intake.get("/readyz")).status_code == 200
        await asyncio.to_thread(control.pause)
        try:
            for _ in range(3):  # each probe answers in time; a hung one is not stacked
                started = time.monotonic()
                response = await intake.get("/readyz")
                assert time.monotonic() - started < 3.5
                assert response.status_code == 503, response.text
                checks = response.json()["checks"]
                assert checks["database"].startswith("failed"), checks
                assert checks["broker"] == "ok"
        finally:
            await asyncio.to_thread(control.resume)
        await ready_again(intake, timeout=15)


async def ready_again(service: httpx.AsyncClient, *, timeout: float) -> None:
    async def ready() -> bool:
        return (await service.get("/readyz")).status_code == 200

    await eventually(ready, timeout=timeout, interval=0.2, what="the service ready again")


def deadlocking_update(database: str, collection: str, statements: int) -> bytes:
    """An OP_MSG update of `statements` statements, as PyMongo would send it."""
    body = bson.encode(
        {
            "update": collection,
            "updates": [
                {"q": {"_id": f"s{i}"}, "u": {"$set": {"v": 1}}} for i in range(statements)
            ],
            "$db": database,
        }
    )
    return struct.pack("<iiiiI", 21 + len(body), 1, 0, 2013, 0) + b"\x00" + body


async def test_readiness_fails_while_the_database_is_stuck_though_it_answers_ping(
    intake_only: Platform,
) -> None:
    """FerretDB's pool for intake's database exhausted (the update of 100 statements sent
    past our relay, straight to FerretDB's socket): ping still answers, reads do not."""
    control = intake_only.infra.database
    ferretdb_socket: Path | None = getattr(control, "socket", None)
    if control is None or ferretdb_socket is None:
        pytest.skip("needs the native FerretDB behind our relay, to get past it and restart it")
    name = intake_only.settings["intake"].database
    client: pymongo.AsyncMongoClient = pymongo.AsyncMongoClient(
        intake_only.infra.mongo_url, serverSelectionTimeoutMS=5000
    )
    stuck = socket.socket(socket.AF_UNIX)
    try:
        await client[name]["stuck"].insert_many([{"_id": f"s{i}"} for i in range(150)])
        async with httpx.AsyncClient(base_url=intake_only.url("intake"), timeout=10) as intake:
            assert (await intake.get("/readyz")).status_code == 200
            stuck.connect(str(ferretdb_socket))
            stuck.sendall(deadlocking_update(name, "stuck", 100))
            deadline = time.monotonic() + 10
            while True:  # until a read on that database no longer answers
                try:
                    with pymongo.timeout(1):
                        await client[name]["stuck"].find_one({"_id": "s1"})
                except PyMongoError as error:
                    assert error.timeout, error
                    break
                assert time.monotonic() < deadline, "the database did not get stuck"
                await asyncio.sleep(0.2)
            assert (await client.admin.command("ping"))["ok"] == 1

            started = time.monotonic()
            response = await intake.get("/readyz")
            assert time.monotonic() - started < 3.5
            assert response.status_code == 503, response.text
            assert response.json()["checks"]["database"].startswith("failed")
    finally:
        stuck.close()
        await client.close()
        await asyncio.to_thread(control.stop)  # only a restart frees a stuck FerretDB
        await asyncio.to_thread(control.start)
    async with httpx.AsyncClient(base_url=intake_only.url("intake"), timeout=10) as intake:
        await ready_again(intake, timeout=20)
