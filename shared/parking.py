"""Parked messages: what an operator sees, replays after a fix, or discards with a reason.

A broker queue cannot be browsed without disturbing it: basic.get with a requeue reorders
it and raises each message's delivery count, and RabbitMQ 4 gives quorum queues a default
delivery limit of 20, past which a parking queue with no dead-letter target drops the
message. So each service drains its own parking queue (`<prefix>.<service>.parking`) into
its own database, acking a message only once it is stored: in normal operation the broker's
parking queue is empty and the `parked_messages` collection is the operators' view.

- One document per parked delivery. Its `_id` sorts by the time the message was parked and
  is derived from the message alone, so a delivery stored but redelivered because its ack
  was lost maps to the same document: the drain is idempotent.
- Why it was parked: the consumer's header (shared/consumer.py), else the broker's x-death
  (the quorum queue's delivery limit when a handler kept failing, or a plain rejection).
- Replay publishes the stored message as it first arrived (same body, event id, type and
  headers, less those added on the way: x-huiyin-*, x-death, x-delivery-count) to the
  service's own queue through the default exchange, mandatory and confirmed, and then
  marks it replayed: the consumer handles it exactly like a first delivery, and its effect
  is idempotent by event id.
  Publish first, mark second: a crash in between leaves it parked, and a second replay is
  harmless.
- The ids parked now are also kept in one index document (the subset pattern): the default
  listing, replay-all and the gauge read it by `_id`. Listing replayed or discarded ones
  scans the collection, a page at a time (an operator's occasional question).

Transitions are parked → replayed and parked → discarded, each recorded with who, when
and (for a discard) why. Every change goes through the service itself (the admin API, which
`huiyin-admin parked` calls), so the collection keeps one writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal, Protocol

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractExchange
from bson.errors import InvalidDocument
from prometheus_client import CollectorRegistry, Gauge
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, WriteError

from shared.consumer import Subscription
from shared.dates import stored_utc
from shared.topology import PARK_REASON_HEADER, PARKED_AT_HEADER

log = logging.getLogger(__name__)

PARKED: Final = "parked"
REPLAYED: Final = "replayed"
DISCARDED: Final = "discarded"
Status = Literal["parked", "replayed", "discarded"]
PARKED_ID_PATTERN = r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{16}$"
INDEX_ID = "parked"
# Headers a replay leaves out, so that it is a first delivery again: what our consumers add
# on the way (park reason and time, a retry step: all x-huiyin-*) and what the broker adds
# when it redelivers or dead-letters.
_DELIVERY_STATE = ("x-huiyin-", "x-death", "x-delivery-count", "x-first-death-", "x-last-death-")
_BROKER_REASONS = {
    "delivery_limit": "delivery limit reached: the handler failed on every delivery "
    "(a transient error that did not clear; the service's log says which)",
    "rejected": "rejected without a reason (the consumer could not publish it to parking)",
    "expired": "expired in the queue (message TTL)",
    "maxlen": "dropped from a full queue (length limit)",
}
# Fields an operator reads; the message itself (body, which may carry a complainant's
# address) stays in the database for the replay.
_VIEW = {"message": 0}


class IncomingParked(Protocol):
    """What `parked_record` reads of a delivery (read-only: an aio-pika message fits)."""

    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> Mapping[str, Any] | None: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def type(self) -> str | None: ...
    @property
    def timestamp(self) -> datetime | None: ...


class UnknownParkedMessage(LookupError):
    pass


class NotParked(Exception):
    """Only a parked message can be replayed or discarded (once)."""

    def __init__(self, parked_id: str, status: str) -> None:
        super().__init__(f"parked message {parked_id} is {status}, not parked")
        self.status = status


class ReplayUnavailable(Exception):
    """The broker is not connected or did not confirm the replay; nothing was marked."""


@dataclass(frozen=True)
class ReplayRound:
    replayed: list[str]
    remaining: int
    up_to: str | None


def parked_id(parked_at: datetime, digest: str) -> str:
    """Sorts by parking time (to the microsecond); `:` and `.` are left out because the id
    is also a field name in the index document."""
    return f"{parked_at.astimezone(UTC):%Y%m%dT%H%M%S%f}Z-{digest[:16]}"


def parked_record(
    message: IncomingParked, *, queue: str, now: datetime | None = None
) -> dict[str, Any]:
    """The document for one delivery from a parking queue (pure; never raises)."""
    now = now or datetime.now(UTC)
    headers = dict(message.headers or {})
    source, reason, parked_at, death = _why(headers)
    parked_at = parked_at or now
    event = _envelope_fields(message.body)
    event_type = event.get("type") or message.type or "unknown"
    digest = hashlib.sha256(
        b"\0".join(
            [
                message.body,
                reason.encode(),
                parked_at.isoformat().encode(),
                (message.message_id or "").encode(),
                str((death or {}).get("count", "")).encode(),
            ]
        )
    ).hexdigest()
    replay_headers = [  # name/value documents: FerretDB stores no arrays in arrays
        {"name": str(key), "value": _storable(value)}
        for key, value in headers.items()
        if not str(key).startswith(_DELIVERY_STATE)
    ]
    return {
        "_id": parked_id(parked_at, digest),
        "queue": queue,
        "status": PARKED,
        "source": source,
        "reason": reason,
        "event_type": str(event_type)[:64],
        "event_id": event.get("event_id"),
        "complaint_id": event.get("complaint_id"),
        "hospital_id": event.get("hospital_id"),
        "occurred_at": event.get("occurred_at"),
        "parked_at": parked_at,
        "stored_at": now,
        "death": death,
        "history": [],
        "message": {
            "body": message.body,
            "content_type": message.content_type,
            "message_id": message.message_id,
            "type": message.type,
            "timestamp": message.timestamp,
            "headers": replay_headers,
        },
    }


def replay_message(record: Mapping[str, Any]) -> aio_pika.Message:
    """The message as it first arrived, ready to be delivered again."""
    stored = record["message"]
    return aio_pika.Message(
        body=bytes(stored["body"]),
        headers={header["name"]: header["value"] for header in stored["headers"]},
        content_type=stored.get("content_type"),
        message_id=stored.get("message_id"),
        type=stored.get("type"),
        timestamp=stored.get("timestamp"),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


def _why(
    headers: Mapping[str, Any],
) -> tuple[str, str, datetime | None, dict[str, Any] | None]:
    """(source, reason, parked at, x-death summary): our consumer's header first."""
    ours = headers.get(PARK_REASON_HEADER)
    if ours is not None:
        return "consumer", str(ours)[:500], _when(headers.get(PARKED_AT_HEADER)), None
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        latest = deaths[0]  # RabbitMQ keeps the most recent dead-lettering first
        cause = str(latest.get("reason", "unknown"))
        count = latest.get("count")
        queue = str(latest.get("queue", ""))
        died_at = _when(latest.get("time"))
        death = {
            "reason": cause,
            "queue": queue,
            "count": count if isinstance(count, int) else None,
            "time": died_at,
        }
        explained = _BROKER_REASONS.get(cause, f"dead-lettered by the broker ({cause})")
        reason = f"{explained} [x-death: {cause}, queue {queue}, count {count}]"
        return "broker", reason[:500], died_at, death
    return "unknown", "parked without a reason header or x-death", None, None


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return stored_utc(value)
    if isinstance(value, bytes | str):
        with contextlib.suppress(ValueError):
            parsed = datetime.fromisoformat(value.decode() if isinstance(value, bytes) else value)
            return stored_utc(parsed)
    return None


def _envelope_fields(body: bytes) -> dict[str, Any]:
    """What the envelope says, as far as it can be read (a parked body may be anything)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    fields: dict[str, Any] = {}
    for name in ("type", "event_id", "complaint_id", "hospital_id"):
        value = data.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            fields[name] = str(value)[:128]
    fields["occurred_at"] = _when(data.get("occurred_at"))
    return fields


def _storable(value: Any) -> Any:
    """An AMQP header value in a form BSON keeps (and gives back the same)."""
    if value is None or isinstance(value, str | bool | int | float | bytes | datetime):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _storable(item) for key, item in value.items()}
    return str(value)


def _headers_as_text(record: dict[str, Any]) -> bool:
    """Every header value as text, for a database that refused them; False when already."""
    headers = record["message"]["headers"]
    if all(isinstance(header["value"], str) for header in headers):
        return False
    record["message"]["headers"] = [
        {"name": header["name"], "value": repr(header["value"])} for header in headers
    ]
    return True


def _action(
    action: str, *, by: str, operator: str | None, reason: str | None = None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "action": action,
        "at": now.replace(microsecond=now.microsecond // 1000 * 1000),  # as BSON keeps it
        "by": by,
        "operator": operator,
        "reason": reason,
    }


class ParkedMessages:
    """The operators' view of one service's parking queue, in that service's database."""

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        service: str,
        queue: str,
        registry: CollectorRegistry,
        publish_timeout: float = 10.0,
    ) -> None:
        self.collection = db["parked_messages"]
        self._index = db["parked_index"]
        self.service, self.queue = service, queue
        self._publish_timeout = publish_timeout
        self._exchange: Callable[[], AbstractExchange] | None = None
        self._transitions = asyncio.Lock()
        self._gauge = Gauge(
            "huiyin_parked_messages",
            "Messages parked and neither replayed nor discarded yet, per consumer queue",
            ["service", "queue"],
            registry=registry,
        ).labels(service, queue)

    def replay_through(self, exchange: Callable[[], AbstractExchange]) -> None:
        """The broker's default exchange on a confirming channel (asked for at each replay:
        a robust channel replaces it after a reconnect)."""
        self._exchange = exchange

    async def ensure_indexes(self) -> None:
        # FerretDB answers only `_id` lookups from an index; MongoDB uses this one for the
        # history listing (replayed or discarded, newest first).
        await self.collection.create_index([("status", ASCENDING), ("_id", DESCENDING)])

    async def store(self, record: dict[str, Any]) -> bool:
        """Store a parked delivery once; True when it was new."""
        try:
            await self.collection.insert_one(record)
            new = True
        except DuplicateKeyError:
            existing = await self.collection.find_one({"_id": record["_id"]}, {"status": 1})
            if existing is None or existing["status"] != PARKED:
                return False  # already replayed or discarded: do not list it again
            new = False
        # Listed after the insert, also for a redelivery: a crash in between heals here.
        await self._list(record["_id"], record["event_type"])
        return new

    async def get(self, parked_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": parked_id}, _VIEW)

    async def parked_now(self) -> dict[str, str]:
        """Ids parked now → event type, from the index document (one `_id` read)."""
        index = await self._index.find_one({"_id": INDEX_ID})
        entries = dict((index or {}).get("entries", {}))
        self._gauge.set(len(entries))
        return entries

    async def page(
        self,
        *,
        status: Status | Literal["all"] = PARKED,
        event_type: str | None = None,
        oldest_first: bool = False,
        limit: int = 20,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        """One page, newest first unless `oldest_first`; (items, next cursor, parked now)."""
        entries = await self.parked_now()
        if status != PARKED:
            scanned, after = await self._scan_page(status, event_type, oldest_first, limit, cursor)
            return scanned, after, len(entries)
        ids = sorted(
            (i for i, kind in entries.items() if event_type in (None, kind)),
            reverse=not oldest_first,
        )
        if cursor:
            ids = [i for i in ids if (i > cursor if oldest_first else i < cursor)]
        items: list[dict[str, Any]] = []
        more = False
        for position, candidate in enumerate(ids):  # `limit` reads by `_id`, and stale ones
            record = await self.collection.find_one({"_id": candidate}, _VIEW)
            if record is None or record["status"] != PARKED:
                await self._unlist(candidate)  # left behind by a crash mid-transition
                continue
            items.append(record)
            if len(items) == limit:
                more = position + 1 < len(ids)
                break
        return items, items[-1]["_id"] if more else None, len(entries)

    async def _scan_page(
        self,
        status: str,
        event_type: str | None,
        oldest_first: bool,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        query: dict[str, Any] = {} if status == "all" else {"status": status}
        if event_type:
            query["event_type"] = event_type
        if cursor:
            query["_id"] = {"$gt" if oldest_first else "$lt": cursor}
        found = (
            await self.collection.find(query, _VIEW)
            .sort("_id", ASCENDING if oldest_first else DESCENDING)
            .limit(limit + 1)
            .to_list(limit + 1)
        )
        if len(found) > limit:
            return found[:limit], found[limit - 1]["_id"]
        return found, None

    async def replay(
        self, parked_id: str, *, by: str, operator: str | None = None
    ) -> dict[str, Any]:
        async with self._transitions:
            replayed = await self._replay(await self._parked(parked_id), by, operator)
        await self._unlist(parked_id)
        return replayed

    async def replay_all(
        self,
        *,
        by: str,
        operator: str | None = None,
        event_type: str | None = None,
        limit: int = 50,
        up_to: str | None = None,
    ) -> ReplayRound:
        """Up to `limit` parked messages in parking order, each confirmed before the next.
        `up_to` (the last id parked when the first round started) keeps a message that is
        parked again after its replay out of later rounds."""
        entries = await self.parked_now()
        up_to = up_to or max(entries, default=None)
        ids = sorted(
            i
            for i, kind in entries.items()
            if event_type in (None, kind) and (up_to is None or i <= up_to)
        )
        replayed: list[str] = []
        stale: list[str] = []
        try:
            for candidate in ids[:limit]:
                async with self._transitions:
                    try:
                        record = await self._parked(candidate)
                    except (UnknownParkedMessage, NotParked):
                        stale.append(candidate)  # left behind by a crash mid-transition
                        continue
                    await self._replay(record, by, operator)
                replayed.append(candidate)
        finally:  # one index write for the round; a crash before it is healed when read
            await self._unlist(*replayed, *stale)
        return ReplayRound(replayed=replayed, remaining=len(ids[limit:]), up_to=up_to)

    async def discard(
        self, parked_id: str, *, by: str, reason: str, operator: str | None = None
    ) -> dict[str, Any]:
        async with self._transitions:
            record = await self._parked(parked_id)
            entry = _action(DISCARDED, by=by, operator=operator, reason=reason)
            discarded = await self._mark(record, DISCARDED, entry)
        await self._unlist(parked_id)
        return discarded

    async def _parked(self, parked_id: str) -> dict[str, Any]:
        record = await self.collection.find_one({"_id": parked_id})
        if record is None:
            raise UnknownParkedMessage(parked_id)
        if record["status"] != PARKED:
            raise NotParked(parked_id, record["status"])
        return record

    async def _publish(self, record: Mapping[str, Any]) -> None:
        if self._exchange is None:
            raise ReplayUnavailable("not connected to the broker")
        try:
            await asyncio.wait_for(
                self._exchange().publish(
                    replay_message(record), routing_key=self.queue, mandatory=True
                ),
                timeout=self._publish_timeout,
            )
        except (TimeoutError, aio_pika.exceptions.AMQPError, ConnectionError, RuntimeError) as e:
            raise ReplayUnavailable(f"the broker did not confirm the replay: {e!r}") from e

    async def _replay(
        self, record: dict[str, Any], by: str, operator: str | None
    ) -> dict[str, Any]:
        """Publish first, mark second (the caller holds the transition lock)."""
        await self._publish(record)
        return await self._mark(record, REPLAYED, _action(REPLAYED, by=by, operator=operator))

    async def _mark(
        self, record: dict[str, Any], status: str, entry: dict[str, Any]
    ) -> dict[str, Any]:
        """The record marked, as the operators see it (the caller unlists it)."""
        await self.collection.update_one(
            {"_id": record["_id"]}, {"$set": {"status": status}, "$push": {"history": entry}}
        )
        log.info(
            "parked message %s",
            status,
            extra={"parked_id": record["_id"], "queue": self.queue, "by": entry["by"]},
        )
        view = {key: value for key, value in record.items() if key not in _VIEW}
        return view | {"status": status, "history": [*record.get("history", []), entry]}

    async def _list(self, parked_id: str, event_type: str) -> None:
        await self._change_index({"$set": {f"entries.{parked_id}": event_type}})

    async def _unlist(self, *parked_ids: str) -> None:
        if parked_ids:
            await self._change_index({"$unset": {f"entries.{i}": "" for i in parked_ids}})

    async def _change_index(self, update: dict[str, Any]) -> None:
        try:
            index = await self._index.find_one_and_update(
                {"_id": INDEX_ID}, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:  # two first upserts raced: the other one created it
            index = await self._index.find_one_and_update(
                {"_id": INDEX_ID}, update, return_document=ReturnDocument.AFTER
            )
        self._gauge.set(len((index or {}).get("entries", {})))


class ParkingDrain:
    """Moves each message of the service's broker parking queue into `ParkedMessages`,
    acking it only once stored. A database that does not answer is waited for (the message
    stays unacked, so its delivery count does not grow); at stop it goes back to the queue."""

    def __init__(
        self,
        *,
        connection: AbstractConnection,
        parked: ParkedMessages,
        parking_queue: str,
        prefetch: int = 16,
        retry_pause_seconds: float = 1.0,
        refresh_seconds: float = 30.0,
    ) -> None:
        self._connection = connection
        self._parked = parked
        self._parking_queue = parking_queue
        self._prefetch = prefetch
        self._retry_pause = retry_pause_seconds
        self._refresh_seconds = refresh_seconds
        self._subscription: Subscription | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self._parked.ensure_indexes()
        await self._parked.parked_now()  # the gauge, before the first scrape
        self._subscription = await Subscription.start(
            self._connection, self._parking_queue, self._on_message, prefetch=self._prefetch
        )
        self._refresher = asyncio.create_task(self._keep_gauge_current())

    async def stop(self) -> None:
        self._stopping.set()
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresher
        if self._subscription is not None:
            await self._subscription.cancel()
        self._subscription = None

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        record = parked_record(message, queue=self._parked.queue)
        pause = self._retry_pause
        while not await self._stored(record):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=pause)
            if self._stopping.is_set():
                return  # unacked: the broker delivers it again to the next drain
            pause = min(pause * 2, 30.0)
        try:
            await message.ack()
        except Exception:  # stored already; a redelivery maps to the same document
            log.warning("parked message stored but not acked", exc_info=True)
        log.info(
            "parked message stored",
            extra={
                "parked_id": record["_id"],
                "queue": self._parking_queue,
                "event_type": record["event_type"],
                "source": record["source"],
            },
        )

    async def _stored(self, record: dict[str, Any]) -> bool:
        where = {"parked_id": record["_id"], "queue": self._parking_queue}
        try:
            await self._parked.store(record)
            return True
        except (InvalidDocument, WriteError) as refused:
            if _headers_as_text(record):  # a header value the database cannot hold
                return await self._stored(record)
            log.error("the database refused a parked message", extra=where, exc_info=refused)
        except Exception:
            log.warning("could not store a parked message; retrying", extra=where, exc_info=True)
        return False

    async def _keep_gauge_current(self) -> None:
        """Another replica's drain or replay changes the index too: read it now and then."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._refresh_seconds)
            if self._stopping.is_set():
                return
            try:
                await self._parked.parked_now()
            except Exception:
                log.warning("could not read the parked index", exc_info=True)
