"""Idempotent registration: the same key with the same body is the same complaint.

A hospital system that retries after a timeout must not create a second case; a client
that reuses a key for a different complaint has a bug, and is told so (409).
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any


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


def automatic_key(complaint_id: str) -> str:
    """Keyless requests get a unique key: unique indexes must never see a missing one."""
    return f"auto:{complaint_id}"
