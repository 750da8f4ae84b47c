"""Notification's Celery tasks (`huiyin-worker notification`): the escalation ladder's
deliveries, one attempt per run (deliveries/attempt.py), the release of notices that waited
for office hours, and the supervisors' morning digest (deliveries/digest.py).

Each worker process makes its own database client and channels on first use (a worker
forks after import; PyMongo's clients are not fork-safe) and keeps them for the tasks that
follow. A task's message is acknowledged after the run (shared/celery_app.py): a worker
killed mid-attempt leaves the attempt claimed, and the run given back to the broker finds
it and does not send blindly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from celery import Task
from pymongo import MongoClient
from pymongo.database import Database

from services.notification.adapters.contact_book import ContactBookReader
from services.notification.adapters.deliveries import INDEX, person_index
from services.notification.channels import Channel, build_channels
from services.notification.deliveries import digest
from services.notification.deliveries.attempt import Again, Attempt, DeliveryRules
from services.notification.deliveries.records import (
    DELIVER,
    DeliveryRecords,
    deferred_slot,
)
from services.notification.domain.contacts import Address
from services.notification.domain.office_hours import STAFF_HOURS, is_working_day
from services.notification.settings import NotificationSettings
from shared.celery_app import make_celery, task
from shared.celery_beat import every
from shared.clock import Clock
from shared.contracts import CHINA, DeliveryChannel
from shared.mongo_clients import blocking_mongo_client

if TYPE_CHECKING:
    from prometheus_client import Counter

log = logging.getLogger(__name__)

settings = NotificationSettings()
app = make_celery("notification", settings)
RELEASE = "notification.release_deferred"
DIGEST = "notification.morning_digest"
# A release slot is looked at for this many days after its hour: a platform down over a
# long holiday still sends what waited.
RELEASE_LOOKBACK_DAYS = 21


@dataclass
class ProcessResources:
    pid: int
    client: MongoClient[dict[str, Any]]
    db: Database[dict[str, Any]]
    records: DeliveryRecords
    contacts: ContactBookReader
    channels: dict[DeliveryChannel, Channel]


_resources: ProcessResources | None = None


def resources() -> ProcessResources:
    """This process's clients, made on first use after the fork."""
    global _resources
    if _resources is None or _resources.pid != os.getpid():
        client = blocking_mongo_client(
            settings.mongo_url, timeout_seconds=settings.database_timeout_seconds
        )
        db = client[settings.database]
        _resources = ProcessResources(
            pid=os.getpid(),
            client=client,
            db=db,
            records=DeliveryRecords(db),
            contacts=ContactBookReader(db),
            channels=build_channels(settings),
        )
    return _resources


def rules() -> DeliveryRules:
    return DeliveryRules(
        max_attempts=settings.ladder_max_attempts,
        backoff_base_seconds=settings.ladder_backoff_seconds,
        backoff_cap_seconds=settings.ladder_backoff_cap_seconds,
        lease=timedelta(seconds=settings.ladder_attempt_lease_seconds),
        gateway_lag=timedelta(seconds=settings.sms_record_lag_seconds),
        per_minute={
            DeliveryChannel.WECOM.value: settings.robot_per_minute,
            DeliveryChannel.DINGTALK.value: settings.robot_per_minute,
            DeliveryChannel.SMS.value: settings.sms_per_minute,
        },
    )


def address_of(document: dict[str, Any]) -> Address | None:
    """Where a delivery goes: stored for a person; for a group, read from the contact book
    at each attempt with its secret (never stored with the delivery)."""
    stored = document.get("address") or {}
    channel = DeliveryChannel(document["channel"])
    if not stored.get("group"):
        to = stored.get("to")
        return (
            Address(channel, to, key=stored.get("key", ""), shown=stored.get("shown", ""))
            if to
            else None
        )
    scope = resources().contacts.scope(stored.get("scope") or "")
    group = scope.groups.get(stored["group"]) if scope else None
    if group is None or group.channel != channel:
        return None
    secret = group.secret.get_secret_value() if group.secret else ""
    return Address(channel, group.url, key=stored["key"], shown=stored["shown"], secret=secret)


@task(app, name=DELIVER, bind=True, max_retries=None)
def deliver(self: Task, delivery_id: str) -> str:
    """One attempt of one delivery; the next is this task again, later (attempt.py)."""
    own = resources()
    attempt = Attempt(
        records=own.records,
        channels=own.channels,
        address_of=address_of,
        rules=rules(),
        now=Clock.of(settings).now,
    )
    outcome = attempt.run(delivery_id)
    if isinstance(outcome, Again):
        raise self.retry(countdown=outcome.seconds)
    if outcome.ended_on is not None:  # counted once: a run that finds it ended does not
        outcomes().labels(outcome.ended_on, outcome.status).inc()
    return outcome.status


def outcomes() -> Counter:
    """Deliveries that ended, by channel and outcome (sent or failed): the ops team alerts on
    failed. Made on first use: the worker names its metrics directory before prometheus_client
    is imported (shared/celery_app.py)."""
    global _outcomes
    if _outcomes is None:
        from prometheus_client import Counter as Made

        _outcomes = Made(
            "huiyin_ladder_deliveries",
            "Ladder and digest deliveries that ended, by channel and outcome",
            ("channel", "outcome"),
        )
    return _outcomes


_outcomes: Counter | None = None


def release_slots(now: datetime) -> list[str]:
    """The release slots whose hour has come, of the last RELEASE_LOOKBACK_DAYS days."""
    today = now.astimezone(CHINA).date()
    slots: list[str] = []
    for back in range(RELEASE_LOOKBACK_DAYS):
        day = today - timedelta(days=back)
        opens = datetime.combine(day, STAFF_HOURS.opens, tzinfo=CHINA)
        if opens <= now and is_working_day(day):
            slots.append(deferred_slot(opens))
    return slots


@task(app, name=RELEASE)
def release_deferred() -> int:
    """Hand the notices whose office hours have come to the worker; returns how many. Sent
    again after a crash, it hands them again: each delivery is sent once all the same."""
    own = resources()
    now = Clock.of(settings).now()
    released = 0
    for slot in release_slots(now):
        ids = own.records.released(slot)
        for identifier in ids:
            app.send_task(DELIVER, args=[identifier])
        if ids:
            own.records.forget_slot(slot)
        released += len(ids)
    if released:
        log.info("deferred notices released", extra={"count": released})
    return released


@task(app, name=DIGEST)
def morning_digest() -> int:
    """Each supervisor's digest of the cases still overdue under them, once per working day
    after HUIYIN_DIGEST_AT (China time); returns how many were handed to the worker. Sent
    every few minutes by the beat: a run before the hour, on a holiday, or after today's
    digests went out does nothing."""
    now = Clock.of(settings).now()
    local = now.astimezone(CHINA)
    hour, minute = (int(part) for part in settings.digest_at.split(":"))
    if not is_working_day(local.date()) or local.time() < time(hour, minute):
        return 0
    own = resources()
    handed = 0
    for staff_id in digest.people(own.db):
        document = digest.digest_of(own.db, staff_id)
        made = digest.digest_message(staff_id, document or {}, local.date())
        if made is None:
            continue
        stored = digest.store_digest(own.db, made, local.date())
        if stored is not None:
            own.db[INDEX].update_one(
                {"_id": person_index(staff_id, datetime.now(UTC))},
                {"$addToSet": {"ids": stored}},
                upsert=True,
            )
            app.send_task(DELIVER, args=[stored])
            handed += 1
    return handed


def beat_schedule() -> dict[str, dict[str, Any]]:
    """What the platform's beat sends for notification."""
    return {
        DIGEST: {
            "task": DIGEST,
            "schedule": every(300),
            "options": {"expires": 300},
        },
        RELEASE: {
            "task": RELEASE,
            "schedule": every(settings.release_scan_seconds),
            "options": {"expires": settings.release_scan_seconds},
        },
    }
