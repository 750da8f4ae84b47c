"""Issue 9 (findings 5, 7, 8) on routing alone, real broker and MongoDB-wire server, with
the calendar ending where the chinese-calendar package ends (2026): complaints and
lifecycle steps of late December are decided at once with their deadlines pending; a
bogus year is refused (422 naming the festival) and changes nothing; a lawful year sets
every pending deadline (complaint.deadline_changed) and keeps its versions; every refusal
is counted; a routing that restarts after a year was stored counts what still waited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from deploy.servers import Infrastructure
from services.routing.adapters.calendar_store import CalendarStore
from services.routing.bootstrap import create_app as routing_app
from services.routing.domain.calendar import CalendarCorrection, WorkingCalendar
from services.routing.domain.deadline import DeadlineRule, count
from shared.contracts import ComplaintReceived
from shared.runtime import mongo_client
from tests.support import events as sample
from tests.support.bus import ROUTING_ANSWERS, Listener, listening
from tests.support.calendar_years import lawful_stand_in
from tests.support.mail import MailSink
from tests.support.metrics import metric
from tests.support.platform import Platform, serve
from tests.support.polling import eventually
from tests.support.year_end import (
    LAST_COVERED,
    NEXT_YEAR,
    lawful_next_year,
    platform_ending_with_the_package,
)

LAST = LAST_COVERED.year
DEC_20 = datetime(LAST, 12, 20, 2, tzinfo=UTC)  # a Sunday, 10:00 in China
FULL = WorkingCalendar(
    [CalendarCorrection(year=NEXT_YEAR, holidays=frozenset(lawful_stand_in(NEXT_YEAR)[0]))]
)


@pytest.fixture
async def routing_alone(
    infrastructure: Infrastructure, mail: MailSink, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Platform]:
    async with platform_ending_with_the_package(
        infrastructure, monkeypatch, smtp_port=mail.port, only=("routing",)
    ) as running:
        yield running


class Answers(Listener):
    """Routing's answers, each event counted once: the outbox publishes at least once, so
    the same event (same id) may arrive twice."""

    once_each = True


@pytest.fixture
async def bus(routing_alone: Platform) -> AsyncIterator[Listener]:
    async with listening(routing_alone, *ROUTING_ANSWERS, listener=Answers) as answers:
        yield answers


def receipt(at: datetime, **extra: Any) -> ComplaintReceived:
    return sample.received(received_at=at, **extra)


async def received_on_20_december(bus: Listener) -> str:
    """A complex complaint (15 working days) received on 20 December: its id."""
    complaint = str(uuid4())
    await bus.publish(receipt(DEC_20, case_type="complex"), complaint)
    return complaint


async def pending_gauge(platform: Platform) -> float:
    gauge = "huiyin_deadlines_pending_calendar"
    return await metric(platform, "routing", gauge, year=str(NEXT_YEAR)) or 0.0


async def wait_for_gauge(platform: Platform, value: float) -> None:
    async def reached() -> bool:
        return await pending_gauge(platform) == value

    await eventually(reached, interval=0.1, what=f"the pending gauge at {value}")


async def refusals(platform: Platform) -> float | None:
    return await metric(platform, "routing", "huiyin_calendar_refusals_total")


async def test_late_december_waits_a_bogus_year_is_refused_a_lawful_one_sets_every_deadline(
    routing_alone: Platform, bus: Listener
) -> None:
    platform = routing_alone
    # 1. Received 20 December, 15 working days (complex): routed at once, deadline pending.
    first = await received_on_20_december(bus)
    [routed] = await bus.answer("complaint.routed", revision=1)
    assert routed.complaint_id == first and routed.payload["handler"] is not None
    assert routed.payload["due_at"] is None
    assert routed.payload["deadline_pending_year"] == NEXT_YEAR

    # 2. A 30-working-day extension of a known December deadline crosses the year end.
    second = str(uuid4())
    await bus.publish(receipt(datetime(LAST, 12, 1, 2, tzinfo=UTC)), second)
    await bus.answer("complaint.routed", count=2)
    await bus.publish(
        sample.extension_approved(
            at=datetime(LAST, 12, 2, tzinfo=UTC), working_days=30, reason="需鉴定"
        ),
        second,
    )
    [extension] = await bus.answer("complaint.deadline_changed", reason="需鉴定")
    assert extension.payload["due_at"] is None
    assert extension.payload["deadline_pending_year"] == NEXT_YEAR

    # 3. A supplement restart and 4. a re-review, both on 30 December.
    third, fourth = str(uuid4()), str(uuid4())
    for complaint in (third, fourth):
        await bus.publish(receipt(datetime(LAST, 11, 2, 1, tzinfo=UTC)), complaint)
    await bus.answer("complaint.routed", count=4)
    late = datetime(LAST, 12, 30, 2, tzinfo=UTC)
    await bus.publish(sample.supplement_requested(at=late), third)
    await bus.publish(sample.supplemented(at=late), third)
    await bus.publish(sample.reopened(at=late, reason="不认可", reopen_count=1), fourth)
    waiting = await bus.answer(
        "complaint.deadline_changed", count=3, deadline_pending_year=NEXT_YEAR
    )
    assert {e.complaint_id for e in waiting} == {second, third, fourth}
    assert await refusals(platform) == 4  # one per deadline
    await wait_for_gauge(platform, 4)

    async with platform.client("routing", "bureau") as bureau:
        response = await bureau.get("/readyz")
        ready = response.json()
        assert response.status_code == 200 and ready["status"] == "ready", ready
        assert ready["checks"]["calendar"].startswith("ok")  # a note, not a failure
        assert f"4 for {NEXT_YEAR}" in ready["checks"]["calendar"]

        # Finding 7: the tester's bogus year is refused, naming the field and the festivals.
        bogus = await bureau.put(
            f"/v1/admin/calendar/{NEXT_YEAR}", json={"holidays": [f"{NEXT_YEAR}-01-02"]}
        )
        assert bogus.status_code == 422, bogus.text
        body = bogus.json()
        assert body["code"] == "invalid_request"
        assert {e["field"] for e in body["errors"]} == {"holidays"}
        for festival in ("元旦", "春节", "清明节", "端午节", "中秋节", "国庆节"):
            assert festival in body["message"]
        history = (await bureau.get(f"/v1/admin/calendar/{NEXT_YEAR}")).json()
        assert history["versions"] == [] and history["source"] == "none"
        assert (await bureau.get("/v1/admin/calendar")).json()["covered_until"] == str(LAST_COVERED)

        # A lawful year: stored as version 1, applied, every pending deadline counted.
        loaded = await bureau.put(f"/v1/admin/calendar/{NEXT_YEAR}", json=lawful_next_year())
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["covered_until"] == f"{NEXT_YEAR}-12-31"
        dated = await bus.answer("complaint.deadline_changed", count=4, deadline_pending_year=None)
        by_complaint = {e.complaint_id: e.payload for e in dated}
        assert set(by_complaint) == {first, second, third, fourth}
        expected = count(DeadlineRule(reason="", counted_from=DEC_20, working_days=15), FULL)
        assert datetime.fromisoformat(by_complaint[first]["due_at"]) == expected.due_at
        assert by_complaint[first]["reason"].startswith(f"{NEXT_YEAR}年法定节假日安排已载入")
        assert by_complaint[second]["working_days"] == 30
        await wait_for_gauge(platform, 0)
        assert await refusals(platform) == 4

        # A correction is a second version; the first is kept, with who loaded each.
        again = await bureau.put(f"/v1/admin/calendar/{NEXT_YEAR}", json=lawful_next_year())
        assert again.status_code == 200
        history = (await bureau.get(f"/v1/admin/calendar/{NEXT_YEAR}")).json()
        assert [(v["version"], v["by"]) for v in history["versions"]] == [
            (1, "bureau"),
            (2, "bureau"),
        ]
        assert history["version"] == 2 and history["source"] == "bureau"
        # Two more watch passes publish nothing more: the recount is idempotent.
        watch = platform.services["routing"].app.state.calendar_watch
        passes = watch.passes

        async def watched_twice() -> bool:
            return watch.passes >= passes + 2

        await eventually(watched_twice, interval=0.1, what="two passes of the calendar watch")
        await bus.answer("complaint.deadline_changed", count=7)
        assert bus.distinct("complaint.deadline_changed") == 7


async def test_a_routing_that_restarts_after_a_year_was_stored_counts_what_waited(
    routing_alone: Platform, bus: Listener
) -> None:
    platform = routing_alone
    complaint = await received_on_20_december(bus)
    await bus.answer("complaint.routed", deadline_pending_year=NEXT_YEAR)
    await platform.services["routing"].stop()
    # The year was stored (by another replica, or just before a crash) but nothing recounted.
    holidays = lawful_stand_in(NEXT_YEAR)[0]
    client = mongo_client(platform.infra.mongo_url)
    try:
        store = CalendarStore(client[platform.settings["routing"].database])
        correction = CalendarCorrection(year=NEXT_YEAR, holidays=frozenset(holidays))
        assert await store.save(correction, by="bureau") == 1
    finally:
        await client.close()
    settings = platform.settings["routing"]
    platform.services["routing"] = await serve(routing_app(settings), settings.http_port)
    [dated] = await bus.answer("complaint.deadline_changed", deadline_pending_year=None)
    assert dated.complaint_id == complaint
    expected = count(DeadlineRule(reason="", counted_from=DEC_20, working_days=15), FULL)
    assert datetime.fromisoformat(dated.payload["due_at"]) == expected.due_at
