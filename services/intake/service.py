"""Intake's commands that start a case or apply another service's decision: register,
apply routing's decision, apply a moved deadline. Lifecycle commands taken by people are
in commands.py.

Each writes the complaint with its timeline entries and outgoing events in one document
write (case_record.Change), then nudges the outbox relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from pymongo.errors import DuplicateKeyError

from services.intake.adapters.complaints import ComplaintRepository
from services.intake.adapters.staff_directory import StaffDirectory
from services.intake.api.schemas import ComplaintCreate
from services.intake.case_record import Change, Entry, complainant_email, envelope_of, handler_of
from services.intake.domain import authority, idempotency, timeline
from services.intake.domain.authority import Actor, CaseParties
from services.intake.domain.complaint import TRANSITIONS, Action, ComplaintStatus, next_status
from services.intake.domain.confidentiality import IdentityCipher, is_sealed
from services.intake.domain.numbering import case_number, tracking_code
from shared import dates
from shared.consumer import PermanentFailure
from shared.contracts import (
    ComplaintAccepted,
    ComplaintAssigned,
    ComplaintExtended,
    ComplaintReceived,
    ComplaintRouted,
    DeadlineChanged,
    DeadlineSet,
    Envelope,
)
from shared.outbox import OutboxRelay, new_outbox
from shared.staff_assertion import StaffAssertion

SUMMARY_CHARS = 120


@dataclass(frozen=True)
class IntakePorts:
    """What intake's commands read and write."""

    repository: ComplaintRepository
    directory: StaffDirectory
    identity: IdentityCipher
    relay: OutboxRelay
    received_window: timedelta = timedelta(days=366)  # oldest received_at a registration takes


class ComplaintNotFound(Exception):
    pass


class IdempotencyConflict(Exception):
    pass


class RoutingNotApplied(LookupError):
    """Transient: an event about the routing decision arrived before the decision."""


class ProofRequired(Exception):
    """The step needs a proven staff member (a staff assertion) and none came; the
    message says what needs it."""


class RegistrationRefused(Exception):
    """The proven person may not do what the registration asks (accept it)."""


class InvalidField(Exception):
    """A value that is well-formed but wrong for this hospital (unknown staff, department)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


async def check_registration(
    request: ComplaintCreate,
    hospital_id: str,
    directory: StaffDirectory,
    *,
    proven: StaffAssertion | None = None,
) -> None:
    """The fields that name people and departments must name real ones of this hospital
    (an unknown person complained about would silently switch recusal off)."""
    departments = await directory.departments(hospital_id)
    if departments is None:
        raise InvalidField("hospital_id", f"hospital {hospital_id} is not loaded in the region")
    if request.target_department and request.target_department not in departments:
        raise InvalidField(
            "target_department", f"no department {request.target_department} in {hospital_id}"
        )
    target = request.target_staff_id
    if target and await directory.actor(hospital_id, target) is None:
        raise InvalidField("target_staff_id", f"no staff member {target} in {hospital_id}")
    if request.received_by:
        receiver = await directory.actor(hospital_id, request.received_by)
        if receiver is None:
            raise InvalidField("received_by", f"no staff member {request.received_by}")
        if request.accepted:
            check_acceptance(receiver, proven=proven, complained_about=target)


def check_acceptance(
    receiver: Actor, *, proven: StaffAssertion | None, complained_about: str | None
) -> None:
    """`accepted: true` is the accept action (受理) taken by `received_by`: that person must
    be proven by the hospital's signature and allowed by the same rule as POST .../accept
    (complaint office only; never the person complained about)."""
    if proven is None:
        raise ProofRequired("accepting at registration")
    if proven.staff_id != receiver.staff_id:
        raise RegistrationRefused(
            f"received_by: {receiver.staff_id} accepts, but the assertion proves "
            f"{proven.staff_id}; the person who accepts signs"
        )
    parties = CaseParties(first_receiver=receiver.staff_id, complained_about=complained_about)
    try:
        authority.check(Action.ACCEPT, receiver, parties)
    except authority.NotPermitted as refusal:
        raise RegistrationRefused(str(refusal)) from refusal


async def register_complaint(
    *,
    request: ComplaintCreate,
    hospital_id: str,
    idempotency_key: str | None,
    ports: IntakePorts,
    proven: StaffAssertion | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a new complaint durably; returns (document, replayed). `proven` is the staff
    member the request's assertion proves (needed to accept at registration)."""
    repository = ports.repository
    body = request.model_dump(mode="json", exclude_none=True) | {"hospital_id": hospital_id}
    body_fingerprint = idempotency.fingerprint(body)
    if idempotency_key is not None:
        complaint_id = idempotency.complaint_id_for(hospital_id, idempotency_key)
        existing = await repository.get(complaint_id)
        if existing is not None:
            return _replay(existing, body_fingerprint), True
    else:
        complaint_id = str(uuid4())
    await check_registration(request, hospital_id, ports.directory, proven=proven)

    now = datetime.now(UTC)
    received_at = (request.received_at or now).astimezone(UTC)
    problem = dates.problem_with(received_at, now=now, max_age=ports.received_window)
    if problem:
        raise InvalidField("received_at", problem)
    sequence = await repository.next_sequence(hospital_id, received_at)
    identity = (
        request.complainant.model_dump(mode="json", exclude_none=True)
        if request.complainant
        else None
    )
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
        "complainant": ports.identity.seal(complaint_id, identity) if identity else None,
        "target_department": request.target_department,
        "target_staff_id": request.target_staff_id,
        "summary": request.summary,
        "content": request.content,
        "demand": request.demand,
        "direct": request.direct,
        "group": request.group,
        "case_type": request.case_type.value if request.case_type else None,
        "received_at": received_at,
        "received_by": request.received_by,
        "first_receiver": {"staff_id": request.received_by, "accountable": request.received_by},
        "registered_at": now,
        "assignment": None,
        "reply": None,
        "reopen_count": 0,
        "timeline": [],
        "timeline_head": None,
        "applied_events": [],
        "version": 1,
    }
    step = Change(
        entries=[Entry("received", request.received_by, data={"channel": request.channel.value})],
        events=[
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
                direct=request.direct,
                group=request.group,
                case_type=document["case_type"],
            )
        ],
    )
    if request.accepted:
        document["status"] = ComplaintStatus.ACCEPTED.value
        document["acceptance"] = {"decision": "accepted", "at": now, "by": request.received_by}
        document["first_receiver"]["accountable"] = None
        proof = {"proof": proven.proof()} if proven else None
        step.entries.append(Entry("accepted", request.received_by, "登记时即受理", proof))
        step.events.append(_lifecycle(ComplaintAccepted, document, now, request.received_by))
    envelopes = [envelope_of(document, event) for event in step.events]
    for entry in step.entries:
        stored, document["timeline_head"] = timeline.append(
            complaint_id,
            document["timeline_head"],
            at=now,
            type=entry.type,
            by=entry.by,
            note=entry.note,
            data=entry.data,
        )
        document["timeline"].append(stored)
    document.update(new_outbox(envelopes, now=now))
    try:
        await repository.insert(document)
    except DuplicateKeyError:
        existing = await repository.get(complaint_id) if idempotency_key else None
        if existing is None:
            raise
        return _replay(existing, body_fingerprint), True  # two identical requests raced
    ports.relay.notify(complaint_id, envelopes)
    return document, False


def _replay(existing: dict[str, Any], incoming_fingerprint: str) -> dict[str, Any]:
    verdict = idempotency.judge(existing["fingerprint"], incoming_fingerprint)
    if verdict is idempotency.Replay.CONFLICT:
        raise IdempotencyConflict(
            "Idempotency-Key was already used for a different complaint "
            f"({existing['case_number']}); use a new key for a new complaint"
        )
    return existing


def _lifecycle(model: Any, document: dict[str, Any], at: datetime, by: str | None, **fields: Any):  # type: ignore[no-untyped-def]
    return model(
        case_number=document["case_number"],
        tracking_code=document["tracking_code"],
        at=at,
        by=by,
        **fields,
    )


def pending_year(assignment: dict[str, Any]) -> int | None:
    """The year the reply deadline waits for (routing's calendar lacks it); None once it
    is a date."""
    if assignment.get("due_at") is not None:
        return None
    return assignment.get("deadline_pending_year")


def assigned_event(
    document: dict[str, Any], identity: IdentityCipher, assignment: dict[str, Any]
) -> tuple[ComplaintAssigned, dict[str, Any]]:
    """complaint.assigned for an accepted case, and the fields it sets: the complainant's
    receipt goes with the first assignment only."""
    first = not document.get("receipt_sent")
    event = ComplaintAssigned(
        case_number=document["case_number"],
        tracking_code=document["tracking_code"],
        category=assignment["category"],
        category_label=assignment["category_label"],
        department=assignment["department"],
        department_label=assignment["department_label"],
        handler=assignment.get("handler"),
        received_at=document["received_at"],
        due_at=assignment.get("due_at"),
        deadline_pending_year=pending_year(assignment),
        summary=(document.get("summary") or document["content"])[:SUMMARY_CHARS],
        complainant_email=complainant_email(document, identity) if first else None,
        revision=assignment.get("revision", 1),
        reason=assignment.get("reason"),
        priority=assignment.get("priority", "normal"),
        action_due_at=assignment.get("action_due_at"),
        co_departments=assignment.get("co_departments", []),
    )
    return event, {"receipt_sent": True}


async def apply_routing(envelope: Envelope, routed: ComplaintRouted, *, ports: IntakePorts) -> None:
    """Record routing's newest decision (intake is the aggregate's single writer). An
    accepted case becomes assigned and announced; one still under acceptance review keeps
    the decision until the office accepts it."""
    event_id = str(envelope.event_id)
    produced: list[Envelope] = []

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        if event_id in document.get("applied_events", []):
            return None
        current = document.get("assignment") or {}
        step = Change(push={"applied_events": event_id})
        now = datetime.now(UTC)
        if current and current.get("revision", 1) >= routed.revision:
            # An older decision arriving late: recorded as seen, never applied.
            update, _ = step.write(document, now=now)
            produced.clear()
            return update
        assignment = routed.model_dump(
            mode="python",
            include={
                "revision",
                "reason",
                "category",
                "category_label",
                "matched_keywords",
                "department",
                "department_label",
                "co_departments",
                "recused",
                "priority",
                "case_type",
                "counting_day",
                "working_days",
                "acceptance_due_at",
                "action_due_at",
                "due_at",
                "deadline_pending_year",
            },
        )
        day = routed.counting_day
        assignment["counting_day"] = day.isoformat() if day else None
        assignment["handler"] = routed.handler.model_dump(mode="json") if routed.handler else None
        changed_at = current.get("deadline_changed_at")
        if changed_at is not None and changed_at >= envelope.occurred_at:
            # A deadline routing set after this decision was made (the year's calendar
            # loaded, an extension) was applied first: the decision does not undo it.
            for key in ("due_at", "deadline_pending_year", "deadline_changed_at"):
                assignment[key] = current.get(key)
        step.set["assignment"] = assignment
        status = ComplaintStatus(document["status"])
        if Action.ASSIGN in TRANSITIONS[status]:
            after = next_status(status, Action.ASSIGN)
            step.set["status"] = after.value
            if after in (ComplaintStatus.ASSIGNED, ComplaintStatus.REOPENED):
                event, fields = assigned_event(document, ports.identity, assignment)
                step.events.append(event)
                step.set.update(fields)
        handler = routed.handler.name if routed.handler else "无可用承办人"
        waiting = pending_year(assignment)
        note = f"{routed.department_label} / {routed.category_label} / {handler}"
        if waiting is not None:
            note += f" / 办理时限待{waiting}年法定节假日安排载入后确定"
        step.entries.append(
            Entry(
                "assigned" if routed.revision == 1 else "reassigned",
                "routing",
                note,
                data={
                    "revision": routed.revision,
                    "reason": routed.reason,
                    "department": routed.department,
                    "handler": routed.handler.staff_id if routed.handler else None,
                    "priority": routed.priority,
                    "matched_keywords": routed.matched_keywords,
                    "recused": routed.recused,
                },
            )
        )
        update, envelopes = step.write(document, now=now)
        produced[:] = envelopes
        return update

    document = await ports.repository.change(envelope.complaint_id, mutate)
    if document is None:
        raise PermanentFailure(f"complaint {envelope.complaint_id} does not exist")
    if produced and event_id in document.get("applied_events", []):
        ports.relay.notify(document["_id"], produced)


async def apply_deadline_change(
    envelope: Envelope, changed: DeadlineChanged, *, ports: IntakePorts
) -> None:
    """Routing moved the reply deadline (supplement arrived, extension approved, re-review,
    the calendar year it waited for loaded), or it now waits for a year's calendar (no date
    is shown rather than a wrong one). An approved extension is told to the complainant
    (延期须告知理由) once its date is known."""
    event_id = str(envelope.event_id)
    produced: list[Envelope] = []

    def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
        if event_id in document.get("applied_events", []):
            return None
        assignment = document.get("assignment")
        if not assignment:
            # Published after complaint.routed but consumed first: retry until it lands.
            raise RoutingNotApplied(f"complaint {document['_id']} has no routing decision yet")
        now = datetime.now(UTC)
        last = assignment.get("deadline_changed_at")
        if last is not None and envelope.occurred_at <= last:
            # An older change arriving after a newer one: recorded as seen, not applied.
            return {"$push": {"applied_events": event_id}}
        waiting = changed.deadline_pending_year
        note = changed.reason
        if waiting is not None:
            note += f"；办理时限待{waiting}年法定节假日安排载入后确定"
        step = Change(
            set={
                "assignment.due_at": changed.due_at,
                "assignment.deadline_pending_year": waiting,
                "assignment.deadline_changed_at": envelope.occurred_at,
            },
            push={"applied_events": event_id},
            entries=[
                Entry(
                    "deadline_changed",
                    "routing",
                    note,
                    data={
                        "due_at": changed.due_at,
                        "working_days": changed.working_days,
                        "deadline_pending_year": waiting,
                    },
                )
            ],
        )
        extension = document.get("extension") or {}
        was_pending = assignment.get("due_at") is None and assignment.get("deadline_pending_year")
        # An extension whose new date waits for the calendar is told once it is a date.
        if extension.get("awaiting_deadline") and changed.due_at is not None:
            step.set["extension.awaiting_deadline"] = False
            step.events.append(
                _lifecycle(
                    ComplaintExtended,
                    document,
                    now,
                    extension.get("approved_by"),
                    due_at=changed.due_at,
                    reason=extension.get("reason") or changed.reason,
                    handler=handler_of(document),
                    complainant_email=complainant_email(document, ports.identity),
                )
            )
        elif was_pending and changed.due_at is not None and document.get("receipt_sent"):
            # Handler and complainant were told the deadline waits for the calendar: now
            # they learn its date. (A case not yet assigned learns it with its assignment.)
            step.events.append(
                _lifecycle(
                    DeadlineSet,
                    document,
                    now,
                    "routing",
                    due_at=changed.due_at,
                    handler=handler_of(document),
                    complainant_email=complainant_email(document, ports.identity),
                )
            )
        update, envelopes = step.write(document, now=now)
        produced[:] = envelopes
        return update

    document = await ports.repository.change(envelope.complaint_id, mutate)
    if document is None:
        # A deadline for a complaint routing knows and intake lost cannot be applied ever.
        raise PermanentFailure(f"complaint {envelope.complaint_id} does not exist")
    if produced and event_id in document.get("applied_events", []):
        ports.relay.notify(document["_id"], produced)


async def upgrade_earlier_complaints(ports: IntakePorts) -> int:
    """Complaints stored before identities were sealed and the timeline was chained (issue
    2's format): seal the identity and chain the existing entries, adding an entry that says
    so. Nothing is dropped; runs at start and finds nothing on a current database."""
    upgraded = 0
    earlier = ports.repository.collection.find({"timeline_head": {"$exists": False}})
    async for stored in earlier:

        def mutate(document: dict[str, Any]) -> dict[str, Any] | None:
            if "timeline_head" in document:
                return None
            head, chained = None, []
            entries = [
                (e["at"], e["type"], e.get("by"), e.get("note"), None)
                for e in document.get("timeline", [])
            ]
            note = "身份加密与时间线链式校验启用"
            entries.append((datetime.now(UTC), "record_upgraded", "intake", note, None))
            for at, kind, by, note, data in entries:
                entry, head = timeline.append(
                    document["_id"], head, at=at, type=kind, by=by, note=note, data=data
                )
                chained.append(entry)
            identity = document.get("complainant")
            update: dict[str, Any] = {"$set": {"timeline": chained, "timeline_head": head}}
            if identity and not any(is_sealed(v) for v in identity.values()):
                update["$set"]["complainant"] = ports.identity.seal(document["_id"], identity)
            return update

        await ports.repository.change(stored["_id"], mutate)
        upgraded += 1
    return upgraded
