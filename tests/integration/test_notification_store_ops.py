"""How many MongoDB commands notification sends for a complaint's notices (issue 13), counted
by a CommandListener on the service's own client against the real MongoDB-wire server, with
the real broker and SMTP server: one assignment's two e-mails (handler, complainant) are
claimed in one insert and indexed in one update, and their outcomes written without a read
first; events handled at the same time share commands (shared/group_commit.py); a
supervisor escalated to again is not listed again. And what batching must keep: each
writer learns of its own duplicates and errors only."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, InsertOne, UpdateOne, monitoring
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import WriteError

import shared.runtime
from deploy.servers import Infrastructure
from services.notification.adapters.deliveries import DELIVERIES
from services.notification.bootstrap import create_app as notification_app
from services.notification.deliveries.digest import DIGESTS, PEOPLE, DigestBook
from shared.contracts import Envelope, Person
from shared.group_commit import GroupCommit
from shared.mongo_clients import STORE_COMMANDS, StoreOperations, bounded
from shared.runtime import mongo_client
from tests.support import events as sample
from tests.support.bus import publish
from tests.support.mail import MailSink
from tests.support.platform import Platform, running_platform, serve
from tests.support.polling import eventually

# What notification keeps per notice; the relay's periodic sweep and the probes are not a
# complaint's (they run as often whether or not complaints come).
NOTICE_COLLECTIONS = {DELIVERIES, "delivery_index", DIGESTS, "contacts"}


class Commands(monitoring.CommandListener):
    """Every store command a client sends: (name, collection, command)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in STORE_COMMANDS:
            target = str(event.command.get(event.command_name))
            self.seen.append((event.command_name, target, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def mark(self) -> int:
        return len(self.seen)

    def for_notices(self, since: int) -> Counter[tuple[str, str]]:
        counted: Counter[tuple[str, str]] = Counter()
        for name, target, command in self.seen[since:]:
            if target not in NOTICE_COLLECTIONS or _periodic(name, command):
                continue
            counted[(name, target)] += 1
        return counted


def _periodic(name: str, command: dict[str, Any]) -> bool:
    """The outbox relay's sweep: a query for pending outboxes and the flags it clears."""
    if name == "find":
        return "outbox_pending" in (command.get("filter") or {})
    if name == "update":
        return any(u.get("multi") for u in command.get("updates", []))
    return name == "createIndexes"


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[Commands]:
    """The listener on the client of every service built while the test runs."""
    listener = Commands()

    def listened(
        url: str, *, timeout_seconds: float = 30.0, operations: Any = None
    ) -> AsyncMongoClient[dict[str, Any]]:
        counted = [StoreOperations(operations)] if operations else []
        return AsyncMongoClient(
            url, **bounded(timeout_seconds), event_listeners=[*counted, listener]
        )

    monkeypatch.setattr(shared.runtime, "mongo_client", listened)
    yield listener


@pytest.fixture
async def notification(
    infrastructure: Infrastructure, mail: MailSink, commands: Commands
) -> AsyncIterator[Platform]:
    async with running_platform(
        infrastructure, smtp_port=mail.port, only=("notification",)
    ) as platform:
        yield platform


def assignment(n: int) -> Envelope:
    handler = Person(
        staff_id=f"hz-001-finance-{n}", name="钱会计", email=f"finance.{n}@hz1.example.org"
    )
    event = sample.assigned(handler=handler, complainant_email=f"p{n}@patients.example.org")
    return sample.envelope(event, f"c-ops-{n}")


async def all_told(platform: Platform, envelopes: list[Envelope]) -> None:
    """Every delivery sent and its notification.sent published (the outbox cleared: the
    last command a notice causes), read through a client of the test's own."""
    keys = [f"{e.event_id}:{role}" for e in envelopes for role in ("handler", "complainant")]
    client = mongo_client(platform.infra.mongo_url)
    try:
        collection = client[platform.settings["notification"].database][DELIVERIES]

        async def done() -> bool:
            for key in keys:
                found = await collection.find_one({"_id": key})
                if not found or found["status"] != "sent" or found.get("outbox"):
                    return False
            return True

        await eventually(done, timeout=30, what="every delivery sent and announced")
    finally:
        await client.close()


async def test_one_assignments_two_mails_take_one_insert_one_index_write_and_no_read(
    notification: Platform, mail: MailSink, commands: Commands
) -> None:
    since = commands.mark()
    envelope = assignment(1)
    await publish(notification, envelope)
    await mail.wait_for(lambda m: m["To"] == "finance.1@hz1.example.org")
    await mail.wait_for(lambda m: m["To"] == "p1@patients.example.org")
    await all_told(notification, [envelope])
    counted = commands.for_notices(since)
    # Before: a findAndModify per claim, an index update per owner, a find and a
    # findAndModify per outcome, and the relay's $unset: 10 or 11 commands.
    assert counted[("insert", DELIVERIES)] == 1
    assert counted[("update", "delivery_index")] == 1
    assert not [key for key in counted if key[0] in ("find", "findAndModify")], counted
    # Two outcomes (one command when they meet) and the relay's $unset (one or two).
    assert counted[("update", DELIVERIES)] <= 4, counted
    assert sum(counted.values()) <= 6, counted
    assert len(mail.messages) == 2


async def test_assignments_handled_together_share_their_commands(
    notification: Platform, mail: MailSink, commands: Commands
) -> None:
    # Ten events wait in the queue while notification is down; started, it takes them all
    # at once (prefetch), as it does a backlog or a busy minute.
    await notification.services["notification"].stop()
    envelopes = [assignment(n) for n in range(10)]
    await publish(notification, *envelopes)
    since = commands.mark()
    settings = notification.settings["notification"]
    notification.services["notification"] = await serve(
        notification_app(settings), settings.http_port
    )
    await mail.wait_for(lambda m: True, count=20, timeout=30)
    await all_told(notification, envelopes)
    counted = commands.for_notices(since)
    # One at a time they would take at least 4 each (insert, index, two outcomes) and the
    # relay's writes, over 45 (before issue 13: over 100); handled together, they share
    # commands. The outcomes share less: each is written as its server replies.
    assert sum(counted.values()) <= 25, counted
    assert counted[("insert", DELIVERIES)] <= 5 and counted[("update", "delivery_index")] <= 5
    assert len(mail.messages) == 20  # each told once


# --- the supervisors' digests --------------------------------------------------------------


@pytest.fixture
async def database(infrastructure: Infrastructure) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infrastructure.mongo_url, **bounded(30), event_listeners=[Commands()]
    )
    name = f"t{secrets.token_hex(4)}_notification"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


def listener_of(db: AsyncDatabase[dict[str, Any]]) -> Commands:
    [listener] = [each for each in db.client.options.event_listeners if isinstance(each, Commands)]
    return listener


async def test_a_supervisor_escalated_to_again_costs_one_digest_write_and_the_case_list(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    book = DigestBook(database)
    commands = listener_of(database)
    step = sample.escalated(recipients=[sample.LEADER])
    await book.escalated(sample.envelope(step, "c-digest-1"), step)
    since = commands.mark()
    await book.escalated(sample.envelope(step, "c-digest-2"), step)
    # Before: the digest, the case's list, and the list of people again.
    assert [name for name, _, _ in commands.seen[since:]] == ["update", "findAndModify"]
    digest = await database[DIGESTS].find_one({"_id": f"digest/{sample.LEADER.staff_id}"})
    assert digest is not None and set(digest["cases"]) == {"c-digest-1", "c-digest-2"}
    people = await database[DIGESTS].find_one({"_id": PEOPLE})
    assert people is not None and people["people"] == [sample.LEADER.staff_id]


# --- batched writes: one command, each writer's own answer ---------------------------------


async def test_writes_queued_together_go_in_one_command_and_each_writer_hears_its_own(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    collection = database["batched"]
    await collection.insert_one({"_id": "taken", "n": 0})
    await collection.insert_one({"_id": "text", "n": "not a number"})
    writes = GroupCommit(collection)
    commands = listener_of(database)
    since = commands.mark()
    inserted = await asyncio.gather(
        writes.write([InsertOne({"_id": "a"})]),
        writes.write([InsertOne({"_id": "b"}), InsertOne({"_id": "taken"})]),
        writes.write([InsertOne({"_id": "c"})]),
    )
    assert list(inserted) == [set(), {1}, set()]  # the duplicate is told to its writer only
    assert [name for name, _, _ in commands.seen[since:]] == ["insert"]
    stored = {d["_id"] for d in await collection.find().to_list(10)}
    assert stored == {"a", "b", "c", "taken", "text"}

    since = commands.mark()
    updated = await asyncio.gather(
        writes.write([UpdateOne({"_id": "a"}, {"$set": {"n": 1}})]),
        writes.write([UpdateOne({"_id": "text"}, {"$inc": {"n": 1}})]),  # not a number
        writes.write([UpdateOne({"_id": "taken"}, {"$inc": {"n": 1}})]),
        return_exceptions=True,
    )
    assert updated[0] == set() and updated[2] == set()
    assert isinstance(updated[1], WriteError)  # its writer's error, and no one else's
    assert [name for name, _, _ in commands.seen[since:]] == ["update"]
    taken = await collection.find_one({"_id": "taken"})
    assert taken is not None and taken["n"] == 1
