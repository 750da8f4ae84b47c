"""Routing alone against the real broker and MongoDB-wire server: events published onto
the exchange move the SLA clock, and routing's answers come back on the exchange —
a re-route is revision 2, an approved extension a deadline change, a second dispute an
escalation to the hospital's leadership; delegation is the next revision; a deadline in
a year the calendar lacks waits (routed at once, nothing parked) and is counted. And the
clock store alone: the pending index lists every waiting clock, whatever the order of its
changes."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo.errors import PyMongoError

from deploy.servers import Infrastructure
from services.routing.adapters.clocks import CLOCKS, OPEN, STOPPED, ClockStore
from shared.outbox import OutboxRelay
from shared.records import Decide, Decision
from shared.runtime import mongo_client
from tests.support import events as sample
from tests.support.bus import ROUTING_ANSWERS, listening
from tests.support.metrics import metric
from tests.support.parked import wait_for_parked
from tests.support.platform import Platform

HOSPITAL = "hz-001"


async def test_reroute_extension_dispute_and_delegation_answer_on_the_exchange(
    routing_only: Platform,
) -> None:
    platform = routing_only
    complaint_id = str(uuid4())
    received_at = datetime(2026, 11, 2, 1, tzinfo=UTC)  # Monday 09:00 in China
    async with listening(platform, *ROUTING_ANSWERS) as bus:
        await bus.publish(
            sample.received(
                received_at=received_at, content="出院结算时发现重复收费，收费员态度也很差。"
            ),
            complaint_id,
        )
        [first] = await bus.answer("complaint.routed", revision=1)
        assert first.payload["department"] == "finance"
        assert [d["code"] for d in first.payload["co_departments"]] == ["discipline"]

        # The office re-routes: a new decision, revision 2, with the reason.
        await bus.publish(
            sample.reroute_requested(
                at=received_at + timedelta(hours=2),
                department="discipline",
                reason="主要是服务态度问题",
                content="收费员态度很差",
                target_staff_id="hz-001-discipline-2",
            ),
            complaint_id,
        )
        [second] = await bus.answer("complaint.routed", revision=2)
        assert second.payload["department"] == "discipline"
        assert second.payload["reason"] == "主要是服务态度问题"
        assert second.payload["handler"]["staff_id"] != "hz-001-discipline-2"
        assert second.payload["recused"] == ["hz-001-discipline-2"]
        assert second.payload["due_at"] == first.payload["due_at"]
        clocks = platform.services["routing"].app.state.clocks
        handler = second.payload["handler"]["staff_id"]
        assert (await clocks.open_cases_by_handler(HOSPITAL, "discipline")).get(handler) == 1
        assert await clocks.open_cases_by_handler(HOSPITAL, "finance") == {}  # load moved

        # Leadership approved five more working days.
        await bus.publish(
            sample.extension_approved(
                at=received_at + timedelta(days=1), working_days=5, reason="需调取监控"
            ),
            complaint_id,
        )
        [extended] = await bus.answer("complaint.deadline_changed", reason="需调取监控")
        assert extended.payload["previous_due_at"] == first.payload["due_at"]
        assert extended.payload["working_days"] == 5
        assert extended.payload["due_at"] > first.payload["due_at"]

        # The second dispute: a re-review deadline and an escalation to leadership.
        await bus.publish(
            sample.reopened(
                at=received_at + timedelta(days=14),
                reason="仍不认可",
                reopen_count=2,
                flagged=True,
            ),
            complaint_id,
        )
        [escalated] = await bus.answer("complaint.escalated")
        assert escalated.payload["level"] == "leadership"
        assert escalated.payload["reason"] == "投诉第2次被申请复核"
        assert [p["staff_id"] for p in escalated.payload["recipients"]] == ["hz-001-leadership-1"]
        await bus.answer("complaint.deadline_changed", reason="投诉人对处理结果有异议，重新核实")

        # The handler goes on leave: their open case is delegated, revision 3.
        async with platform.client("routing", HOSPITAL) as client:
            colleague = next(
                f"hz-001-discipline-{n}" for n in (1, 3) if f"hz-001-discipline-{n}" != handler
            )
            url = f"/v1/admin/hospitals/{HOSPITAL}/staff/{handler}/absence"
            body = {"absent": True, "delegate_to": colleague, "reason": "病假"}
            response = await client.post(url, json=body)
            assert response.status_code == 200, response.text
            assert response.json()["delegated"] == [complaint_id]
            other = await client.post(
                "/v1/admin/hospitals/hz-002/staff/hz-002-finance-1/absence", json={"absent": True}
            )
            assert other.status_code == 403  # a hospital changes only its own staff
        [third] = await bus.answer("complaint.routed", revision=3)
        assert third.payload["handler"]["staff_id"] == colleague
        assert third.payload["reason"].startswith("委托：")

        # A receipt in a year no calendar covers is routed all the same, its deadline
        # pending (nothing parked), and the refusal counted once.
        calendar = platform.services["routing"].app.state.calendar
        uncovered = calendar.covered_until().year + 1
        waiting_id = str(uuid4())
        await bus.publish(
            sample.received(received_at=datetime(uncovered, 3, 2, 1, tzinfo=UTC)), waiting_id
        )
        [waiting] = await bus.answer("complaint.routed", deadline_pending_year=uncovered)
        assert waiting.complaint_id == waiting_id and waiting.payload["due_at"] is None
        assert waiting.payload["handler"] is not None
        assert await wait_for_parked(platform, "routing", 0) == []
        assert await metric(platform, "routing", "huiyin_calendar_refusals_total") == 1

    async with platform.client("routing") as client:
        ready = (await client.get("/readyz")).json()
    assert ready["checks"]["calendar"].startswith("ok")


# --- the clock store on the real server: the pending index follows every change ------------


@pytest.fixture
async def clocks(infrastructure: Infrastructure) -> AsyncIterator[ClockStore]:
    client = mongo_client(infrastructure.mongo_url)
    name = f"t{secrets.token_hex(4)}_routing"
    try:
        # The relay is never started: the events of these changes only wait in the outbox.
        yield ClockStore.of(client[name], relay=OutboxRelay(client[name][CLOCKS]))
    finally:
        await client.drop_database(name)
        await client.close()


def waiting_for(year: int) -> Decide:
    def decide(clock: dict[str, Any]) -> Decision:
        return Decision({"$set": {"status": OPEN, "deadline_pending": {"year": year, "rule": {}}}})

    return decide


def stopping(clock: dict[str, Any]) -> Decision:
    return Decision({"$set": {"status": STOPPED, "deadline_pending": None}})


async def test_a_waiting_clock_is_listed_under_the_entry_it_carries_whatever_the_order(
    clocks: ClockStore,
) -> None:
    year = 2099
    clock = {
        "_id": "c1",
        "hospital_id": HOSPITAL,
        "department": "finance",
        "handler_id": "hz-001-finance-1",
        "status": OPEN,
        "deadline_pending": {"year": year, "rule": {}},
        "applied_events": [],
    }
    assert await clocks.start(clock, [], entry="received-1") is not None
    started = await clocks.records.get("c1")
    assert started is not None and started["deadline_pending"]["entry"] == "received-1"
    assert (await clocks.pending.waiting(year))["c1"]["entry"] == "received-1"
    await clocks.change("c1", stopping)
    assert await clocks.pending.waiting(year) == {}  # removed by its name

    # Stops and re-reviews that wait again, many at once: each lists the year before the
    # clock says it waits, and a stop removes only the entry of the wait it ended.
    await asyncio.gather(
        *(clocks.change("c1", stopping if n % 3 else waiting_for(year)) for n in range(30))
    )
    final = await clocks.records.get("c1")
    listed = await clocks.pending.waiting(year)
    assert final is not None
    if final["status"] == OPEN:
        assert listed["c1"]["entry"] == final["deadline_pending"]["entry"]
    else:
        assert listed == {}
    load = await clocks.open_cases_by_handler(HOSPITAL, "finance")
    assert load.get("hz-001-finance-1", 0) == (1 if final["status"] == OPEN else 0)


async def test_a_change_that_fails_leaves_at_most_an_entry_never_an_unlisted_wait(
    clocks: ClockStore,
) -> None:
    clock = {"_id": "c2", "hospital_id": HOSPITAL, "status": OPEN, "n": 0}
    await clocks.start(clock, [], entry="received-2")

    def conflicting(current: dict[str, Any]) -> Decision:
        # The server refuses this update (two operators on one field) after the year was
        # listed: the entry outlives the wait that never began.
        pending = {"year": 2098, "rule": {}}
        return Decision({"$set": {"deadline_pending": pending, "n": 1}, "$inc": {"n": 1}})

    with pytest.raises(PyMongoError):
        await clocks.change("c2", conflicting)
    stored = await clocks.records.get("c2")
    assert stored is not None and stored.get("deadline_pending") is None
    [listed] = (await clocks.pending.waiting(2098)).values()
    assert not await clocks.drop_stale(2098, "c2", listed)  # recent: its clock may be about to
    listed["since"] = datetime.now(UTC) - timedelta(hours=1)
    assert await clocks.drop_stale(2098, "c2", listed)
    assert await clocks.pending.waiting(2098) == {}
