"""How many MongoDB commands routing sends for one complaint's events (issue 13), counted by
a CommandListener on the store's client against the real MongoDB-wire server, through
routing's real handler table: the decision, the clock started with its outbox, its slot
entry and its handler's load; then the acceptance on the clock as routing just wrote it,
its entry moved. An acceptance consumed before its complaint.received waits for the clock
instead of going back to the queue. (The outbox relay is never started: its commands are
counted in test_outbox_batches.py.)"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient, monitoring

from deploy.servers import Infrastructure
from services.routing.adapters.clocks import CLOCKS, ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.consumers import handlers
from services.routing.domain.calendar import WorkingCalendar
from services.routing.service import HospitalRulebook
from services.routing.sla_state import SlaPlanner
from shared.consumer import Handler
from shared.contracts import EventPayload
from shared.mongo_clients import STORE_COMMANDS, bounded
from shared.outbox import OutboxRelay
from tests.support import events as sample
from tests.unit.routing.fakes import example_region

HOSPITAL = "hz-001"


class Commands(monitoring.CommandListener):
    """Every store command the client sends, as (name, collection)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in STORE_COMMANDS:
            self.seen.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def since(self, mark: int) -> Counter[tuple[str, str]]:
        return Counter(self.seen[mark:])


class Settings:
    reply_working_days = 5


@dataclass
class Routing:
    commands: Commands
    clocks: ClockStore
    table: dict[str, Handler]

    async def send(self, payload: EventPayload, complaint_id: str) -> None:
        envelope = payload.envelope(hospital_id=HOSPITAL, complaint_id=complaint_id)
        await self.table[payload.event_type](envelope, payload)


@pytest.fixture
async def routing(infrastructure: Infrastructure) -> AsyncIterator[Routing]:
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infrastructure.mongo_url, **bounded(30.0), event_listeners=[commands]
    )
    name = f"t{secrets.token_hex(4)}_routing"
    db = client[name]
    try:
        region = RegionStore(db)
        await region.load(example_region())
        calendar = WorkingCalendar()
        planner = SlaPlanner(
            ladders=HospitalRulebook(region).ladder,
            calendar=calendar,
            now=lambda: sample.RECEIVED_AT + timedelta(minutes=5),
        )
        # The relay is never started: the events only wait in the clocks' outbox.
        clocks = ClockStore.of(db, relay=OutboxRelay(db[CLOCKS]), planner=planner)
        table = handlers(clocks=clocks, region=region, calendar=calendar, settings=Settings())
        yield Routing(commands, clocks, table)
    finally:
        await client.drop_database(name)
        await client.close()


async def test_one_complaint_received_and_accepted_costs_six_commands(routing: Routing) -> None:
    # A first complaint of the same department and time: the region copy, the department's
    # loads and the minutes its points fall in are read or listed once, not per complaint.
    first = str(uuid4())
    await routing.send(sample.received(), first)
    await routing.send(sample.accepted(), first)

    complaint_id = str(uuid4())
    mark = len(routing.commands.seen)
    await routing.send(sample.received(), complaint_id)
    assert routing.commands.since(mark) == {
        ("insert", CLOCKS): 1,  # the decision, the clock and complaint.routed in its outbox
        ("update", "sla_slots"): 1,  # listed where the scan finds its next point
        ("update", "department_load"): 1,  # its handler's load
    }

    mark = len(routing.commands.seen)
    await routing.send(sample.accepted(), complaint_id)
    assert routing.commands.since(mark) == {
        ("findAndModify", CLOCKS): 1,  # no read first: routing has the clock it just wrote
        ("update", "sla_slots"): 2,  # its entry moved: removed before, listed after
    }
    clock = await routing.clocks.records.get(complaint_id)
    assert clock is not None and clock["accepted_at"] == sample.RECEIVED_AT
    assert clock["department"] == "finance" and len(clock["applied_events"]) == 1


async def test_an_acceptance_consumed_first_waits_for_its_clock(routing: Routing) -> None:
    complaint_id = str(uuid4())

    async def received_a_moment_later() -> None:
        await asyncio.sleep(0.1)
        await routing.send(sample.received(), complaint_id)

    mark = len(routing.commands.seen)
    await asyncio.gather(
        routing.send(sample.accepted(), complaint_id), received_a_moment_later()
    )  # before: ClockNotStarted, the acceptance back to the queue to be read again
    # One read found no clock yet; the acceptance then changed the clock routing wrote.
    sent = routing.commands.since(mark)
    assert (sent[("find", CLOCKS)], sent[("findAndModify", CLOCKS)]) == (1, 1)
    clock = await routing.clocks.records.get(complaint_id)
    assert clock is not None and clock["accepted_at"] == sample.RECEIVED_AT
