"""Routing's SLA scan as Celery runs it (services/routing/tasks.py): a real `huiyin-beat`
sends it on schedule and a real `huiyin-worker routing` runs it against routing's database
(the in-process routing service beside it consumes and routes as usual); a worker killed in
the middle of a pass gives the pass back to the broker, the next worker runs it to its end,
and each level of the case is told once, however many passes follow. The scan's time is
the test clock, moved forward in the running worker (shared/clock.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from shared.contracts import Envelope
from tests.support import events as sample
from tests.support.bus import listening
from tests.support.celery import CeleryProcess, CeleryProcesses, celery_processes
from tests.support.platform import Platform
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(240)

LADDER_EVENTS = ("complaint.sla_warning", "complaint.overdue", "complaint.escalated")


@pytest.fixture
async def celery(routing_only: Platform) -> AsyncIterator[CeleryProcesses]:
    with celery_processes(routing_only.infra, names=routing_only.names) as processes:
        yield processes


async def routing_worker(celery: CeleryProcesses, platform: Platform) -> CeleryProcess:
    worker = celery.start_worker("routing", settings=platform.settings["routing"])
    await asyncio.to_thread(celery.wait_ready, worker)
    return worker


async def scans(celery: CeleryProcesses, worker: CeleryProcess, outcome: str) -> float:
    return await asyncio.to_thread(
        celery.metric, worker, f"huiyin_worker_tasks_{outcome}_total", task="routing.sla_scan"
    )


async def test_the_beat_sends_the_scan_every_period_and_the_worker_runs_it(
    routing_only: Platform, celery: CeleryProcesses
) -> None:
    worker = await routing_worker(celery, routing_only)
    celery.start_beat("services.routing.tasks", sla_scan_seconds=1)

    async def three_passes() -> bool:
        return await scans(celery, worker, "succeeded") >= 3

    await eventually(three_passes, timeout=30, interval=0.2, what="three scans on schedule")
    assert await scans(celery, worker, "failed") == 0


async def test_the_worker_runs_the_sweep_of_old_slots(
    routing_only: Platform, celery: CeleryProcesses
) -> None:
    worker = await routing_worker(celery, routing_only)
    celery.app("routing").send_task("routing.sla_sweep")

    async def swept() -> bool:
        return (
            await asyncio.to_thread(
                celery.metric,
                worker,
                "huiyin_worker_tasks_succeeded_total",
                task="routing.sla_sweep",
            )
            >= 1
        )

    await eventually(swept, timeout=30, interval=0.2, what="the sweep run by the worker")


async def test_a_scan_cut_off_by_a_killed_worker_runs_again_and_tells_each_level_once(
    routing_only: Platform, celery: CeleryProcesses
) -> None:
    platform = routing_only
    database = platform.infra.database
    if database is None:
        pytest.skip("the database is external; this test pauses it to hold a scan mid-pass")
    complaint_id = str(uuid4())
    async with listening(platform, "complaint.routed", *LADDER_EVENTS) as bus:
        await bus.publish(
            sample.received(received_at=datetime.now(UTC), content="出院结算时发现重复收费。"),
            complaint_id,
        )
        await bus.answer("complaint.routed")
        # Past the reply deadline and every overdue step: the case is four weeks unanswered.
        celery.move_clock(timedelta(days=28))

        worker = await routing_worker(celery, platform)
        await asyncio.to_thread(database.pause)  # the pass will wait on its first read
        try:
            celery.app("routing").send_task("routing.sla_scan")

            async def began() -> bool:
                return await scans(celery, worker, "started") >= 1

            await eventually(began, timeout=10, interval=0.05, what="the pass to begin")
            await asyncio.to_thread(celery.kill, worker)
        finally:
            await asyncio.to_thread(database.resume)

        worker = await routing_worker(celery, platform)

        async def passes_done(count: int) -> bool:
            return await scans(celery, worker, "succeeded") >= count

        await eventually(
            lambda: passes_done(1), timeout=60, what="the pass given back, run to its end"
        )

        async def steps_told() -> list[Envelope]:
            await bus.drain()
            return [e for e in bus.seen if e.type in LADDER_EVENTS]

        told = await eventually(steps_told, timeout=30, what="the ladder's first steps")
        # More passes, as the beat would send them: the case climbs, nothing twice.
        for count in (2, 3, 4):
            celery.app("routing").send_task("routing.sla_scan")
            await eventually(lambda c=count: passes_done(c), timeout=60, what=f"pass {count}")
        await bus.drain()

    ladder = [e for e in bus.seen if e.type in LADDER_EVENTS]
    assert told and all(e.complaint_id == complaint_id for e in ladder)
    events_per_step = Counter(
        (e.payload["level"], e.payload["round"]) for e in {e.event_id: e for e in ladder}.values()
    )
    assert {step: n for step, n in events_per_step.items() if n > 1} == {}
    assert await scans(celery, worker, "failed") == 0
