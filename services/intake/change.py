"""How one change of a complaint is written: its fields, its timeline entries and the
events it causes, as one Decision for shared/records.py (one write, events in the outbox).

What every change of a complaint does is written here once: its entries are chained onto
the timeline (domain/timeline.py: append-only, tamper-evident, docs/rules.md#records T1),
`version` counts the change, and an entry a proven staff member makes carries the proof
(the key and id of the assertion the hospital signed for them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.intake.domain import timeline
from shared.contracts import EventPayload
from shared.records import Decision
from shared.staff_assertion import StaffAssertion


@dataclass(frozen=True)
class Entry:
    """One timeline entry to append: what happened, who did it, with what details; `at`
    defaults to the moment of the change."""

    type: str
    by: str | None
    note: str | None = None
    data: Mapping[str, Any] | None = None
    at: datetime | None = None


def proven(entry: Entry, assertion: StaffAssertion) -> Entry:
    """The entry with the proof of who made it."""
    return replace(entry, data={**(entry.data or {}), "proof": assertion.proof()})


def chained(
    complaint_id: str,
    head: Mapping[str, Any] | None,
    entries: Iterable[Entry],
    *,
    at: datetime,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The entries as stored, each linked to the one before it (`head` None: the first),
    and the timeline's new head."""
    stored: list[dict[str, Any]] = []
    new_head = dict(head) if head is not None else None
    for entry in entries:
        record, new_head = timeline.append(
            complaint_id,
            new_head,
            at=entry.at or at,
            type=entry.type,
            by=entry.by,
            note=entry.note,
            data=entry.data,
        )
        stored.append(record)
    return stored, new_head


@dataclass
class Change:
    """Everything one command does to a complaint; `decision` turns it into one update."""

    set: dict[str, Any] = field(default_factory=dict)
    inc: dict[str, int] = field(default_factory=dict)
    push: dict[str, Any] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list)

    def decision(self, complaint: Mapping[str, Any], *, now: datetime) -> Decision:
        """The update of `complaint` as stored now, with this change's events."""
        update: dict[str, Any] = {}
        fields = dict(self.set)
        pushed = dict(self.push)
        if self.entries:
            entries, fields["timeline_head"] = chained(
                complaint["_id"], complaint.get("timeline_head"), self.entries, at=now
            )
            pushed["timeline"] = {"$each": entries}
        if fields:
            update["$set"] = fields
        if pushed:
            update["$push"] = pushed
        update["$inc"] = {**self.inc, "version": 1}
        return Decision(update, tuple(self.events))
