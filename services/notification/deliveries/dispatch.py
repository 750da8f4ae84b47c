"""A step of the escalation ladder, turned into deliveries (docs/rules.md#escalation).

Notification's consumer receives complaint.sla_warning, .overdue and .escalated with the
people routing chose. Here: one notice per person in the hospital's templates, every
address the contact book gives it (personal channels and the audience's groups), and one
delivery per level of the case, person (or group) and channel, stored under that key
(records.py): a redelivery of the event, or the scan telling the level again, stores
nothing new. A delivery not urgent waits for office hours (domain/office_hours.py), in the
release slot of its hour; the others are handed to the Celery worker at once
(`notification.deliver`, tasks.py), those a crash left queued included: a task run twice
sends once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from celery import Celery
from pymongo.asynchronous.database import AsyncDatabase

from services.notification.adapters.contact_book import ContactBook
from services.notification.adapters.deliveries import DeliveryLog
from services.notification.deliveries.digest import DigestBook
from services.notification.deliveries.records import (
    DEFERRED,
    DEFERRED_STATUS,
    DELIVER,
    QUEUED,
    deferred_slot,
    delivery_id,
    new_delivery,
)
from services.notification.domain.contacts import Address, Scope, routes
from services.notification.domain.messages import Message, RecipientRole
from services.notification.domain.notices import notices_for
from services.notification.domain.office_hours import release_at
from services.notification.domain.templates import DEFAULT_TEMPLATES
from shared.contracts import DeliveryChannel, Envelope, LadderStep


def staff_key(address: Address, scope: Scope | None) -> str:
    """Whom a delivery reaches: a staff id, or a group of one scope."""
    if address.key.startswith("group:"):
        return f"group:{scope.id if scope else 'none'}/{address.key.removeprefix('group:')}"
    return address.key


def deliveries_of(
    envelope: Envelope,
    step: LadderStep,
    routed: Sequence[tuple[Message, Address]],
    *,
    hospital: Scope | None,
    bureau: Scope | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The delivery documents of one ladder step (module note)."""
    waits_until = release_at(now, urgent=step.urgent)
    documents: dict[str, dict[str, Any]] = {}
    for message, address in routed:
        scope = bureau if message.role is RecipientRole.SUPERVISOR else hospital
        key = staff_key(address, scope)
        identifier = delivery_id(
            envelope.complaint_id, step.round, str(step.level), key, address.channel.value
        )
        documents.setdefault(
            identifier,
            new_delivery(
                identifier,
                message,
                address,
                key=key,
                scope_id=scope.id if scope else None,
                source_event_id=str(envelope.event_id),
                source_event_type=envelope.type,
                release_at=waits_until,
                kind="ladder",
                complaint_id=envelope.complaint_id,
                hospital_id=envelope.hospital_id,
                case_number=step.case_number,
                level=str(step.level),
                round=step.round,
                urgent=step.urgent,
            ),
        )
    return list(documents.values())


class LadderDispatch:
    """What the consumer does with a ladder step (module note)."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        deliveries: DeliveryLog,
        contacts: ContactBook,
        celery: Celery,
        digests: DigestBook,
        tracking_url: str,
        case_url: str,
        channels: Collection[DeliveryChannel] = tuple(DeliveryChannel),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.db = db
        self.deliveries = deliveries
        self.contacts = contacts
        self.celery = celery
        self.digests = digests
        self.tracking_url = tracking_url
        self.case_url = case_url
        self.channels = frozenset(channels)
        self.now = now

    async def dispatch(self, envelope: Envelope, step: LadderStep) -> list[str]:
        """Store the step's deliveries and hand those due to the worker; returns their ids."""
        hospital = await self.contacts.hospital(envelope.hospital_id)
        bureau = await self.contacts.bureau()
        messages = notices_for(
            step,
            tracking_url=self.tracking_url,
            case_link=f"{self.case_url}{envelope.complaint_id}" if self.case_url else "",
            templates=hospital.template_book() if hospital else DEFAULT_TEMPLATES,
            directory=hospital,
        )
        # A channel this deployment has not set up (SMS without a gateway) is not tried.
        routed = [
            (message, address)
            for message, address in routes(messages, hospital=hospital, bureau=bureau)
            if address.channel in self.channels
        ]
        now = self.now()
        await self.digests.escalated(envelope, step)
        documents = deliveries_of(envelope, step, routed, hospital=hospital, bureau=bureau, now=now)
        if not documents:
            return []
        await self.deliveries.store_new(documents)  # a redelivery's stay as they are
        # All of them, in one write (a redelivery completes what a crash left undone).
        # Months of the person index go by the real time, as the API's default month does.
        await self.deliveries.index.add(documents, datetime.now(UTC))
        due = [d["_id"] for d in documents if d["status"] == QUEUED]
        deferred = [d["_id"] for d in documents if d["status"] == DEFERRED_STATUS]
        if deferred:  # one step's deliveries wait for the same hour: one release slot
            await self.db[DEFERRED].update_one(
                {"_id": deferred_slot(documents[0]["release_at"])},
                {"$addToSet": {"ids": {"$each": deferred}}},
                upsert=True,
            )
        if due:
            await asyncio.to_thread(self._send, due)
        return [d["_id"] for d in documents]

    def _send(self, ids: Sequence[str]) -> None:
        for identifier in ids:
            self.celery.send_task(DELIVER, args=[identifier])
