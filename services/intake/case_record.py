"""How one change of a complaint is written: its new fields, its timeline entries (hash
chained) and the events it causes, in one document write (DOMAIN.md "Confidentiality and
records": the record is append-only and tamper-evident)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.intake.domain import timeline
from services.intake.domain.confidentiality import IdentityCipher
from shared.contracts import Envelope, EventPayload, Person
from shared.outbox import outbox_fields
from shared.tracing import current_trace_context


@dataclass(frozen=True)
class Entry:
    """One timeline entry to append: what happened, who did it, with what details."""

    type: str
    by: str | None
    note: str | None = None
    data: dict[str, Any] | None = None


@dataclass
class Change:
    """Everything one command does to a complaint; `write` turns it into one update."""

    set: dict[str, Any] = field(default_factory=dict)
    inc: dict[str, int] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list)
    push: dict[str, Any] = field(default_factory=dict)

    def write(self, document: dict[str, Any], *, now: datetime) -> tuple[dict[str, Any], list]:
        """The MongoDB update and the envelopes to relay after it is stored."""
        head = document.get("timeline_head")
        chained = []
        for entry in self.entries:
            stored, head = timeline.append(
                document["_id"],
                head,
                at=now,
                type=entry.type,
                by=entry.by,
                note=entry.note,
                data=entry.data,
            )
            chained.append(stored)
        envelopes = [envelope_of(document, event) for event in self.events]
        update: dict[str, Any] = {"$set": dict(self.set)}
        if chained:
            update["$set"]["timeline_head"] = head
            update["$push"] = {"timeline": {"$each": chained}}
        for key, value in self.push.items():
            update.setdefault("$push", {})[key] = value
        if self.inc:
            update["$inc"] = dict(self.inc)
        if envelopes:
            update["$set"].update(outbox_fields(envelopes, now=now))
        return update, envelopes


def envelope_of(document: dict[str, Any], event: EventPayload) -> Envelope:
    return event.envelope(
        hospital_id=document["hospital_id"],
        complaint_id=document["_id"],
        trace_context=current_trace_context(),
    )


def complainant_email(document: dict[str, Any], identity: IdentityCipher) -> str | None:
    """The address to write to, or None: anonymous complainants are never contacted."""
    if document.get("anonymous") or not document.get("complainant"):
        return None
    return identity.open(document["_id"], document["complainant"]).get("email")


def handler_of(document: dict[str, Any]) -> Person | None:
    handler = (document.get("assignment") or {}).get("handler")
    return Person.model_validate(handler) if handler else None
