"""The supervisors' morning digest (每日督办汇总): each working morning, every supervisor a
case was escalated to (complaint office, leadership, the bureau) receives one e-mail
listing the cases still overdue under them (docs/rules.md#escalation E14).

Kept current by events, read by `_id` (ARCHITECTURE.md "Storage"):
- `digest/<staff id>`: the cases escalated to that person and not yet answered, each with
  what the digest shows (case number, department, deadline, level; never the complainant);
- `digest_case/<complaint id>`: whose digests list the case, so that the reply (or a
  decision not to accept it, or a transfer) takes it off them, and when it was last
  settled, so that an escalation handled after the reply that answered it lists nothing;
- `digest_people`: everyone with a digest document, the task's bounded list to read.

The task (tasks.py `morning_digest`, sent by the beat every few minutes) sends once the
morning's hour has come on a working day, once per person and day: the digest's delivery
is stored under `digest:<staff id>:<day>:email` and delivered like every other
(attempt.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.notification.adapters.deliveries import DELIVERIES
from services.notification.deliveries.records import new_delivery
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message, RecipientRole, greeted, mask_address
from shared.contracts import CHINA, DeliveryChannel, Envelope, LadderLevel, LadderStep
from shared.dates import stored_utc

DIGESTS = "supervisor_digests"
PEOPLE = "digest_people"
SUPERVISED = (LadderLevel.COMPLAINT_OFFICE, LadderLevel.LEADERSHIP, LadderLevel.BUREAU)
ROLE_OF = {
    LadderLevel.COMPLAINT_OFFICE: RecipientRole.COMPLAINT_OFFICE,
    LadderLevel.LEADERSHIP: RecipientRole.LEADERSHIP,
    LadderLevel.BUREAU: RecipientRole.SUPERVISOR,
}


def _day(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(CHINA)
    return f"{local.year}年{local.month}月{local.day}日"


class DigestBook:
    """What the consumer keeps current (module note). Its writes of one event are one
    update per document it changes: the digests together, the case's list, and the list of
    people, which only ever grows: a person this process has seen listed is not added again
    (the same few supervisors are escalated to all day)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.collection = db[DIGESTS]
        self._listed: set[str] = set()  # in `digest_people` already (nothing removes them)

    async def escalated(self, envelope: Envelope, step: LadderStep) -> None:
        level = LadderLevel(step.level)
        if level not in SUPERVISED:
            return
        case = {
            "case_number": step.case_number,
            "hospital_id": envelope.hospital_id,
            "department_label": step.department_label,
            "due_at": step.due_at,
            "level": level.value,
            "at": envelope.occurred_at,
        }
        people = [p for p in step.recipients if p.email]
        if not people:
            return
        # The digests first, then the case's list of people: a settling event handled
        # meanwhile (the consumer handles several messages at once, and events may come
        # in any order) either finds these people there and takes the case off, or has
        # left its time on the list, which this reads back and undoes its own writes by.
        await self.collection.bulk_write(
            [
                UpdateOne(
                    {"_id": f"digest/{person.staff_id}"},
                    {
                        "$set": {
                            f"cases.{envelope.complaint_id}": case,
                            "name": person.name,
                            "email": person.email,
                            "role": ROLE_OF[level].value,
                        }
                    },
                    upsert=True,
                )
                for person in people
            ]
        )
        staff = [p.staff_id for p in people]
        listed = await self.collection.find_one_and_update(
            {"_id": f"digest_case/{envelope.complaint_id}"},
            {"$addToSet": {"people": {"$each": staff}}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        settled_at = (listed or {}).get("settled_at")
        occurred = envelope.occurred_at
        occurred = occurred.replace(microsecond=occurred.microsecond // 1000 * 1000)  # as BSON
        if settled_at is not None and stored_utc(settled_at) >= occurred:
            await self._take_off(envelope.complaint_id, staff)  # answered before this
            return
        unlisted = [staff_id for staff_id in staff if staff_id not in self._listed]
        if unlisted:
            await self.collection.update_one(
                {"_id": PEOPLE}, {"$addToSet": {"people": {"$each": unlisted}}}, upsert=True
            )
            self._listed.update(unlisted)

    async def settled(self, envelope: Envelope) -> None:
        """The case is answered (or not accepted, or transferred): off every digest. Its
        time stays on the case's list, so an escalation that happened before it and is
        handled after it lists nothing (a later one, of a reopened case, lists again)."""
        listed = await self.collection.find_one_and_update(
            {"_id": f"digest_case/{envelope.complaint_id}"},
            {"$max": {"settled_at": envelope.occurred_at}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        await self._take_off(envelope.complaint_id, (listed or {}).get("people", []))

    async def _take_off(self, complaint_id: str, staff: list[str]) -> None:
        if staff:
            await self.collection.bulk_write(
                [
                    UpdateOne(
                        {"_id": f"digest/{staff_id}"}, {"$unset": {f"cases.{complaint_id}": ""}}
                    )
                    for staff_id in staff
                ]
            )


@dataclass(frozen=True)
class Digest:
    staff_id: str
    message: Message


def digest_message(staff_id: str, document: Mapping[str, Any], day: date) -> Digest | None:
    """One supervisor's digest of `day`, or None when nothing is overdue under them."""
    cases = sorted(
        (document.get("cases") or {}).values(),
        key=lambda c: (c.get("due_at") is None, str(c.get("due_at"))),
    )
    if not cases or not document.get("email"):
        return None
    lines = [
        f"截至{day.year}年{day.month}月{day.day}日，以下{len(cases)}件投诉已升级督办，仍未答复：",
        "",
    ]
    for case in cases:
        level = LadderLevel(case["level"]).label
        department = case.get("department_label") or "—"
        lines.append(
            f"- {case.get('case_number') or '—'}  {department}  "
            f"答复期限{_day(case.get('due_at'))}  {level}"
        )
    lines += ["", "请督促相关科室尽快办结。本邮件由回音投诉平台每个工作日早晨发送。"]
    subject = f"【回音】每日督办汇总：{len(cases)}件投诉超期未答复"
    message = Message(
        role=RecipientRole(document.get("role", RecipientRole.SUPERVISOR.value)),
        to=str(document["email"]),
        subject=subject,
        body=greeted(str(document.get("name") or "您好"), tuple(lines)),
        staff_id=staff_id,
        event_type="digest",
    )
    return Digest(staff_id, message)


def store_digest(db: Database[dict[str, Any]], digest: Digest, day: date) -> str | None:
    """The digest's delivery, once per person and day; its id if stored now."""
    to = digest.message.to or ""
    identifier = f"digest:{digest.staff_id}:{day.isoformat()}:email"
    address = Address(DeliveryChannel.EMAIL, to, key=digest.staff_id, shown=mask_address(to))
    day_id = f"digest:{day.isoformat()}"
    document = new_delivery(
        identifier,
        digest.message,
        address,
        key=digest.staff_id,
        scope_id=None,
        source_event_id=day_id,
        source_event_type="digest",
        kind="digest",
        complaint_id="",
        hospital_id="",
        level=None,
    )
    try:
        db[DELIVERIES].insert_one(document)
    except DuplicateKeyError:
        return None
    return identifier


def people(db: Database[dict[str, Any]]) -> list[str]:
    listed = db[DIGESTS].find_one({"_id": PEOPLE})
    return list((listed or {}).get("people", []))


def digest_of(db: Database[dict[str, Any]], staff_id: str) -> dict[str, Any] | None:
    return db[DIGESTS].find_one({"_id": f"digest/{staff_id}"})
