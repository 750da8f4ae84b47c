"""Idempotent registration: the same key with the same body is the same complaint.

A hospital system that retries after a timeout must not create a second case; a client
that reuses a key for a different complaint has a bug, and is told so (409).
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5


class Replay(StrEnum):
    NEW = "new"
    SAME = "same"
    CONFLICT = "conflict"


def fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(
        body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def judge(existing_fingerprint: str | None, incoming_fingerprint: str) -> Replay:
    if existing_fingerprint is None:
        return Replay.NEW
    if existing_fingerprint == incoming_fingerprint:
        return Replay.SAME
    return Replay.CONFLICT


# Fixed forever: changing it would give old keys new complaint ids.
COMPLAINT_ID_NAMESPACE = UUID("6f1c2a4e-8d0b-4f7a-9e35-3c2b1d0a9e77")


def complaint_id_for(hospital_id: str, key: str) -> str:
    """A keyed request always maps to the same complaint id, so a replay is found by `_id`
    (the one lookup every MongoDB-wire server indexes) and a race ends in a duplicate `_id`."""
    return str(uuid5(COMPLAINT_ID_NAMESPACE, f"{hospital_id}\n{key}"))


def automatic_key(complaint_id: str) -> str:
    """Keyless requests get a unique key: unique indexes must never see a missing one."""
    return f"auto:{complaint_id}"
