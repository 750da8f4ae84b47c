"""Intake's commands: register, apply a routing decision, reply.

Each command validates against the lifecycle, writes the complaint with its timeline
entry and outgoing events in one document write, then nudges the outbox relay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from pymongo.errors import DuplicateKeyError

from services.intake.adapters.complaints import ComplaintRepository
from services.intake.api.schemas import ComplaintCreate, ReplyCreate
from services.intake.domain import idempotency
from services.intake.domain.complaint import TRANSITIONS, Action, ComplaintStatus, next_status
from services.intake.domain.numbering import case_number, tracking_code
from shared.consumer import PermanentFailure
from shared.contracts import (
    ComplaintAssigned,
    ComplaintReceived,
    ComplaintReplied,
    ComplaintRouted,
    Envelope,
)
from shared.outbox import OutboxRelay, new_outbox, outbox_fields
from shared.tracing import current_trace_context

SUMMARY_CHARS = 120


class ComplaintNotFound(Exception):
    pass


class IdempotencyConflict(Exception):
    pass


def _complainant_email(document: dict[str, Any]) -> str | None:
    if document.get("anonymous"):
        return None
    return (document.get("complainant") or {}).get("email")


def _envelope(document: dict[str, Any], event: Any) -> Envelope:
    return event.envelope(
        hospital_id=document["hospital_id"],
        complaint_id=document["_id"],
        trace_context=current_trace_context(),
    )


async def register_complaint(
    *,
    request: ComplaintCreate,
    hospital_id: str,
    idempotency_key: str | None,
    repository: ComplaintRepository,
    relay: OutboxRelay,
) -> tuple[dict[str, Any], bool]:
    """Store a new complaint durably; returns (document, replayed)."""
    body = request.model_dump(mode="json", exclude_none=True) | {"hospital_id": hospital_id}
    body_fingerprint = idempotency.fingerprint(body)
    if idempotency_key is not None:
        complaint_id = idempotency.complaint_id_for(hospital_id, idempotency_key)
        existing = await repository.get(complaint_id)
        if existing is not None:
            return _replay(existing, body_fingerprint), True
    else:
        complaint_id = str(uuid4())

    now = datetime.now(UTC)
    received_at = (request.received_at or now).astimezone(UTC)
    sequence = await repository.next_sequence(hospital_id, received_at)
    document: dict[str, Any] = {
        "_id": complaint_id,
        "hospital_id": hospital_id,
        "case_number": case_number(hospital_id, received_at, sequence),
        "tracking_code": tracking_code(),
        "idempotency_key": idempotency_key or idempotency.automatic_key(complaint_id),
        "fingerprint": body_fingerprint,
        "status": ComplaintStatus.RECEIVED.value,
        "channel": request.channel.value,
        "kind": request.kind.value,
        "anonymous": request.anonymous,
        "complainant": request.complainant.model_dump(mode="json") if request.complainant else None,
        "target_department": request.target_department,
        "target_staff_id": request.target_staff_id,
        "summary": request.summary,
        "content": request.content,
        "demand": request.demand,
        "received_at": received_at,
        "received_by": request.received_by,
        "registered_at": now,
        "assignment": None,
        "reply": None,
        "timeline": [{"at": now, "type": "received", "by": request.received_by, "note": None}],
        "applied_events": [],
        "version": 1,
    }
    event = _envelope(
        document,
        ComplaintReceived(
            case_number=document["case_number"],
            channel=document["channel"],
            kind=document["kind"],
            anonymous=request.anonymous,
            received_at=received_at,
            content=request.content,
            demand=request.demand,
            target_department=request.target_department,
            target_staff_id=request.target_staff_id,
        ),
    )
    document.update(new_outbox([event], now=now))
    try:
        await repository.insert(document)
    except DuplicateKeyError:
        existing = await repository.get(complaint_id) if idempotency_key else None
        if existing is None:
            raise
        return _replay(existing, body_fingerprint), True  # two identical requests raced
    relay.notify(complaint_id, [event])
    return document, False


def _replay(existing: dict[str, Any], incoming_fingerprint: str) -> dict[str, Any]:
    verdict = idempotency.judge(existing["fingerprint"], incoming_fingerprint)
    if verdict is idempotency.Replay.CONFLICT:
        raise IdempotencyConflict(
            "Idempotency-Key was already used for a different complaint "
            f"({existing['case_number']}); use a new key for a new complaint"
        )
    return existing


async def apply_routing(
    envelope: Envelope,
    routed: ComplaintRouted,
    *,
    repository: ComplaintRepository,
    relay: OutboxRelay,
) -> None:
    """Record routing's decision (intake is the aggregate's single writer) and announce it."""
    event_id = str(envelope.event_id)
    produced: list[Envelope] = []

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        if event_id in document.get("applied_events", []):
            return None
        produced.clear()
        now = datetime.now(UTC)
        status = ComplaintStatus(document["status"])
        if Action.ASSIGN in TRANSITIONS[status]:
            status = next_status(status, Action.ASSIGN)
        assignment = {
            "category": routed.category,
            "category_label": routed.category_label,
            "department": routed.department,
            "department_label": routed.department_label,
            "handler": routed.handler.model_dump(include={"staff_id", "name"})
            if routed.handler
            else None,
            "due_at": routed.due_at,
            "matched_keywords": routed.matched_keywords,
        }
        assigned = _envelope(
            document,
            ComplaintAssigned(
                case_number=document["case_number"],
                tracking_code=document["tracking_code"],
                category=routed.category,
                category_label=routed.category_label,
                department=routed.department,
                department_label=routed.department_label,
                handler=routed.handler,
                received_at=document["received_at"],
                due_at=routed.due_at,
                summary=(document.get("summary") or document["content"])[:SUMMARY_CHARS],
                complainant_email=_complainant_email(document),
            ),
        )
        produced.append(assigned)
        note = f"{routed.department_label} / {routed.category_label}"
        return {
            "$set": {
                "status": status.value,
                "assignment": assignment,
                **outbox_fields([assigned], now=now),
            },
            "$push": {
                "timeline": {"at": now, "type": "assigned", "by": "routing", "note": note},
                "applied_events": event_id,
            },
        }

    document = await repository.change(envelope.complaint_id, mutate)
    if document is None:
        raise PermanentFailure(f"complaint {envelope.complaint_id} does not exist")
    if produced and event_id in document.get("applied_events", []):
        relay.notify(document["_id"], produced)


async def reply_to_complaint(
    *,
    complaint_id: str,
    reply: ReplyCreate,
    hospital_scope: str | None,
    repository: ComplaintRepository,
    relay: OutboxRelay,
) -> dict[str, Any]:
    produced: list[Envelope] = []

    def mutate(document: dict[str, Any]) -> dict[str, Any]:
        if hospital_scope is not None and document["hospital_id"] != hospital_scope:
            raise ComplaintNotFound(complaint_id)
        status = next_status(ComplaintStatus(document["status"]), Action.REPLY)
        now = datetime.now(UTC)
        received_at = document["received_at"]
        replied = _envelope(
            document,
            ComplaintReplied(
                case_number=document["case_number"],
                tracking_code=document["tracking_code"],
                received_at=received_at,
                replied_at=now,
                replied_by=reply.replied_by,
                reply=reply.content,
                response_seconds=(now - received_at).total_seconds(),
                complainant_email=_complainant_email(document),
            ),
        )
        produced[:] = [replied]
        return {
            "$set": {
                "status": status.value,
                "reply": {
                    "content": reply.content,
                    "replied_by": reply.replied_by,
                    "replied_at": now,
                },
                **outbox_fields([replied], now=now),
            },
            "$push": {
                "timeline": {"at": now, "type": "replied", "by": reply.replied_by, "note": None}
            },
        }

    document = await repository.change(complaint_id, mutate)
    if document is None:
        raise ComplaintNotFound(complaint_id)
    relay.notify(document["_id"], produced)
    return document
