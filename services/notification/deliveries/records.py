"""How a ladder notice's deliveries are stored: one document per level of one case, person
(or group) and channel in the delivery log (`deliveries`, the collection whose outbox the
notification service relays), addressed by that very key, so that one level of one case
reaches each person once per channel whatever the redeliveries, scan re-runs or restarts:
a second insert of the same `_id` is refused.

Every read and write is by `_id` alone (ARCHITECTURE.md "Storage"):
- `delivery_attempts`: attempt n of a delivery is claimed by inserting `<id>#<n>`, with
  the claiming process; of two workers, one inserts it. A claim whose process is gone (or
  whose lease lapsed) and whose delivery still says `sending` is an attempt whose outcome
  is unknown.
- `delivery_rates`: a channel target's sends in one minute (`$inc`), shared by every
  worker: a group robot accepts about 20 a minute.
- `delivery_deferred`: the deliveries waiting for office hours, one document per release
  minute (the bucket pattern), read by `_id` by the release task.
- `delivery_index` (adapters/deliveries.py): which deliveries concern a case
  (`complaint/<id>`) or a person in a month (`person/<staff id>/<YYYY-MM>`): the
  delivery-log API (log_api.py) reads these, then each delivery by `_id`.

Synchronous (PyMongo's blocking API): the Celery tasks use it; the service's consumer
(dispatch.py) and API (log_api.py) reach the same documents through the async client.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.notification.adapters.deliveries import DELIVERIES, history_entry
from services.notification.delivery_policy import DeliveryStatus, SendFailure
from services.notification.domain.contacts import Address
from services.notification.domain.messages import Message, RecipientRole, SmsText
from shared.contracts import Envelope
from shared.dates import stored_utc
from shared.outbox import new_outbox, outbox_fields

ATTEMPTS = "delivery_attempts"
RATES = "delivery_rates"
DEFERRED = "delivery_deferred"
MINUTE = "%Y%m%d%H%M"

# Waiting for office hours: neither sent nor failed yet.
DEFERRED_STATUS = "deferred"
QUEUED = "queued"
FINISHED = (DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value)


DELIVER = "notification.deliver"  # the Celery task that makes one attempt (tasks.py)


def new_delivery(
    identifier: str,
    message: Message,
    address: Address,
    *,
    key: str,
    scope_id: str | None,
    source_event_id: str,
    source_event_type: str,
    release_at: datetime | None = None,
    **facts: Any,
) -> dict[str, Any]:
    """A delivery as first stored, before any attempt: the notice in every channel's form,
    where it goes (without secrets), and `facts` about the case it concerns."""
    return {
        "_id": identifier,
        **facts,
        "source_event_id": source_event_id,
        "source_event_type": source_event_type,
        "recipient_role": message.role.value,
        "recipient_staff_id": None if key.startswith("group:") else key,
        "recipient_key": key,
        "recipient": address.shown,
        "channel": address.channel.value,
        "subject": message.subject,
        "message": message_document(message),
        "address": address_document(address, scope_id=scope_id),
        "status": DEFERRED_STATUS if release_at else QUEUED,
        "release_at": release_at,
        "attempts": 0,
        "retries": 0,
        "unknown_outcomes": 0,
        "history": [],
        "created_at": datetime.now(UTC),  # real time, as every attempt's record
        **new_outbox(),
    }


def delivery_id(complaint_id: str, round_: int, level: str, key: str, channel: str) -> str:
    return f"{complaint_id}:{round_}:{level}:{key}:{channel}"


def deferred_slot(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(MINUTE)


def message_document(message: Message) -> dict[str, Any]:
    return {
        "role": message.role.value,
        "to": message.to,
        "subject": message.subject,
        "body": message.body,
        "recipient_key": message.recipient_key,
        "staff_id": message.staff_id,
        "short": message.short,
        "sms": {"code": message.sms.code, "params": dict(message.sms.params)}
        if message.sms
        else None,
        "facts": dict(message.facts),
        "event_type": message.event_type,
        "level": message.level,
    }


def message_of(document: Mapping[str, Any]) -> Message:
    sms = document.get("sms")
    return Message(
        role=RecipientRole(document["role"]),
        to=document.get("to"),
        subject=document["subject"],
        body=document["body"],
        recipient_key=document.get("recipient_key", ""),
        staff_id=document.get("staff_id"),
        short=document.get("short", ""),
        sms=SmsText(sms["code"], dict(sms["params"])) if sms else None,
        facts=dict(document.get("facts") or {}),
        event_type=document.get("event_type", ""),
        level=document.get("level"),
    )


def address_document(address: Address, *, scope_id: str | None) -> dict[str, Any]:
    """Where to send, without secrets: a group's URL and secret are read from the contact
    book at each attempt (a robot's key rotated meanwhile is used)."""
    group = address.key.removeprefix("group:") if address.key.startswith("group:") else None
    return {
        "channel": address.channel.value,
        "to": None if group else address.to,
        "key": address.key,
        "shown": address.shown,
        "scope": scope_id if group else None,
        "group": group,
    }


class ClaimHolder:
    """The process that claims an attempt."""

    def __init__(self) -> None:
        self.host = socket.gethostname()

    @property
    def pid(self) -> int:
        return os.getpid()  # read each time: a worker forks after this is made


def alive(claim: Mapping[str, Any], *, host: str, now: datetime, lease: timedelta) -> bool:
    """The process that claimed an attempt may still be making it."""
    started = claim.get("started_at")
    if started is None or now - stored_utc(started) > lease:
        return False
    if claim.get("host") != host:
        return True  # another machine's: only the lease tells
    try:
        os.kill(int(claim["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DeliveryRecords:
    """The deliveries as the Celery tasks read and change them (module note)."""

    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.deliveries = db[DELIVERIES]
        self.attempts = db[ATTEMPTS]
        self.rates = db[RATES]
        self.deferred = db[DEFERRED]
        self.holder = ClaimHolder()

    def get(self, delivery: str) -> dict[str, Any] | None:
        return self.deliveries.find_one({"_id": delivery})

    def claim(self, delivery: str, attempt: int) -> dict[str, Any] | None:
        """Claim attempt `attempt`: None when this process has it, else the claim that
        holds it."""
        claim = {
            "_id": f"{delivery}#{attempt}",
            "started_at": datetime.now(UTC),
            "host": self.holder.host,
            "pid": self.holder.pid,
        }
        try:
            self.attempts.insert_one(claim)
        except DuplicateKeyError:
            return self.attempts.find_one({"_id": claim["_id"]}) or claim
        return None

    def start(self, delivery: str, attempt: int, *, after_unknown: bool) -> None:
        """Attempt `attempt` is about to go out: recorded before the receiver is asked."""
        self.deliveries.update_one(
            {"_id": delivery},
            {
                "$set": {
                    "status": DeliveryStatus.SENDING.value,
                    "attempts": attempt,
                    "attempt_started_at": datetime.now(UTC),
                    "after_unknown": after_unknown,
                }
            },
        )

    def outcome(
        self,
        delivery: str,
        *,
        attempt: int,
        status: DeliveryStatus,
        failure: SendFailure | None = None,
        after_unknown: bool = False,
        next_attempt_at: datetime | None = None,
        receipt: str = "",
        event: Envelope | None = None,
        retried: bool = False,
    ) -> None:
        """Attempt `attempt`'s outcome, with the event announcing a final one in the same
        write (the service's relay publishes it from the outbox)."""
        fields: dict[str, Any] = {
            "status": status.value,
            "attempts": attempt,
            "reason_code": failure.code if failure else None,
            "error": failure.reason if failure else None,
            "next_attempt_at": next_attempt_at,
        }
        if receipt:
            fields["receipt"] = receipt
        if status.value in FINISHED:
            fields["finished_at"] = datetime.now(UTC)
        if event is not None:
            fields |= outbox_fields([event])
        update: dict[str, Any] = {
            "$set": fields,
            "$push": {
                "history": history_entry(
                    attempt, status, failure=failure, after_unknown=after_unknown
                )
            },
        }
        counts = {
            "retries": int(retried),
            "unknown_outcomes": int(status is DeliveryStatus.UNKNOWN),
        }
        if any(counts.values()):
            update["$inc"] = {key: n for key, n in counts.items() if n}
        self.deliveries.update_one({"_id": delivery}, update)

    def count_send(self, target: str, now: datetime) -> int:
        """This send's number in its target's current minute (every worker counts here)."""
        window = f"{target}@{now.astimezone(UTC):%Y%m%d%H%M}"
        counted = self.rates.find_one_and_update(
            {"_id": window},
            {"$inc": {"n": 1}, "$setOnInsert": {"at": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int((counted or {}).get("n", 1))

    def released(self, slot: str) -> list[str]:
        """The deliveries waiting in one release slot."""
        bucket = self.deferred.find_one({"_id": slot})
        return list((bucket or {}).get("ids", []))

    def forget_slot(self, slot: str) -> None:
        self.deferred.delete_one({"_id": slot})
