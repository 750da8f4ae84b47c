"""Turning events into deliveries: decide who is told what, make each delivery, record
every attempt and its outcome.

The policy, in one place:
- An attempt is recorded as started (`sending`, attempts + 1) before the SMTP server is
  contacted, and its outcome is recorded right after the server's reply (`sent`,
  `retrying`, `unknown` or `failed`).
- One event's deliveries are claimed together (one insert, each `sending`, attempt 1) and
  then all sent at once: each is truly under way from its record on, so one found
  `sending` later is one whose outcome was lost. Each outcome is recorded as its server
  replies, in one write (adapters/deliveries.py says why no read is needed first).
- The attempts of one event, from that first record to the outcomes', run in one task that
  the consumer only waits for (`DeliveriesInFlight`): when the broker connection closes and
  aio-pika cancels the consumer, the mail the server already has is still recorded as
  sent, and the redelivered event finds it so. One delivery's attempts never overlap in
  this process. Notification runs as one process (like intake's consumer), so a delivery
  found `sending` is an attempt whose outcome was lost (the process stopped in between):
  it is recorded `unknown` (结果未知) and sent again — at least once, the handler must be
  told — with the same Message-ID, and the resend is recorded as following an unknown
  outcome (`after_unknown`, and `after_unknown_outcome` in notification.sent).
- A failure that may pass (4xx reply, connection refused or reset, timeout, and an
  outcome that was unknown) is tried again after the next backoff step; the event waits
  in the broker's retry queue of that step (adapters/retry_queues.py), not in this
  process. A 5xx reply, a message that cannot be built, or the last step used up is final:
  `failed`, and notification.failed (attempts, reason, masked recipient) tells intake,
  which shows it to the complaint office on the complaint.
- `sent` and `failed` are final: a redelivered or retried event skips them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

from prometheus_client import Counter
from pymongo.errors import PyMongoError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.notification.adapters.deliveries import DeliveryLog, history_entry
from services.notification.adapters.mailer import SendFailed, SmtpMailer
from services.notification.delivery_policy import (
    FINAL,
    OUTCOME_LOST,
    DeliveryStatus,
    FailureKind,
    SendFailure,
    retry_delay,
)
from services.notification.domain.messages import Message, mask_address
from services.notification.domain.notices import notices_for
from shared.contracts import Envelope, EventPayload, NotificationFailed, NotificationSent

log = logging.getLogger(__name__)

T = TypeVar("T")


class RetryScheduler(Protocol):
    delays: tuple[float, ...]

    async def schedule(self, envelope: Envelope, *, step: int) -> None: ...


class DeliveriesInFlight:
    """Runs the attempts of one event's deliveries in a task of their own, holding each
    delivery, so that one delivery's attempts never overlap.

    The caller waits through `asyncio.shield`: cancelling the caller (the broker connection
    closed) leaves the attempts to finish and record their outcome. `drain` lets attempts
    under way finish when the service stops."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, delivery_ids: Sequence[str], attempts: Callable[[], Awaitable[T]]) -> T:
        task = asyncio.create_task(self._holding(delivery_ids, attempts))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    async def _holding(
        self, delivery_ids: Sequence[str], attempts: Callable[[], Awaitable[T]]
    ) -> T:
        locks = []
        for delivery_id in sorted(set(delivery_ids)):  # one order for all: no deadlock
            lock = self._locks.get(delivery_id)
            if lock is None:
                lock = self._locks[delivery_id] = asyncio.Lock()
            locks.append(lock)
        async with contextlib.AsyncExitStack() as held:
            for lock in locks:
                await held.enter_async_context(lock)
            return await attempts()

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Seen by the consumer too, unless it was cancelled meanwhile.
            log.debug("delivery attempt failed", exc_info=task.exception())

    async def drain(self, *, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)


@dataclass(frozen=True)
class DeliveryPorts:
    """What delivering reads and writes; the delivery log publishes the outcomes' events."""

    deliveries: DeliveryLog
    mailer: SmtpMailer
    retries: RetryScheduler
    in_flight: DeliveriesInFlight
    # huiyin_notice_deliveries_total {channel, outcome}: e-mails that ended, sent or failed.
    ended: Counter | None = None


def _count_ended(ports: DeliveryPorts, status: DeliveryStatus) -> None:
    if ports.ended is not None:
        ports.ended.labels("email", status.value).inc()


def delivery_id_of(envelope: Envelope, message: Message) -> str:
    """One delivery per event and person: `{event}:{role}` or, when one event reaches
    several people of a role (leaders), `{event}:{role}:{staff_id}`. A redelivered event
    maps to the same ids, which the delivery log has already claimed."""
    delivery_id = f"{envelope.event_id}:{message.role}"
    return f"{delivery_id}:{message.recipient_key}" if message.recipient_key else delivery_id


async def deliver(envelope: Envelope, messages: Iterable[Message], *, ports: DeliveryPorts) -> None:
    """Make every delivery this event still owes; if some wait for another try, put the
    event in the retry queue of the furthest step any of them reached."""
    planned = {delivery_id_of(envelope, message): message for message in messages}
    if not planned:
        return
    steps = await ports.in_flight.run(
        tuple(planned), partial(_attempt_all, envelope, planned, ports=ports)
    )
    if steps:
        await ports.retries.schedule(envelope, step=max(steps))


async def _attempt_all(
    envelope: Envelope, planned: dict[str, Message], *, ports: DeliveryPorts
) -> list[int]:
    """Claim the event's deliveries together, then make their attempts at once; the
    backoff steps those that failed for now wait for."""
    claimed = await ports.deliveries.claim_all(
        {
            delivery_id: _claim_fields(envelope, message, ports.mailer.message_id(delivery_id))
            for delivery_id, message in planned.items()
        }
    )
    results = await asyncio.gather(
        *(
            attempt_delivery(
                envelope,
                message,
                delivery_id=delivery_id,
                existing=claimed[delivery_id],
                ports=ports,
            )
            for delivery_id, message in planned.items()
        ),
        return_exceptions=True,
    )
    for result in results:  # every outcome is recorded first; then the event is requeued
        if isinstance(result, BaseException):
            raise result
    return [step for step in results if isinstance(step, int)]


def _claim_fields(envelope: Envelope, message: Message, message_id: str) -> dict[str, Any]:
    return {
        "complaint_id": envelope.complaint_id,
        "hospital_id": envelope.hospital_id,
        "source_event_id": str(envelope.event_id),
        "source_event_type": envelope.type,
        "recipient_role": message.role.value,
        "recipient_staff_id": message.staff_id,
        "recipient": mask_address(message.to or ""),
        "channel": "email",
        "subject": message.subject,
        "message_id": message_id,
    }


async def attempt_delivery(
    envelope: Envelope,
    message: Message,
    *,
    delivery_id: str,
    existing: dict[str, Any] | None,
    ports: DeliveryPorts,
) -> int | None:
    """One attempt of one delivery, if it still owes one; `existing`: the delivery as
    claim_all found it, None when claim_all created it (attempt 1, recorded started).
    Returns the backoff step it now waits for, or None (sent, final, or nothing to do)."""
    deliveries = ports.deliveries
    message_id = ports.mailer.message_id(delivery_id)
    after_unknown = False
    if existing is None:
        attempt, retries = 1, 0
    else:
        status = DeliveryStatus(existing.get("status", DeliveryStatus.SENDING))
        if status in FINAL:
            return None
        lost = None
        if status is DeliveryStatus.SENDING:
            log.warning(
                "delivery outcome was lost; recording it unknown and sending again",
                extra={"delivery_id": delivery_id},
            )
            lost, status = OUTCOME_LOST, DeliveryStatus.UNKNOWN
        # Once any attempt's outcome was unknown, the recipient may already have the mail.
        after_unknown = status is DeliveryStatus.UNKNOWN or existing.get("unknown_outcomes", 0) > 0
        attempt = await deliveries.start_again(
            delivery_id, existing, message_id=message_id, after_unknown=after_unknown, lost=lost
        )
        retries = int(existing.get("retries", 0))

    try:
        await ports.mailer.send(message, message_id=message_id)
    except SendFailed as failed:
        return await _record_failure(
            envelope,
            message,
            delivery_id=delivery_id,
            failure=failed.failure,
            attempt=attempt,
            retries=retries,
            after_unknown=after_unknown,
            ports=ports,
        )
    sent = NotificationSent(
        delivery_id=delivery_id,
        source_event_id=str(envelope.event_id),
        recipient_role=message.role.value,
        recipient_staff_id=message.staff_id,
        level=message.level,  # intake lists who a ladder notice (督办意见) reached
        attempts=attempt,
        after_unknown_outcome=after_unknown,
    )
    await _recorded(
        envelope,
        delivery_id,
        attempt=attempt,
        status=DeliveryStatus.SENT,
        entry=history_entry(attempt, DeliveryStatus.SENT, after_unknown=after_unknown),
        event=sent,
        ports=ports,
    )
    _count_ended(ports, DeliveryStatus.SENT)
    return None


async def _record_failure(
    envelope: Envelope,
    message: Message,
    *,
    delivery_id: str,
    failure: SendFailure,
    attempt: int,
    retries: int,
    after_unknown: bool,
    ports: DeliveryPorts,
) -> int | None:
    delay = retry_delay(retries, ports.retries.delays) if failure.may_pass else None
    context = {
        "delivery_id": delivery_id,
        "attempt": attempt,
        "reason_code": failure.code,
        "reason": failure.reason,  # scrubbed: addresses masked
    }
    if delay is not None:
        status = (
            DeliveryStatus.UNKNOWN
            if failure.kind is FailureKind.UNKNOWN
            else DeliveryStatus.RETRYING
        )
        log.warning("delivery attempt failed; will retry", extra=context | {"delay": delay})
        await _recorded(
            envelope,
            delivery_id,
            attempt=attempt,
            status=status,
            entry=history_entry(attempt, status, failure=failure, after_unknown=after_unknown),
            failure=failure,
            next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
            retried=True,
            ports=ports,
        )
        return retries + 1
    log.warning("delivery failed for good", extra=context)
    failed = NotificationFailed(
        delivery_id=delivery_id,
        source_event_id=str(envelope.event_id),
        recipient_role=message.role.value,
        recipient_staff_id=message.staff_id,
        level=message.level,
        attempts=attempt,
        error=failure.reason,
        reason_code=failure.code,
        recipient=mask_address(message.to or ""),
    )
    await _recorded(
        envelope,
        delivery_id,
        attempt=attempt,
        status=DeliveryStatus.FAILED,
        entry=history_entry(
            attempt, DeliveryStatus.FAILED, failure=failure, after_unknown=after_unknown
        ),
        failure=failure,
        event=failed,
        ports=ports,
    )
    _count_ended(ports, DeliveryStatus.FAILED)
    return None


async def _recorded(
    envelope: Envelope, delivery_id: str, *, attempt: int, ports: DeliveryPorts, **outcome: Any
) -> None:
    """An outcome the SMTP server has decided is worth a few tries to record: lost, the
    delivery would be found `sending` later and sent again. The first try writes without
    reading (DeliveryLog.record_outcome: this attempt holds the delivery and recorded it
    started); a try after one whose answer was lost goes through DeliveryLog.finish, which
    finds the outcome recorded and changes nothing."""
    owner = {"hospital_id": envelope.hospital_id, "complaint_id": envelope.complaint_id}
    tries = 0
    async for retrying in AsyncRetrying(
        retry=retry_if_exception_type(PyMongoError),
        stop=stop_after_attempt(4),
        wait=wait_exponential(multiplier=0.25, max=2),
        reraise=True,
    ):
        with retrying:
            tries += 1
            if tries == 1:
                await ports.deliveries.record_outcome(
                    delivery_id, owner=owner, attempt=attempt, **outcome
                )
            else:
                await ports.deliveries.finish(delivery_id, attempt=attempt, **outcome)


async def notify(
    envelope: Envelope,
    event: EventPayload,
    *,
    tracking_url: str,
    ports: DeliveryPorts,
    case_url: str = "",
) -> None:
    case_link = f"{case_url}{envelope.complaint_id}" if case_url else ""
    messages = notices_for(event, tracking_url=tracking_url, case_link=case_link)
    # E-mail only, here: the other channels come with the contact book's deliveries.
    await deliver(envelope, [m for m in messages if m.to], ports=ports)
