"""The platform's MongoDB clients: one policy for every round trip (`bounded`), for the
services' async client and for the blocking one of Celery's tasks and beat. A module of its
own: the beat imports it without the services' runtime (a faster start)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient, MongoClient


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


def mongo_client(url: str, *, timeout_seconds: float = 30.0) -> AsyncMongoClient[dict[str, Any]]:
    """The services' client (`bounded`)."""
    return AsyncMongoClient(url, **bounded(timeout_seconds))


def blocking_mongo_client(
    url: str, *, timeout_seconds: float = 30.0
) -> MongoClient[dict[str, Any]]:
    """The same, blocking, for Celery's tasks and beat (they have no event loop)."""
    return MongoClient(url, **bounded(timeout_seconds))
