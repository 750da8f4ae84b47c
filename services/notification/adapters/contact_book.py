"""Notification's copy of the contact book (domain/contacts.py): one document per hospital
(`hospital:<id>`) and one for the bureau (`bureau`), each read by its `_id` alone, written
only by `huiyin-admin load-region` (notification is the one writer of its collection).

A delivery reads at most two documents (its hospital's and, for supervisors, the
bureau's), through a short in-process cache: a reload is seen within `ttl` seconds. The
documents hold the robots' and webhooks' secrets, so nothing here logs a document, and a
Scope's repr hides them.

`ContactBook` serves the service and the admin command (PyMongo's async API);
`ContactBookReader` serves Celery tasks, which have no event loop (PyMongo's synchronous
client, made in the worker after it forks).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database

from services.notification.domain.contacts import BUREAU, Scope, hospital_scope_id

CONTACTS = "contacts"


class _Cache:
    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._scopes: dict[str, tuple[float, Scope | None]] = {}

    def get(self, scope_id: str) -> tuple[bool, Scope | None]:
        cached = self._scopes.get(scope_id)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return True, cached[1]
        return False, None

    def put(self, scope_id: str, document: dict[str, Any] | None) -> Scope | None:
        scope = Scope.from_document(document) if document is not None else None
        self._scopes[scope_id] = (time.monotonic(), scope)
        return scope

    def clear(self) -> None:
        self._scopes.clear()


class ContactBook:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, ttl: float = 30.0) -> None:
        self._collection = db[CONTACTS]
        self._cache = _Cache(ttl)

    async def load(self, scopes: Iterable[Scope]) -> int:
        """Replace each scope's document (a hospital left out of the file keeps its own)."""
        count = 0
        for scope in scopes:
            document = scope.document()
            await self._collection.replace_one({"_id": document["_id"]}, document, upsert=True)
            count += 1
        self._cache.clear()
        return count

    async def scope(self, scope_id: str) -> Scope | None:
        hit, scope = self._cache.get(scope_id)
        if hit:
            return scope
        return self._cache.put(scope_id, await self._collection.find_one({"_id": scope_id}))

    async def hospital(self, hospital_id: str) -> Scope | None:
        return await self.scope(hospital_scope_id(hospital_id))

    async def bureau(self) -> Scope | None:
        return await self.scope(BUREAU)


class ContactBookReader:
    """The same reads, blocking, for Celery tasks."""

    def __init__(self, db: Database[dict[str, Any]], *, ttl: float = 30.0) -> None:
        self._collection = db[CONTACTS]
        self._cache = _Cache(ttl)

    def scope(self, scope_id: str) -> Scope | None:
        hit, scope = self._cache.get(scope_id)
        if hit:
            return scope
        return self._cache.put(scope_id, self._collection.find_one({"_id": scope_id}))

    def hospital(self, hospital_id: str) -> Scope | None:
        return self.scope(hospital_scope_id(hospital_id))

    def bureau(self) -> Scope | None:
        return self.scope(BUREAU)
