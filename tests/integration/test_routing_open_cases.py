"""A handler's open cases by `_id` (issue 13): the department load documents list each open
clock under its handler, delegation reads them and the clocks they name by `_id` only, and
answers as the query over every clock did. Against the real MongoDB-wire server, through
routing's real handler table, every event delivered twice and one load write lost to a
crash: the documents come to what `python -m services.routing.rebuild_load` writes."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import AutoReconnect

from deploy.servers import Infrastructure
from services.routing import lifecycle
from services.routing.adapters.clocks import CLOCKS, LOADS, LOADS_COMPLETE, STOPPED, ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.consumers import handlers
from services.routing.domain.calendar import WorkingCalendar
from services.routing.rebuild_load import rebuild_load
from services.routing.service import HospitalRulebook
from services.routing.sla_state import SlaPlanner
from shared.consumer import Handler
from shared.contracts import Envelope, EventPayload
from shared.mongo_clients import bounded
from shared.outbox import OutboxRelay
from tests.support import events as sample
from tests.support.bus import listening
from tests.support.platform import Platform
from tests.unit.routing.fakes import example_region

HOSPITAL = "hz-001"
TEXTS = (
    "出院结算时发现重复收费，CT检查费用收了两次。",
    "住院部护士输液时态度很差，呼叫铃按了半小时没人来。",
    "药房发错药，药品与处方不符。",
    "出院结算时发现重复收费。",
    "门诊挂号排队时间太长，等候两个小时。",
    "住院部护士态度很差。",
)


class Finds(monitoring.CommandListener):
    """The filter of every find the client sends, with its collection."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.seen.append((str(event.command["find"]), dict(event.command.get("filter", {}))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class Settings:
    reply_working_days = 5


@dataclass
class Routing:
    finds: Finds
    clocks: ClockStore
    table: dict[str, Handler]
    rulebook: HospitalRulebook
    db: Any

    async def deliver(self, envelope: Envelope, payload: EventPayload) -> None:
        await self.table[payload.event_type](envelope, payload)

    async def twice(self, payload: EventPayload, complaint_id: str) -> None:
        """Delivered, then delivered again (the broker's at-least-once)."""
        envelope = payload.envelope(hospital_id=HOSPITAL, complaint_id=complaint_id)
        await self.deliver(envelope, payload)
        await self.deliver(envelope, payload)

    async def scanned(self, handler_id: str) -> list[str]:
        """The answer of the query over every clock that delegation ran before."""
        query = {"hospital_id": HOSPITAL, "handler_id": handler_id, "status": {"$ne": STOPPED}}
        return [c["_id"] async for c in self.db[CLOCKS].find(query, {"_id": 1})]

    async def documents(self) -> dict[str, dict[str, str]]:
        """The load documents that list anything."""
        found = self.db[LOADS].find({"_id": {"$ne": LOADS_COMPLETE}})
        return {d["_id"]: d["cases"] async for d in found if d.get("cases")}


@pytest.fixture
async def routing(infrastructure: Infrastructure) -> AsyncIterator[Routing]:
    finds = Finds()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infrastructure.mongo_url, **bounded(30.0), event_listeners=[finds]
    )
    name = f"t{secrets.token_hex(4)}_routing"
    db = client[name]
    try:
        region = RegionStore(db)
        await region.load(example_region())
        calendar = WorkingCalendar()
        rulebook = HospitalRulebook(region)
        planner = SlaPlanner(
            ladders=rulebook.ladder,
            calendar=calendar,
            now=lambda: sample.RECEIVED_AT + timedelta(minutes=5),
        )
        # The relay is never started: the events only wait in the clocks' outbox.
        clocks = ClockStore.of(db, relay=OutboxRelay(db[CLOCKS]), planner=planner)
        await clocks.ensure_indexes()  # a new database: its loads will list every clock
        table = handlers(clocks=clocks, region=region, calendar=calendar, settings=Settings())
        yield Routing(finds, clocks, table, rulebook, db)
    finally:
        await client.drop_database(name)
        await client.close()


async def test_open_cases_read_by_id_answer_as_the_scan_and_equal_the_rebuild(
    routing: Routing,
) -> None:
    complaints = [str(uuid4()) for _ in TEXTS]
    lost: list[str] = []
    real_write = routing.clocks.load.write

    async def crashing(moves: Any) -> None:
        if not lost:  # the first load write after the switch never reaches the server
            lost.append("lost")
            raise AutoReconnect("connection closed")
        await real_write(moves)

    for n, (complaint_id, text) in enumerate(zip(complaints, TEXTS, strict=True)):
        received = sample.received(content=text, case_number=f"HZ-001-202611-{n:05d}")
        if n == 2:  # the clock is written, its load write is lost; the event comes again
            envelope = received.envelope(hospital_id=HOSPITAL, complaint_id=complaint_id)
            routing.clocks.load.write = crashing  # type: ignore[method-assign]
            with pytest.raises(AutoReconnect):
                await routing.deliver(envelope, received)
            routing.clocks.load.write = real_write  # type: ignore[method-assign]
            await routing.deliver(envelope, received)
        else:
            await routing.twice(received, complaint_id)
        await routing.twice(sample.accepted(), complaint_id)
    assert lost

    # Re-routed to nursing, replied (the clock stops), one delegated across departments.
    await routing.twice(sample.reroute_requested(department="nursing"), complaints[0])
    stopped = await routing.clocks.records.get(complaints[1])
    assert stopped is not None
    routing.clocks.load.write = crashing  # type: ignore[method-assign]
    lost.clear()
    replied = sample.replied()
    envelope = replied.envelope(hospital_id=HOSPITAL, complaint_id=complaints[1])
    with pytest.raises(AutoReconnect):
        await routing.deliver(envelope, replied)  # stopped, but its entry stays listed
    routing.clocks.load.write = real_write  # type: ignore[method-assign]
    await routing.deliver(envelope, replied)  # the redelivery unsets it
    clock = await routing.clocks.records.get(complaints[3])
    assert clock is not None
    outsider = "hz-001-nursing-2" if clock["department"] != "nursing" else "hz-001-finance-2"
    assert await lifecycle.delegate(
        clock,
        delegate_to=outsider,
        reason="委托",
        clocks=routing.clocks,
        rulebook=routing.rulebook,
    )

    clocks = [c async for c in routing.db[CLOCKS].find({}, {"outbox": 0})]
    assert any(c["status"] == STOPPED for c in clocks)
    handlers_with_cases = {c["handler_id"] for c in clocks if c.get("handler_id")}
    assert outsider in handlers_with_cases and len({c["department"] for c in clocks}) > 1
    hospital = await routing.rulebook.of(HOSPITAL)
    departments = [d.code for d in hospital.hospital.departments]
    for handler_id in sorted(handlers_with_cases):
        mark = len(routing.finds.seen)
        found = await routing.clocks.open_of_handler(HOSPITAL, handler_id, departments=departments)
        read = routing.finds.seen[mark:]
        assert [c["_id"] for c in found] == await routing.scanned(handler_id), handler_id
        assert read and all(list(where) == ["_id"] for _, where in read), read
        assert {collection for collection, _ in read} <= {CLOCKS, LOADS}

    maintained = await routing.documents()
    rebuilt = await rebuild_load(routing.db)
    assert rebuilt.replaced == 0  # every listing document was as the clocks say
    assert await routing.documents() == maintained
    assert rebuilt.clocks == len(TEXTS) and rebuilt.documents == len(maintained)
    # A second run writes nothing.
    again = await rebuild_load(routing.db)
    assert (again.replaced, again.removed) == (0, 0)


async def test_a_database_older_than_the_listing_is_asked_the_query_until_rebuilt(
    routing: Routing,
) -> None:
    complaint_id = str(uuid4())
    await routing.twice(sample.received(), complaint_id)
    clock = await routing.clocks.records.get(complaint_id)
    assert clock is not None
    # As stored before the documents listed clocks: counts per handler, no mark.
    loads = routing.db[LOADS]
    await loads.delete_many({})
    key = f"{HOSPITAL}:{clock['department']}"
    await loads.insert_one({"_id": key, "open": {clock["handler_id"]: 1}})
    older = ClockStore.of(routing.db, relay=OutboxRelay(routing.db[CLOCKS]))
    departments = [clock["department"]]
    found = await older.open_of_handler(HOSPITAL, clock["handler_id"], departments=departments)
    assert [c["_id"] for c in found] == [complaint_id]  # the query over every clock

    rebuilt = await rebuild_load(routing.db)
    assert (rebuilt.replaced, rebuilt.removed) == (1, 0)
    assert await loads.find_one({"_id": key}) == {
        "_id": key,
        "cases": {complaint_id: clock["handler_id"]},
    }
    mark = len(routing.finds.seen)
    again = ClockStore.of(routing.db, relay=OutboxRelay(routing.db[CLOCKS]))
    found = await again.open_of_handler(HOSPITAL, clock["handler_id"], departments=departments)
    assert [c["_id"] for c in found] == [complaint_id]
    assert all(list(where) == ["_id"] for _, where in routing.finds.seen[mark:])
    assert await again.open_cases_by_handler(HOSPITAL, clock["department"]) == {
        clock["handler_id"]: 1
    }


async def test_the_absence_endpoint_delegates_what_the_query_over_every_clock_found(
    routing_only: Platform,
) -> None:
    platform = routing_only
    complaints = [str(uuid4()) for _ in TEXTS]
    async with listening(platform, "complaint.routed") as bus:
        for n, (complaint_id, text) in enumerate(zip(complaints, TEXTS, strict=True)):
            received = sample.received(content=text, case_number=f"HZ-001-202611-{n:05d}")
            await bus.publish(received, complaint_id)
        routed = await bus.answer("complaint.routed", count=len(TEXTS), revision=1)
        handler_of = {e.complaint_id: e.payload["handler"]["staff_id"] for e in routed}
        clocks: ClockStore = platform.services["routing"].app.state.clocks

        async def scanned(handler_id: str) -> list[str]:
            query = {"hospital_id": HOSPITAL, "handler_id": handler_id, "status": {"$ne": STOPPED}}
            return sorted([c["_id"] async for c in clocks.collection.find(query, {"_id": 1})])

        # One handler's cases go to a colleague of another department, whose own cases,
        # in two departments now, then go to a third.
        first = handler_of[complaints[0]]
        department = first.split("-")[2]
        colleague = "hz-001-nursing-3" if department != "nursing" else "hz-001-finance-3"
        async with platform.client("routing", HOSPITAL) as client:
            expected = await scanned(first)
            url = f"/v1/admin/hospitals/{HOSPITAL}/staff/{first}/absence"
            body = {"absent": True, "delegate_to": colleague, "reason": "病假"}
            response = await client.post(url, json=body)
            assert response.status_code == 200, response.text
            assert sorted(response.json()["delegated"]) == expected and expected
            await bus.answer("complaint.routed", count=len(expected), revision=2)

            expected = await scanned(colleague)
            third = "hz-001-medical_affairs-2"
            url = f"/v1/admin/hospitals/{HOSPITAL}/staff/{colleague}/absence"
            body = {"absent": True, "delegate_to": third, "reason": "休假"}
            response = await client.post(url, json=body)
            assert response.status_code == 200, response.text
            assert sorted(response.json()["delegated"]) == expected
            assert set(expected) >= {c for c, h in handler_of.items() if h == first}
    # The department's document lists the cases under the one who holds them now.
    document = await clocks.load.collection.find_one({"_id": f"{HOSPITAL}:{department}"})
    assert document is not None
    assert {c for c, h in document["cases"].items() if h == third} >= {
        c for c, h in handler_of.items() if h == first
    }
