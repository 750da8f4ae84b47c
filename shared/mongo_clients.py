"""The platform's MongoDB clients: one policy for every round trip (`bounded`), for the
services' async client and for the blocking one of Celery's tasks and beat. A module of its
own: the beat imports it without the services' runtime (a faster start)."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, MongoClient, _csot, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout

from shared.settings import ServiceSettings

Result = TypeVar("Result")

# The commands counted as store operations (huiyin_store_operations_total), by name; the
# driver's own (hello, endSessions, ...) are not the application's.
STORE_COMMANDS = frozenset(
    {
        "insert",
        "update",
        "delete",
        "find",
        "findAndModify",
        "getMore",
        "aggregate",
        "count",
        "distinct",
        "createIndexes",
    }
)


class StoreOperations(monitoring.CommandListener):
    """Counts each command the application sends (one bulk write of many documents is one
    operation): `count(command name, collection)` is called as each starts (which
    collection costs what, for the ops team)."""

    def __init__(self, count: Callable[[str, str], None]) -> None:
        self.count = count

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in STORE_COMMANDS:
            collection = event.command.get(event.command_name)
            self.count(event.command_name, collection if isinstance(collection, str) else "")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def bounded(timeout_seconds: float) -> dict[str, Any]:
    """Every round trip is bounded: a database that is down fails server selection within
    seconds, and one that stops answering (FerretDB holding a lock) fails the socket read,
    instead of waiting forever."""
    return {
        "tz_aware": True,
        "uuidRepresentation": "standard",
        "connect": False,
        "serverSelectionTimeoutMS": int(min(timeout_seconds, 5.0) * 1000),
        "connectTimeoutMS": int(min(timeout_seconds, 5.0) * 1000),
        "socketTimeoutMS": int(timeout_seconds * 1000),
    }


def mongo_client(
    url: str,
    *,
    timeout_seconds: float = 30.0,
    operations: Callable[[str, str], None] | None = None,
) -> AsyncMongoClient[dict[str, Any]]:
    """The services' client (`bounded`); `operations` is told the name and collection of
    each store operation it sends (StoreOperations)."""
    listeners = [StoreOperations(operations)] if operations else []
    return AsyncMongoClient(url, **bounded(timeout_seconds), event_listeners=listeners)


def blocking_mongo_client(
    url: str, *, timeout_seconds: float = 30.0
) -> MongoClient[dict[str, Any]]:
    """The same, blocking, for Celery's tasks and beat (they have no event loop)."""
    return MongoClient(url, **bounded(timeout_seconds))


async def on_service_database(
    settings: ServiceSettings, work: Callable[[AsyncDatabase[dict[str, Any]]], Awaitable[Result]]
) -> Result:
    """Run `work` on the service's database with a client of its own, closed after: what a
    one-shot command (a rebuild, a repair) needs."""
    client = mongo_client(settings.mongo_url, timeout_seconds=settings.database_timeout_seconds)
    try:
        return await work(client[settings.database])
    finally:
        await client.close()


def writer_task(
    work: Coroutine[Any, Any, Result], *, name: str | None = None
) -> asyncio.Task[Result]:
    """A task that sends database commands for many callers (a group commit, a counter's
    draws, a retry loop), started without the context of the caller that happens to start
    it: that caller's deadline (PyMongo's `timeout`, set per request in shared/app.py)
    would otherwise bound every command the task sends afterwards, and fail the writes of
    other requests once that one request's time is up."""
    return asyncio.create_task(work, name=name, context=contextvars.Context())


async def within_callers_deadline(answer: asyncio.Future[Result]) -> Result:
    """Wait for what a writer task answers this caller, no longer than the caller's own
    deadline (PyMongo's `timeout`, a request's in shared/app.py), as its own command would
    have: past it, ExecutionTimeout (a 503), whether or not the write happens after all.
    The answer itself is left to the task (shielded)."""
    remaining = _csot.remaining()  # PyMongo's own reading of the current `timeout`
    if remaining is None:
        return await asyncio.shield(answer)
    try:
        return await asyncio.wait_for(asyncio.shield(answer), timeout=max(remaining, 0.0))
    except TimeoutError as late:
        raise ExecutionTimeout(
            "the caller's deadline passed before its write was answered"
        ) from late
