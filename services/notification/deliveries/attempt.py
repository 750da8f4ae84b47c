"""One run of a delivery task: at most one attempt of one delivery, and what comes next.

    read the delivery (by _id)      finished → nothing; before its office hours → nothing
    an attempt left `sending`       its process alive → wait; gone → its outcome is unknown
    unknown outcome                 e-mail, robots, webhooks: send again under the same id
                                    (the receiver drops the copy); SMS: ask the gateway
                                    first, never send blindly
    the target's minute is full     wait for the next minute (every worker counts)
    claim attempt n+1 (insert)      of two workers, one sends
    record `sending`, send, record the outcome (a final one with its event)
    may pass → again after an exponential backoff with jitter, until the last attempt

Whatever kills a worker between two of these steps, the next run finds enough in the
delivery and its claims to neither send twice nor lose the notice.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from services.notification.channels import Channel
from services.notification.deliveries.records import (
    FINISHED,
    DeliveryRecords,
    alive,
    message_of,
)
from services.notification.delivery_policy import (
    DeliveryStatus,
    FailureKind,
    SendFailure,
    SendOutcome,
    SendResult,
)
from services.notification.domain.contacts import Address
from shared.contracts import CHINA, DeliveryChannel, Envelope, NotificationFailed, NotificationSent
from shared.dates import stored_utc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryRules:
    """Settings of the delivery tasks (NotificationSettings)."""

    max_attempts: int = 6
    backoff_base_seconds: float = 10.0
    backoff_cap_seconds: float = 600.0
    lease: timedelta = timedelta(minutes=2)
    gateway_lag: timedelta = timedelta(seconds=30)  # before an SMS gateway lists what it took
    per_minute: Mapping[str, int] = field(default_factory=dict)

    def limit(self, channel: str) -> int:
        return int(self.per_minute.get(channel, 0))


def backoff(
    attempt: int, rules: DeliveryRules, *, jitter: Callable[[], float] = random.random
) -> float:
    """Exponential, capped, with full jitter in its upper half: deliveries failed together do
    not come back together."""
    ceiling = min(rules.backoff_cap_seconds, rules.backoff_base_seconds * 2.0 ** (attempt - 1))
    return float(ceiling / 2 + ceiling / 2 * jitter())


@dataclass(frozen=True)
class Done:
    status: str
    ended_on: str | None = None  # the channel, when this very run ended the delivery


@dataclass(frozen=True)
class Again:
    """Run the task again in `seconds` (a retry, a full minute, a live claim)."""

    seconds: float
    why: str


Next = Done | Again

UNKNOWN_LEFT = SendFailure(
    FailureKind.UNKNOWN, "unknown_outcome", "the worker making the attempt stopped"
)
NOT_CHECKABLE = SendFailure(FailureKind.PERMANENT, "unknown_not_resent")
NO_CHANNEL = SendFailure(FailureKind.PERMANENT, "channel_unavailable")


@dataclass
class Attempt:
    records: DeliveryRecords
    channels: Mapping[DeliveryChannel, Channel]
    address_of: Callable[[dict[str, Any]], Address | None]
    rules: DeliveryRules
    now: Callable[[], datetime]  # the platform's time (office hours; tests move it)

    def run(self, delivery: str) -> Next:
        document = self.records.get(delivery)
        if document is None:
            return Done("missing")
        status = document.get("status")
        if status in FINISHED:
            return Done(str(status))
        release_at = document.get("release_at")
        if release_at is not None and stored_utc(release_at) > self.now():
            return Done("deferred")  # the release task sends it when its hour comes
        channel = self.channels.get(DeliveryChannel(document["channel"]))
        address = self.address_of(document)
        attempt = int(document.get("attempts", 0))
        if channel is None or address is None:
            return self._final(document, attempt + 1, NO_CHANNEL)
        after_unknown = status == DeliveryStatus.UNKNOWN.value
        if status == DeliveryStatus.SENDING.value:
            claim = self.records.attempts.find_one({"_id": f"{delivery}#{attempt}"}) or {}
            if alive(
                claim, host=self.records.holder.host, now=datetime.now(UTC), lease=self.rules.lease
            ):
                return Again(self._lease_left(claim), "attempt in progress elsewhere")
            self.records.outcome(
                delivery, attempt=attempt, status=DeliveryStatus.UNKNOWN, failure=UNKNOWN_LEFT
            )
            after_unknown = True
        if after_unknown and not channel.resend_after_unknown:
            checked = self._check_gateway(channel, address, document, attempt)
            if checked is not None:
                return checked
        limit = self.rules.limit(channel.code.value)
        if limit and self.records.count_send(_target(document), datetime.now(UTC)) > limit:
            wait = 60 - datetime.now(UTC).second + random.random() * 5
            return Again(wait, "rate limit")
        number = attempt + 1
        while (holder := self.records.claim(delivery, number)) is not None:
            if alive(
                holder, host=self.records.holder.host, now=datetime.now(UTC), lease=self.rules.lease
            ):
                return Again(self._lease_left(holder), "claimed by another worker")
            number += 1  # claimed by a process that died before it recorded `sending`: unsent
        self.records.start(delivery, number, after_unknown=after_unknown)
        message = message_of(document["message"])
        try:
            result = channel.send(message, address, delivery_id=delivery)
        except Exception as error:  # a channel bug must not leave the delivery `sending`
            log.exception("channel raised", extra={"delivery_id": delivery})
            result = SendResult(
                SendFailure(FailureKind.UNKNOWN, "unexpected", f"{type(error).__name__}")
            )
        return self._record(document, number, result, after_unknown=after_unknown)

    def _lease_left(self, claim: Mapping[str, Any]) -> float:
        started = stored_utc(claim.get("started_at") or datetime.now(UTC))
        left = (started + self.rules.lease - datetime.now(UTC)).total_seconds()
        return max(1.0, min(left, self.rules.lease.total_seconds()))

    def _check_gateway(
        self, channel: Channel, address: Address, document: dict[str, Any], attempt: int
    ) -> Next | None:
        """An SMS whose outcome is unknown: the gateway's records say whether it went out.
        None: it did not, send it now."""
        was_sent = getattr(channel, "was_sent", None)
        found: bool | None = None
        started = stored_utc(document.get("attempt_started_at") or datetime.now(UTC))
        waited = datetime.now(UTC) - started
        if was_sent is not None and waited < self.rules.gateway_lag:
            # Asked at once, a gateway may not list an SMS it took a moment ago.
            return Again((self.rules.gateway_lag - waited).total_seconds(), "gateway lag")
        if was_sent is not None:
            # The gateway files an SMS under the day it was sent, China time.
            days = {started.astimezone(CHINA).date(), datetime.now(CHINA).date()}
            found = was_sent(address, delivery_id=document["_id"], days=sorted(days))
        if found is False:
            return None
        if found:
            return self._sent(document, attempt, SendResult(), after_unknown=True)
        checks = int(document.get("unknown_outcomes", 0))
        if checks < 3 and was_sent is not None:  # the gateway's records can lag a little
            self.records.deliveries.update_one(
                {"_id": document["_id"]}, {"$inc": {"unknown_outcomes": 1}}
            )
            return Again(backoff(checks + 1, self.rules), "checking the gateway")
        return self._final(document, attempt, NOT_CHECKABLE)

    def _record(
        self, document: dict[str, Any], attempt: int, result: SendResult, *, after_unknown: bool
    ) -> Next:
        outcome = result.outcome
        if outcome is SendOutcome.SENT:
            return self._sent(document, attempt, result, after_unknown=after_unknown)
        failure = result.failure
        assert failure is not None
        if outcome is SendOutcome.FINAL or attempt >= self.rules.max_attempts:
            return self._final(document, attempt, failure, after_unknown=after_unknown)
        delay = result.retry_after or backoff(attempt, self.rules)
        status = (
            DeliveryStatus.UNKNOWN if outcome is SendOutcome.UNKNOWN else DeliveryStatus.RETRYING
        )
        self.records.outcome(
            document["_id"],
            attempt=attempt,
            status=status,
            failure=failure,
            after_unknown=after_unknown,
            next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
            retried=True,
        )
        log.warning(
            "delivery attempt failed; will retry",
            extra={
                "delivery_id": document["_id"],
                "attempt": attempt,
                "reason_code": failure.code,
                "delay": delay,
            },
        )
        return Again(delay, failure.code)

    def _sent(
        self, document: dict[str, Any], attempt: int, result: SendResult, *, after_unknown: bool
    ) -> Next:
        event = NotificationSent(
            **_outcome_fields(document, attempt), after_unknown_outcome=after_unknown
        )
        self.records.outcome(
            document["_id"],
            attempt=attempt,
            status=DeliveryStatus.SENT,
            after_unknown=after_unknown,
            receipt=result.receipt,
            event=_envelope(document, event),
        )
        return Done(DeliveryStatus.SENT.value, ended_on=document["channel"])

    def _final(
        self,
        document: dict[str, Any],
        attempt: int,
        failure: SendFailure,
        *,
        after_unknown: bool = False,
    ) -> Next:
        event = NotificationFailed(
            **_outcome_fields(document, attempt),
            error=failure.reason,
            reason_code=failure.code,
            recipient=document.get("recipient"),
        )
        self.records.outcome(
            document["_id"],
            attempt=attempt,
            status=DeliveryStatus.FAILED,
            failure=failure,
            after_unknown=after_unknown,
            event=_envelope(document, event),
        )
        log.warning(
            "delivery failed for good",
            extra={"delivery_id": document["_id"], "reason_code": failure.code},
        )
        return Done(DeliveryStatus.FAILED.value, ended_on=document["channel"])


def _target(document: Mapping[str, Any]) -> str:
    """What a rate limit counts: a group's robot, else the channel as a whole."""
    address = document.get("address") or {}
    if address.get("group"):
        return f"{document['channel']}:{address.get('scope')}/{address['group']}"
    return str(document["channel"])


def _outcome_fields(document: Mapping[str, Any], attempt: int) -> dict[str, Any]:
    return {
        "delivery_id": document["_id"],
        "source_event_id": document["source_event_id"],
        "recipient_role": document["recipient_role"],
        "channel": document["channel"],
        "attempts": max(attempt, 1),
        "recipient_staff_id": document.get("recipient_staff_id"),
        "level": document.get("level"),
    }


def _envelope(
    document: Mapping[str, Any], event: NotificationSent | NotificationFailed
) -> Envelope:
    return event.envelope(
        hospital_id=document["hospital_id"],
        complaint_id=document["complaint_id"],
        occurred_at=datetime.now(UTC),
    )
