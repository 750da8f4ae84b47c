"""Registering a complaint (登记), one request or one item of a batch.

- Idempotent: a keyed request names its complaint's `_id` (domain/idempotency.py), so a
  retry finds the stored complaint by `_id` and two racing copies end in one insert; the
  same key with another body is refused.
- The people and departments it names are the hospital's (an unknown person complained
  about would silently switch recusal off).
- `accepted` is the accept action (受理) of `received_by`, who must be the proven staff
  member and may accept by the same rule as POST .../accept (domain/authority.py).
- The complaint, its first timeline entries and its events are one insert
  (shared/records.py), numbered per hospital and month (domain/numbering.py).
- Its lookup keys (tracking code, case number: adapters/complaint_keys.py) are one insert
  just before it; a tracking code another complaint holds is drawn again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from services.intake.adapters.complaint_keys import case_key, key_documents, tracking_key
from services.intake.change import Entry, chained, proven
from services.intake.domain import authority, idempotency
from services.intake.domain.authority import Actor, CaseParties
from services.intake.domain.commands import InvalidField, RegisterComplaint
from services.intake.domain.complaint import Action, ComplaintStatus
from services.intake.domain.confidentiality import IdentityCipher
from services.intake.domain.numbering import case_number, tracking_code
from services.intake.events import lifecycle_event
from services.intake.ports import IntakePorts
from shared import dates
from shared.contracts import ComplaintAccepted, ComplaintReceived, EventPayload
from shared.matching import complainant_key
from shared.staff_assertion import StaffAssertion

# Draws of a tracking code before giving up: one in 32^12 is taken by chance, so a second
# draw that clashes too means something else is wrong.
TRACKING_CODE_DRAWS = 5


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used for a different complaint."""


class ProofRequired(Exception):
    """The step needs a proven staff member (a staff assertion) and none came; the
    message says what needs it."""


class RegistrationRefused(Exception):
    """The proven person may not do what the registration asks (accept it)."""


@dataclass(frozen=True)
class Registered:
    complaint: dict[str, Any]
    replayed: bool  # the key's complaint was stored before: this is what it stored


async def register(
    command: RegisterComplaint,
    *,
    hospital_id: str,
    idempotency_key: str | None,
    ports: IntakePorts,
    proven_by: StaffAssertion | None = None,
) -> Registered:
    """Store a new complaint durably. `proven_by` is the staff member the request's
    assertion proves (needed to accept at registration)."""
    if idempotency_key is not None:
        complaint_id = idempotency.complaint_id_for(hospital_id, idempotency_key)
        existing = await ports.repository.get(complaint_id)
        if existing is not None:
            return _replay(existing, command.fingerprint)
    else:
        complaint_id = str(uuid4())
    await check_names(command, hospital_id=hospital_id, ports=ports, proven_by=proven_by)

    now = datetime.now(UTC)
    received_at = (command.received_at or now).astimezone(UTC)
    problem = dates.problem_with(received_at, now=now, max_age=ports.received_window)
    if problem:
        raise InvalidField("received_at", problem)
    sequence = await ports.repository.next_sequence(hospital_id, received_at)
    number = case_number(hospital_id, received_at, sequence)
    code = await claim_lookup_keys(
        complaint_id=complaint_id, hospital_id=hospital_id, number=number, ports=ports
    )
    complaint, events = new_complaint(
        command,
        complaint_id=complaint_id,
        hospital_id=hospital_id,
        number=number,
        tracking=code,
        idempotency_key=idempotency_key,
        received_at=received_at,
        now=now,
        identity=ports.identity,
        proven_by=proven_by,
        complainant_key=None
        if command.anonymous
        else complainant_key(ports.match_key, command.complainant),
    )
    stored = await ports.complaints.insert(complaint, events)
    if stored is not None:
        return Registered(stored.after, replayed=False)
    existing = await ports.repository.get(complaint_id) if idempotency_key else None
    if existing is None:  # another unique field clashed: nothing was stored
        raise RuntimeError(f"complaint {complaint_id} could not be stored: a unique value clashed")
    return _replay(existing, command.fingerprint)  # two identical requests raced


async def claim_lookup_keys(
    *, complaint_id: str, hospital_id: str, number: str, ports: IntakePorts
) -> str:
    """Store the keys the tracking page and the case-number lookup read by `_id`, before
    the complaint (a key whose complaint is then never stored is harmless: its lookup
    finds no complaint with its code or number, and answers 404); returns the tracking
    code. A code another complaint holds is drawn again. The case number is the counter's
    and clashes only if the counter went back: then nothing is stored, as for any other
    unique value that clashes."""

    def keys_with(code: str) -> list[dict[str, Any]]:
        owner = {"_id": complaint_id, "hospital_id": hospital_id}
        return key_documents(owner | {"case_number": number, "tracking_code": code})

    code = tracking_code()
    keys = keys_with(code)
    for _ in range(TRACKING_CODE_DRAWS):
        taken = await ports.repository.keys.claim(keys)
        if case_key(number) in taken:
            raise RuntimeError(
                f"complaint {complaint_id} could not be stored: case number {number} is taken"
            )
        if not taken:
            return code
        code = tracking_code()  # its case number's key is stored: only the code's again
        keys = [key for key in keys_with(code) if key["_id"] == tracking_key(code)]
    raise RuntimeError(
        f"complaint {complaint_id} could not be stored: {TRACKING_CODE_DRAWS} tracking codes "
        "drawn were all taken"
    )


async def check_names(
    command: RegisterComplaint,
    *,
    hospital_id: str,
    ports: IntakePorts,
    proven_by: StaffAssertion | None,
) -> None:
    """The fields that name people and departments must name real ones of this hospital;
    accepting at registration must be allowed to the person named."""
    directory = ports.directory
    departments = await directory.departments(hospital_id)
    if departments is None:
        raise InvalidField("hospital_id", f"hospital {hospital_id} is not loaded in the region")
    if command.target_department and command.target_department not in departments:
        raise InvalidField(
            "target_department", f"no department {command.target_department} in {hospital_id}"
        )
    target = command.target_staff_id
    if target and await directory.actor(hospital_id, target) is None:
        raise InvalidField("target_staff_id", f"no staff member {target} in {hospital_id}")
    if command.received_by:
        receiver = await directory.actor(hospital_id, command.received_by)
        if receiver is None:
            raise InvalidField("received_by", f"no staff member {command.received_by}")
        if command.accepted:
            if proven_by is not None and proven_by.hospital_id != hospital_id:
                # The bureau's supervisors are proven by the bureau: they accept no case.
                raise RegistrationRefused(
                    f"received_by: accepting is {hospital_id}'s; the assertion proves "
                    f"{proven_by.staff_id} of {proven_by.hospital_id}"
                )
            check_acceptance(receiver, proven_by=proven_by, complained_about=target)


def check_acceptance(
    receiver: Actor, *, proven_by: StaffAssertion | None, complained_about: str | None
) -> None:
    """`accepted: true` is the accept action (受理) taken by `received_by`: that person must
    be proven by the hospital's signature and allowed by the same rule as POST .../accept
    (complaint office only; never the person complained about)."""
    if proven_by is None:
        raise ProofRequired("accepting at registration")
    if proven_by.staff_id != receiver.staff_id:
        raise RegistrationRefused(
            f"received_by: {receiver.staff_id} accepts, but the assertion proves "
            f"{proven_by.staff_id}; the person who accepts signs"
        )
    parties = CaseParties(first_receiver=receiver.staff_id, complained_about=complained_about)
    try:
        authority.check(Action.ACCEPT, receiver, parties)
    except authority.NotPermitted as refusal:
        raise RegistrationRefused(str(refusal)) from refusal


def new_complaint(
    command: RegisterComplaint,
    *,
    complaint_id: str,
    hospital_id: str,
    number: str,
    idempotency_key: str | None,
    received_at: datetime,
    now: datetime,
    identity: IdentityCipher,
    proven_by: StaffAssertion | None,
    complainant_key: str | None = None,
    tracking: str | None = None,
) -> tuple[dict[str, Any], list[EventPayload]]:
    """The complaint as first stored, with its first timeline entries, and the events its
    registration causes (pure: the names in it were checked, the number counted).
    `complainant_key`: the keyed hash reporting matches recurring complainants by;
    `tracking`: the tracking code whose key was stored (None: a new one is drawn)."""
    clear = command.complainant
    complaint: dict[str, Any] = {
        "_id": complaint_id,
        "hospital_id": hospital_id,
        "case_number": number,
        "tracking_code": tracking or tracking_code(),
        "idempotency_key": idempotency_key or idempotency.automatic_key(complaint_id),
        "fingerprint": command.fingerprint,
        "status": ComplaintStatus.RECEIVED.value,
        "channel": command.channel.value,
        "kind": command.kind.value,
        "anonymous": command.anonymous,
        "complainant": identity.seal(complaint_id, clear) if clear else None,
        # Kept for reporting's rebuild (services/reporting/rebuild.py): a keyed hash, the
        # identity itself stays sealed.
        "complainant_key": complainant_key,
        "target_department": command.target_department,
        "target_staff_id": command.target_staff_id,
        "summary": command.summary,
        "content": command.content,
        "demand": command.demand,
        "direct": command.direct,
        "group": command.group,
        "case_type": command.case_type.value if command.case_type else None,
        "received_at": received_at,
        "received_by": command.received_by,
        "first_receiver": {"staff_id": command.received_by, "accountable": command.received_by},
        "registered_at": now,
        "assignment": None,
        "reply": None,
        "reopen_count": 0,
        "timeline": [],
        "timeline_head": None,
        "applied_events": [],
        "version": 1,
    }
    entries = [Entry("received", command.received_by, data={"channel": command.channel.value})]
    events: list[EventPayload] = [
        ComplaintReceived(
            case_number=number,
            channel=complaint["channel"],
            kind=complaint["kind"],
            anonymous=command.anonymous,
            received_at=received_at,
            content=command.content,
            demand=command.demand,
            target_department=command.target_department,
            target_staff_id=command.target_staff_id,
            direct=command.direct,
            group=command.group,
            case_type=complaint["case_type"],
            complainant_key=complainant_key,
        )
    ]
    if command.accepted:
        complaint["status"] = ComplaintStatus.ACCEPTED.value
        complaint["acceptance"] = {"decision": "accepted", "at": now, "by": command.received_by}
        complaint["first_receiver"]["accountable"] = None
        accepted = Entry("accepted", command.received_by, "登记时即受理")
        entries.append(proven(accepted, proven_by) if proven_by else accepted)
        events.append(lifecycle_event(ComplaintAccepted, complaint, now, command.received_by))
    complaint["timeline"], complaint["timeline_head"] = chained(complaint_id, None, entries, at=now)
    return complaint, events


def _replay(existing: dict[str, Any], incoming_fingerprint: str) -> Registered:
    verdict = idempotency.judge(existing["fingerprint"], incoming_fingerprint)
    if verdict is idempotency.Replay.CONFLICT:
        raise IdempotencyConflict(
            "Idempotency-Key was already used for a different complaint "
            f"({existing['case_number']}); use a new key for a new complaint"
        )
    return Registered(existing, replayed=True)
