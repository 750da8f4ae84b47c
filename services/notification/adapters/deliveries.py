"""The delivery log: one document per (event, recipient), addressed by its `_id` alone,
which is also the dedup key. It keeps a masked address only.

Each attempt is recorded as started (`sending`, attempts + 1) before the SMTP server is
contacted, and its outcome after; `history` lists every attempt's outcome. So a document
found `sending` by the one process that delivers (see service.py) is an attempt whose
outcome was lost. Statuses and their meaning are in delivery_policy.DeliveryStatus.

An outcome is a change of the delivery with the event that announces it
(shared/records.py): notification.sent or .failed and the final status are one write, and
the relay publishes the event from the delivery's outbox.

What the consumer writes, the fewest commands that keep this (issue 13):
- one event's deliveries are claimed together, in one insert (`claim_all`): the `_id` is
  the claim, of two handlings of the event one inserts it; their index entries in one
  update (`DeliveryIndex`);
- a delivery found `sending` or waiting for a retry is started again in one write
  (`start_again`: the lost outcome recorded `unknown` and the next attempt started);
- an outcome is one write (`record_outcome`), without reading the delivery first: its
  caller holds the delivery (service.DeliveriesInFlight) and has just recorded this very
  attempt as started, so the check `finish` makes always passes then. A write tried again
  after its answer was lost goes through `finish`, which reads and checks: recorded once.
- the writes of events handled at the same time share commands (shared/group_commit.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.notification.delivery_policy import DeliveryStatus, SendFailure
from shared.contracts import NotificationFailed, NotificationSent
from shared.group_commit import GroupCommit
from shared.outbox import OutboxRelay, new_outbox, outbox_fields
from shared.records import Decision, Records, envelope_for

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


class DeliveryIndex:
    """Which deliveries concern a case (`complaint/<id>`) or a person in a month
    (`person/<staff id>/<YYYY-MM>`): the documents the delivery-log API reads (log_api.py).
    One update adds one batch of deliveries to all of them."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.writes = GroupCommit(db[INDEX])

    async def add(self, documents: Iterable[Mapping[str, Any]], now: datetime) -> None:
        """`documents`: the deliveries just stored, with `complaint_id` and, when a person
        receives it, `recipient_staff_id`; `now` picks the person's month."""
        documents = list(documents)
        owners: dict[str, list[str]] = {}
        for document in documents:
            if document.get("complaint_id"):
                owners.setdefault(complaint_index(document["complaint_id"]), []).append(
                    document["_id"]
                )
        for document in documents:
            if document.get("recipient_staff_id"):
                owners.setdefault(person_index(document["recipient_staff_id"], now), []).append(
                    document["_id"]
                )
        await self.writes.write(
            [
                UpdateOne({"_id": owner}, {"$addToSet": {"ids": {"$each": ids}}}, upsert=True)
                for owner, ids in owners.items()
            ]
        )


class DeliveryLog:
    """`relay` publishes the outcomes' events: the relay of this collection's outbox
    (bootstrap; ServiceRuntime.relay_outbox_of)."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, relay: OutboxRelay | None = None
    ) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[DELIVERIES]
        self.records = Records(self.collection, relay)
        self.index = DeliveryIndex(db)
        self._relay = relay
        self._inserts = GroupCommit(self.collection)
        self._updates = GroupCommit(self.collection)

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("complaint_id", ASCENDING), ("created_at", ASCENDING)], name="complaint"
        )
        await self.collection.create_index(
            [("status", ASCENDING), ("created_at", ASCENDING)], name="status"
        )

    async def close(self) -> None:
        """Let the commands under way finish."""
        for writes in (self._inserts, self._updates, self.index.writes):
            await writes.close()

    async def store_new(self, documents: list[dict[str, Any]]) -> set[str]:
        """Insert each document whose `_id` is not stored yet; the ids inserted now (the
        `_id` is the guard: of two writers, one inserts it)."""
        refused = await self._inserts.write([InsertOne(document) for document in documents])
        return {d["_id"] for n, d in enumerate(documents) if n not in refused}

    async def claim(self, delivery_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Create the delivery with its first attempt recorded as started and return None,
        or return the delivery as it already is (nothing written)."""
        return (await self.claim_all({delivery_id: fields}))[delivery_id]

    async def claim_all(
        self, claims: Mapping[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any] | None]:
        """`claim` for each of one event's deliveries, in one insert and one index update:
        by id, None for a delivery created now, else the delivery as it already is (a
        redelivered or retried event; read by `_id`)."""
        now = datetime.now(UTC)
        documents = [
            {
                "_id": delivery_id,
                **fields,
                "status": DeliveryStatus.SENDING.value,
                "attempts": 1,
                "retries": 0,
                "unknown_outcomes": 0,
                "history": [],
                "created_at": now,
                "attempt_started_at": now,
                **new_outbox(),
            }
            for delivery_id, fields in claims.items()
        ]
        created = await self.store_new(documents)
        if created:  # the delivery-log API finds them by their case and person
            await self.index.add((d for d in documents if d["_id"] in created), now)
        found: dict[str, dict[str, Any] | None] = {}
        for delivery_id in claims:
            if delivery_id in created:
                found[delivery_id] = None
                continue
            existing = await self.collection.find_one({"_id": delivery_id}, {"outbox": 0})
            if existing is None:
                raise LookupError(f"delivery {delivery_id} vanished")
            found[delivery_id] = existing
        return found

    async def start_again(
        self,
        delivery_id: str,
        existing: Mapping[str, Any],
        *,
        message_id: str,
        after_unknown: bool,
        lost: SendFailure | None = None,
    ) -> int:
        """Record the next attempt as started, `existing` being the delivery as its holder
        read it; returns the attempt's number. `lost`: the delivery was found `sending`, an
        attempt whose outcome was lost, recorded `unknown` in the same write."""
        attempt = int(existing.get("attempts", 0)) + 1
        fields: dict[str, Any] = {
            "status": DeliveryStatus.SENDING.value,
            "attempts": attempt,
            "attempt_started_at": datetime.now(UTC),
            "after_unknown": after_unknown,
            "message_id": message_id,
        }
        update: dict[str, Any] = {"$set": fields}
        if lost is not None:
            fields |= {"reason_code": lost.code, "error": lost.reason}
            update["$inc"] = {"unknown_outcomes": 1}
            update["$push"] = {
                "history": history_entry(
                    int(existing.get("attempts", 1)), DeliveryStatus.UNKNOWN, failure=lost
                )
            }
        await self._updates.write([UpdateOne({"_id": delivery_id}, update)])
        return attempt

    async def record_outcome(
        self,
        delivery_id: str,
        *,
        owner: Mapping[str, Any],
        attempt: int,
        status: DeliveryStatus,
        entry: dict[str, Any],
        failure: SendFailure | None = None,
        next_attempt_at: datetime | None = None,
        retried: bool = False,
        event: NotificationSent | NotificationFailed | None = None,
    ) -> None:
        """`finish`'s write without its read, for the holder of the delivery whose attempt
        `attempt` it recorded as started itself (module note); `owner`: the delivery's
        `hospital_id` and `complaint_id`, for the event's envelope."""
        envelopes = []
        if event is not None:
            if self._relay is None:
                raise ValueError(
                    f"{self.collection.name} has no outbox: its changes cause no events"
                )
            envelopes = [envelope_for({"_id": delivery_id, **owner}, event)]
        update = _outcome_update(
            status, entry, failure=failure, next_attempt_at=next_attempt_at, retried=retried
        )
        if envelopes:
            update["$set"] |= outbox_fields(envelopes)
        try:
            await self._updates.write([UpdateOne({"_id": delivery_id}, update)])
        except Exception:
            if envelopes and self._relay is not None:
                self._relay.suspect(delivery_id)  # the relay's next sweep looks
            raise
        if envelopes and self._relay is not None:
            self._relay.notify(delivery_id, envelopes)

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
        update = _outcome_update(
            status, entry, failure=failure, next_attempt_at=next_attempt_at, retried=retried
        )

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


def _outcome_update(
    status: DeliveryStatus,
    entry: dict[str, Any],
    *,
    failure: SendFailure | None,
    next_attempt_at: datetime | None,
    retried: bool,
) -> dict[str, Any]:
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
    return update
