"""The public keys the bureau registered for each hospital's system to sign staff
assertions (shared/staff_assertion.py), and the ledger of assertions already used.

Keys are addressed by `_id` = `hospital:kid`; verification reads one by `_id` through a
short in-process cache of known keys (unknown ids are never cached, so a flood of made-up
ids cannot grow it). A revocation clears this process's cache at once; other intake
processes see it within `ttl` seconds. A key is never deleted: a revoked key stays listed,
so the record of who registered and revoked what remains.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, InsertOne, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.group_commit import GroupCommit
from shared.staff_assertion import (
    RegisteredKey,
    algorithm_of,
    public_key_from_pem,
    public_pem,
    thumbprint,
)

log = logging.getLogger(__name__)


class KeyConflict(Exception):
    """The kid is taken by another key, or was revoked (a revoked kid is never reused)."""


class AssertionKeyStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, ttl: float = 10.0) -> None:
        self._keys = db["assertion_keys"]
        self._ttl = ttl
        self._cache: dict[str, tuple[float, RegisteredKey]] = {}

    async def ensure_indexes(self) -> None:
        await self._keys.create_index(
            [("hospital_id", ASCENDING), ("registered_at", ASCENDING)], name="hospital_keys"
        )

    async def register(
        self,
        *,
        hospital_id: str,
        public_key: str,
        kid: str | None = None,
        note: str | None = None,
        by: str,
    ) -> tuple[dict[str, Any], bool]:
        """Store the key; returns (record, created). The same key again is a no-op, so a
        deployment script may register on every start. ValueError for a bad key."""
        key = public_key_from_pem(public_key)
        kid = kid or thumbprint(key)
        record = {
            "_id": f"{hospital_id}:{kid}",
            "hospital_id": hospital_id,
            "kid": kid,
            "algorithm": algorithm_of(key),
            "public_key": public_pem(key),
            "thumbprint": thumbprint(key),
            "note": note,
            "registered_at": datetime.now(UTC),
            "registered_by": by,
            "revoked_at": None,
            "revoked_by": None,
            "revoked_reason": None,
        }
        try:
            await self._keys.insert_one(record)
            return record, True
        except DuplicateKeyError:
            existing = await self._keys.find_one({"_id": record["_id"]})
        if existing is None:  # pragma: no cover - deleted in between; keys never are
            raise KeyConflict(f"kid {kid}: try again")
        if existing.get("revoked_at") is not None:
            raise KeyConflict(f"kid {kid} of {hospital_id} was revoked; register a new key")
        if existing["thumbprint"] != record["thumbprint"]:
            raise KeyConflict(f"kid {kid} of {hospital_id} is registered for another key")
        return existing, False

    async def revoke(
        self, *, hospital_id: str, kid: str, reason: str, by: str
    ) -> dict[str, Any] | None:
        """Mark the key revoked (kept on record); None when there is no such key. The
        first revocation's time and reason stay."""
        key_id = f"{hospital_id}:{kid}"
        existing = await self._keys.find_one({"_id": key_id})
        if existing is None:
            return None
        self._cache.pop(key_id, None)
        if existing.get("revoked_at") is not None:
            return existing
        revoked = {"revoked_at": datetime.now(UTC), "revoked_by": by, "revoked_reason": reason}
        return await self._keys.find_one_and_update(
            {"_id": key_id}, {"$set": revoked}, return_document=ReturnDocument.AFTER
        )

    async def of_hospital(self, hospital_id: str) -> list[dict[str, Any]]:
        """Every key of one hospital, oldest first (an admin read of a handful of keys)."""
        cursor = self._keys.find({"hospital_id": hospital_id}).sort("registered_at", ASCENDING)
        return await cursor.to_list(None)

    async def key(self, hospital_id: str, kid: str) -> RegisteredKey | None:
        key_id = f"{hospital_id}:{kid}"
        cached = self._cache.get(key_id)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        document = await self._keys.find_one({"_id": key_id})
        if document is None:
            return None
        key = RegisteredKey(
            hospital_id=document["hospital_id"],
            kid=document["kid"],
            public_key=public_key_from_pem(document["public_key"]),
            revoked=document.get("revoked_at") is not None,
        )
        self._cache[key_id] = (time.monotonic(), key)
        return key


class SpentAssertions:
    """Every jti presented, by `_id` = `hospital:jti`, until its assertion could no longer
    be accepted anyway: inserting is the check (a duplicate key is a replay), so a replay
    costs one write and a race between two copies of one token lets exactly one through.
    Assertions spent at the same time share one insert command (a group commit).
    FerretDB has no TTL index, so `purge` removes expired ones; the collection holds only
    the last few minutes' assertions."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._spent = db["spent_assertions"]
        self._inserts = GroupCommit(self._spent)

    async def ensure_indexes(self) -> None:
        await self._spent.create_index("keep_until", name="keep_until")

    async def spend(self, hospital_id: str, jti: str, *, keep_until: datetime) -> bool:
        spent = {
            "_id": f"{hospital_id}:{jti}",
            "hospital_id": hospital_id,
            "keep_until": keep_until,
        }
        return not await self._inserts.write([InsertOne(spent)])

    async def purge(self, *, now: datetime | None = None) -> int:
        result = await self._spent.delete_many({"keep_until": {"$lt": now or datetime.now(UTC)}})
        return result.deleted_count

    async def purge_every(self, seconds: float) -> None:
        """Run until cancelled; a failed purge is logged and retried next time."""
        while True:
            await asyncio.sleep(seconds)
            try:
                purged = await self.purge()
            except PyMongoError:
                log.warning("purge of spent staff assertions failed", exc_info=True)
                continue
            if purged:
                log.debug("purged spent staff assertions", extra={"count": purged})
