"""The complaint's timeline: append-only and tamper-evident (pure: no I/O).

Complaint materials must not be altered, destroyed or forged (不得涂改、撕毁、造假,
虹桥小学《投诉处理机制》五、5; docs/rules.md#records). Each entry thus carries the hash of the one
before it, entry 0 links to a genesis value derived from the complaint id, and the
document keeps a head ``{"count": n, "hash": h}``. Editing, deleting, reordering or
inserting entries, or moving one in from another complaint, breaks the chain and
``verify`` says where. A correction is a new entry; nothing here edits an entry.

The chain uses no secret: whoever can rewrite the whole document can recompute every hash
and the head. It makes tampering evident, not impossible; anchoring the head outside the
document (in published events or the ledger) is what catches a full rewrite.

Hashes must survive a MongoDB round trip: BSON keeps datetimes to the millisecond and
PyMongo may hand them back naive (meaning UTC) or tz-aware. Every datetime is therefore
normalised to UTC at millisecond precision before hashing, and stored already truncated,
so what ``append`` returns equals what the database gives back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

# Changing this string changes every hash ever written: it is part of the stored format.
GENESIS_DOMAIN = "huiyin.intake.timeline.v1"

# BSON integers are signed 64-bit; a larger one could not be stored and read back.
_INT64 = 2**63

_REQUIRED = ("seq", "at", "type", "prev", "hash")


@dataclass(frozen=True)
class ChainVerdict:
    """What ``verify`` found.

    ``count`` and ``head_hash`` describe the longest prefix that verified (all entries
    when ``ok``); ``first_bad_seq`` is the position where verification first failed.
    """

    ok: bool
    count: int
    head_hash: str | None
    first_bad_seq: int | None = None
    problem: str | None = None


def genesis(complaint_id: str) -> str:
    """The ``prev`` of entry 0: bound to the complaint so entries cannot change cases."""
    return hashlib.sha256(f"{GENESIS_DOMAIN}\x00{complaint_id}".encode()).hexdigest()


def stored_instant(moment: datetime) -> datetime:
    """The instant as MongoDB keeps it: UTC, millisecond precision (naive means UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _instant_text(moment: datetime) -> str:
    return stored_instant(moment).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def _storable(value: Any, where: str) -> Any:
    """A deep copy of ``value`` in the form BSON returns it (lists, UTC-ms datetimes)."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"{where}: integer does not fit in 64 bits")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{where}: NaN and infinity cannot be hashed canonically")
        return value
    if isinstance(value, datetime):
        return stored_instant(value)
    if isinstance(value, Mapping):
        copy: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be strings, got {type(key).__name__}")
            copy[key] = _storable(item, f"{where}.{key}")
        return copy
    if isinstance(value, list | tuple):
        return [_storable(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored in a timeline entry")


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime):
        return _instant_text(value)
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


def canonical(entry: Mapping[str, Any]) -> str:
    """The text an entry's hash covers: every field but ``hash``, in one fixed form."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    return json.dumps(
        _json_ready(body),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )


def entry_hash(entry: Mapping[str, Any]) -> str:
    """sha256 over the entry's ``prev`` and its canonical text."""
    return hashlib.sha256((entry["prev"] + canonical(entry)).encode()).hexdigest()


def _head_position(head: Mapping[str, Any] | None, complaint_id: str) -> tuple[int, str]:
    if head is None:
        return 0, genesis(complaint_id)
    count, last = head.get("count"), head.get("hash")
    if not _is_count(count):
        raise ValueError(f"timeline head count must be a non-negative integer, got {count!r}")
    if count == 0:
        return 0, genesis(complaint_id)
    if not isinstance(last, str) or not last:
        raise ValueError("timeline head of a non-empty timeline must carry the last hash")
    return count, last


def append(
    complaint_id: str,
    head: Mapping[str, Any] | None,
    *,
    at: datetime,
    type: str,  # the stored field's name; shadows the builtin only here
    by: str | None,
    note: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The next entry and the new head; ``head`` None means an empty timeline.

    The caller writes both in one document update, guarded by the old head (or version),
    so two concurrent appends cannot both succeed.
    """
    if not isinstance(at, datetime):
        raise TypeError("at must be a datetime")
    if not isinstance(type, str) or not type:
        raise ValueError("type must be a non-empty string")
    if by is not None and not isinstance(by, str):
        raise TypeError("by must be a string or None")
    if note is not None and not isinstance(note, str):
        raise TypeError("note must be a string or None")
    if data is not None and not isinstance(data, Mapping):
        raise TypeError("data must be a mapping or None")
    seq, prev = _head_position(head, complaint_id)
    entry: dict[str, Any] = {
        "seq": seq,
        "at": stored_instant(at),
        "type": type,
        "by": by,
        "note": note,
        "data": _storable(data, "data") if data is not None else None,
        "prev": prev,
    }
    entry["hash"] = entry_hash(entry)
    return entry, {"count": seq + 1, "hash": entry["hash"]}


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _malformed(entry: Any) -> str | None:
    """Why the entry cannot even be hashed, or None."""
    if not isinstance(entry, Mapping):
        return "is not a document"
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        return "lacks " + ", ".join(repr(key) for key in missing)
    if not _is_count(entry["seq"]):
        return "has a seq that is not a non-negative integer"
    if not isinstance(entry["at"], datetime):
        return "has an 'at' that is not a datetime"
    if not isinstance(entry["prev"], str) or not isinstance(entry["hash"], str):
        return "has a prev or hash that is not text"
    return None


def _broken(position: int, good: Sequence[Mapping[str, Any]], problem: str) -> ChainVerdict:
    return ChainVerdict(
        ok=False,
        count=len(good),
        head_hash=good[-1]["hash"] if good else None,
        first_bad_seq=position,
        problem=problem,
    )


def _misplaced(complaint_id: str, position: int, entries: Sequence[Any]) -> tuple[str, int]:
    """Name what happened when the entry at ``position`` is intact but carries another seq.

    Returns the problem and the position to blame.
    """
    seq = entries[position]["seq"]
    seqs = [entry.get("seq") if isinstance(entry, Mapping) else None for entry in entries]
    if sorted(seqs, key=lambda s: s if _is_count(s) else -1) == list(range(len(seqs))):
        return "entries reordered", position
    if seq > position:
        if seq == position + 1:
            return f"entry {position} is missing", position
        return f"entries {position} to {seq - 1} are missing", position
    if seq == position - 1:
        # This entry still links behind its predecessor: the predecessor was slipped in.
        behind = entries[position - 2]["hash"] if position >= 2 else genesis(complaint_id)
        if entries[position]["prev"] == behind:
            return f"entry {position - 1} was inserted (forged)", position - 1
    return f"entry {position} is out of place (seq {seq}): entries inserted or duplicated", position


def verify(
    complaint_id: str,
    entries: Sequence[Mapping[str, Any]],
    head: Mapping[str, Any] | None,
) -> ChainVerdict:
    """Check every entry, every link and the head; report the first break.

    Accepts entries as stored or as read back from MongoDB (naive or aware datetimes).
    """
    good: list[Mapping[str, Any]] = []
    expected_prev = genesis(complaint_id)
    for position, entry in enumerate(entries):
        why = _malformed(entry)
        if why is not None:
            return _broken(position, good, f"entry {position} is malformed: it {why}")
        try:
            intact = entry_hash(entry) == entry["hash"]
        except (TypeError, ValueError):
            intact = False
        if not intact:
            return _broken(position, good, f"entry {position} was altered")
        if entry["seq"] != position:
            problem, blamed = _misplaced(complaint_id, position, entries)
            return _broken(blamed, good[:blamed], problem)
        if entry["prev"] != expected_prev:
            if position == 0:
                problem = "entry 0 does not start this complaint's timeline (another complaint's?)"
            else:
                problem = (
                    f"entry {position} does not follow entry {position - 1}: "
                    "replaced, rewritten or taken from another complaint"
                )
            return _broken(position, good, problem)
        good.append(entry)
        expected_prev = entry["hash"]
    return _check_head(complaint_id, good, head)


def _check_head(
    complaint_id: str, good: Sequence[Mapping[str, Any]], head: Mapping[str, Any] | None
) -> ChainVerdict:
    found = len(good)
    last = good[-1]["hash"] if good else None
    if head is None:
        if found:
            return _broken(0, good, f"the timeline has {found} entries but no head")
        return ChainVerdict(ok=True, count=0, head_hash=None)
    count = head.get("count") if isinstance(head, Mapping) else None
    recorded = head.get("hash") if isinstance(head, Mapping) else None
    if not _is_count(count):
        return _broken(found, good, "the head is malformed: count is not a non-negative integer")
    if count > found:
        if found == 0:
            return _broken(0, good, f"all {count} entries were removed")
        return _broken(found, good, f"entries after {found - 1} were removed")
    if count < found:
        return _broken(count, good, f"entries from {count} on are not covered by the head")
    if found == 0:
        if recorded not in (None, genesis(complaint_id)):
            return _broken(0, good, "the head of an empty timeline carries a foreign hash")
        return ChainVerdict(ok=True, count=0, head_hash=None)
    if recorded != last:
        return _broken(
            found - 1, good, f"the head does not match entry {found - 1}: one of them was altered"
        )
    return ChainVerdict(ok=True, count=found, head_hash=last)
