"""The delivery log: one document per (event, recipient), addressed by its `_id` alone,
which is also the dedup key. It keeps a masked address only.

Each attempt is recorded as started (`sending`, attempts + 1) before the SMTP server is
contacted, and its outcome after; `history` lists every attempt's outcome. So a document
found `sending` by the one process that delivers (see service.py) is an attempt whose
outcome was lost. Statuses and their meaning are in delivery_policy.DeliveryStatus.

An outcome is a change of the delivery with the event that announces it
(shared/records.py): notification.sent or .failed and the final status are one write, and
the relay publishes the event from the delivery's outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.notification.delivery_policy import DeliveryStatus, SendFailure
from shared.contracts import NotificationFailed, NotificationSent
from shared.outbox import OutboxRelay
from shared.records import Decision, Records

DELIVERIES = "deliveries"
# The delivery-log API's index documents (services/notification/deliveries/records.py).
INDEX = "delivery_index"


def complaint_index(complaint_id: str) -> str:
    return f"complaint/{complaint_id}"


def person_index(staff_id: str, moment: datetime) -> str:
    return f"person/{staff_id}/{moment.astimezone(UTC):%Y-%m}"


def history_entry(
    attempt: int,
    outcome: DeliveryStatus,
    *,
    failure: SendFailure | None = None,
    after_unknown: bool = False,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"attempt": attempt, "at": datetime.now(UTC), "outcome": outcome.value}
    if failure is not None:
        entry |= {"reason_code": failure.code, "reason": failure.reason}
    if after_unknown:
        entry["after_unknown"] = True
    return entry


class DeliveryLog:
    """`relay` publishes the outcomes' events: the relay of this collection's outbox
    (bootstrap; ServiceRuntime.relay_outbox_of)."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, relay: OutboxRelay | None = None
    ) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[DELIVERIES]
        self.records = Records(self.collection, relay)

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("complaint_id", ASCENDING), ("created_at", ASCENDING)], name="complaint"
        )
        await self.collection.create_index(
            [("status", ASCENDING), ("created_at", ASCENDING)], name="status"
        )

    async def claim(self, delivery_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Create the delivery with its first attempt recorded as started and return None,
        or return the delivery as it already is (nothing written)."""
        now = datetime.now(UTC)
        existing = await self.collection.find_one_and_update(
            {"_id": delivery_id},
            {
                "$setOnInsert": {
                    **fields,
                    "status": DeliveryStatus.SENDING.value,
                    "attempts": 1,
                    "retries": 0,
                    "unknown_outcomes": 0,
                    "history": [],
                    "created_at": now,
                    "attempt_started_at": now,
                    "outbox": {},
                    "outbox_pending": False,
                    "outbox_since": None,
                },
            },
            upsert=True,
            return_document=ReturnDocument.BEFORE,  # FerretDB v1: no projection here
        )
        if existing is None:  # new: the delivery-log API finds it by its case and person
            await self._index(delivery_id, fields, now)
        return existing

    async def _index(self, delivery_id: str, fields: dict[str, Any], now: datetime) -> None:
        index = self.collection.database[INDEX]
        owners = [complaint_index(fields["complaint_id"])] if fields.get("complaint_id") else []
        if fields.get("recipient_staff_id"):
            owners.append(person_index(fields["recipient_staff_id"], now))
        for owner in owners:
            await index.update_one({"_id": owner}, {"$addToSet": {"ids": delivery_id}}, upsert=True)

    async def mark_unknown(self, delivery_id: str, *, attempt: int, failure: SendFailure) -> None:
        """The attempt found `sending` has an unknown outcome; say so before trying again."""
        await self.collection.update_one(
            {"_id": delivery_id},
            {
                "$set": {
                    "status": DeliveryStatus.UNKNOWN.value,
                    "reason_code": failure.code,
                    "error": failure.reason,
                },
                "$inc": {"unknown_outcomes": 1},
                "$push": {
                    "history": history_entry(attempt, DeliveryStatus.UNKNOWN, failure=failure)
                },
            },
        )

    async def start_attempt(self, delivery_id: str, *, message_id: str, after_unknown: bool) -> int:
        """Record the next attempt as started; returns its number."""
        document = await self.collection.find_one_and_update(
            {"_id": delivery_id},
            {
                "$set": {
                    "status": DeliveryStatus.SENDING.value,
                    "attempt_started_at": datetime.now(UTC),
                    "after_unknown": after_unknown,
                    "message_id": message_id,
                },
                "$inc": {"attempts": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            raise LookupError(f"delivery {delivery_id} vanished")
        return int(document["attempts"])

    async def finish(
        self,
        delivery_id: str,
        *,
        attempt: int,
        status: DeliveryStatus,
        entry: dict[str, Any],
        failure: SendFailure | None = None,
        next_attempt_at: datetime | None = None,
        retried: bool = False,
        event: NotificationSent | NotificationFailed | None = None,
    ) -> None:
        """Record the outcome of attempt `attempt`, in progress, with the event that
        announces a final one. Once: a write tried again after its answer was lost finds
        the outcome recorded and changes nothing."""
        fields: dict[str, Any] = {
            "status": status.value,
            "reason_code": failure.code if failure else None,
            "error": failure.reason if failure else None,
            "next_attempt_at": next_attempt_at,
        }
        if status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
            fields["finished_at"] = datetime.now(UTC)
        update: dict[str, Any] = {"$set": fields, "$push": {"history": entry}}
        counts = {
            "retries": int(retried),
            "unknown_outcomes": int(status is DeliveryStatus.UNKNOWN),
        }
        if any(counts.values()):
            update["$inc"] = {key: n for key, n in counts.items() if n}

        def decide(delivery: dict[str, Any]) -> Decision | None:
            in_progress = delivery.get("status") == DeliveryStatus.SENDING.value
            if not in_progress or delivery.get("attempts") != attempt:
                return None
            return Decision(update, [event] if event is not None else [])

        await self.records.change(delivery_id, decide)

    async def get(self, delivery_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": delivery_id}, {"outbox": 0})

    async def for_complaint(self, complaint_id: str) -> list[dict[str, Any]]:
        cursor = self.collection.find({"complaint_id": complaint_id}, {"outbox": 0}).sort(
            "created_at", ASCENDING
        )
        return await cursor.to_list(100)
