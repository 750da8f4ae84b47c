"""The monthly report as Celery files it (services/reporting/tasks.py, snapshots.py): a real
`huiyin-worker reporting` takes the past month's tables from the real reporting database on
the test clock's 1st of March, equal to what GET /v1/reports/monthly answers; sent again it
keeps what it filed, even when later events moved the live table; an operator's `replace`
files it anew. The platform's beat sends it at 01:00 China time on the 1st (and the 2nd and
3rd, which only catch up), each run named by the moment it fell due."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.beat import ScheduleEntry
from celery.schedules import crontab

from services.reporting.tasks import MONTHLY_REPORT
from shared.celery_app import TASK_MODULES, make_celery
from shared.celery_beat import beat_schedule, fell_due
from shared.contracts import CHINA
from shared.settings import ServiceSettings
from tests.integration.test_monthly_report import F4_REPLY, FEB, Case, cases, wait_consumed
from tests.support.bus import publish
from tests.support.celery import CeleryProcess, CeleryProcesses, celery_processes
from tests.support.platform import Platform
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(240)

MARCH_1ST = datetime(2026, 3, 1, 1, 0, tzinfo=CHINA)
HOSPITALS = ("hz-001", "hz-002", "hz-003")  # hz-003 received nothing


@pytest.fixture
async def celery(reporting_only: Platform) -> AsyncIterator[CeleryProcesses]:
    with celery_processes(reporting_only.infra, names=reporting_only.names) as processes:
        yield processes


async def publish_the_data_set(platform: Platform) -> int:
    """test_monthly_report.py's 15 complaints of January and February 2026, f4's late reply
    included: its table BUREAU."""
    random.seed(12)
    histories = cases()
    histories["f4"].replied(F4_REPLY)
    published = [e for cid, case in histories.items() for e in case.envelopes(cid)]
    await publish(platform, *published)
    await wait_consumed(platform, len(published))
    return len(published)


async def runs_done(celery: CeleryProcesses, worker: CeleryProcess, count: int) -> None:
    async def done() -> bool:
        succeeded = await asyncio.to_thread(
            celery.metric, worker, "huiyin_worker_tasks_succeeded_total", task=MONTHLY_REPORT
        )
        return succeeded >= count

    try:
        await eventually(done, timeout=60, interval=0.2, what=f"{count} monthly report runs")
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{worker.tail()}") from None


async def filed_documents(platform: Platform) -> dict[str, dict[str, Any]]:
    collection = platform.services["reporting"].app.state.snapshots.collection
    return {document["_id"]: document async for document in collection.find({})}


async def test_the_worker_files_the_past_months_tables_once(
    reporting_only: Platform, celery: CeleryProcesses
) -> None:
    platform = reporting_only
    consumed = await publish_the_data_set(platform)
    worker = celery.start_worker("reporting", settings=platform.settings["reporting"])
    await asyncio.to_thread(celery.wait_ready, worker)
    # The worker's clock at 01:00 on March 1st, China time: the past month is February.
    celery.move_clock(MARCH_1ST - datetime.now(UTC))
    app = celery.app("reporting")
    app.send_task(MONTHLY_REPORT)
    await runs_done(celery, worker, 1)

    async with platform.client("reporting", "bureau") as bureau:
        filed = (await bureau.get("/v1/reports/monthly/snapshots/2026-02")).json()
        live = (await bureau.get("/v1/reports/monthly", params={"from": "2026-02"})).json()
        assert filed["month"] == "2026-02"
        assert filed["table"] == live
        assert live["total"]["received"] == 5 and live["unit"] == "hospital"
        taken_at = datetime.fromisoformat(filed["taken_at"])
        assert abs(taken_at - MARCH_1ST) < timedelta(minutes=5)
        for hospital in HOSPITALS:
            named = {"hospital_id": hospital}
            one = await bureau.get("/v1/reports/monthly/snapshots/2026-02", params=named)
            assert one.status_code == 200, one.text
            now = await bureau.get("/v1/reports/monthly", params={"from": "2026-02", **named})
            assert one.json()["table"] == now.json(), hospital
        assert one.json()["table"]["rows"] == []  # hz-003: the empty table, as filed

        missing = await bureau.get("/v1/reports/monthly/snapshots/2026-01")
        assert missing.status_code == 404 and "2026-01" in missing.json()["message"]
        malformed = await bureau.get("/v1/reports/monthly/snapshots/2026-13")
        assert malformed.status_code == 422

    async with platform.client("reporting", "hz-001") as hospital:
        own = (await hospital.get("/v1/reports/monthly/snapshots/2026-02")).json()
        assert own["table"]["hospital_id"] == "hz-001" and own["table"]["unit"] == "department"
        other = await hospital.get(
            "/v1/reports/monthly/snapshots/2026-02", params={"hospital_id": "hz-002"}
        )
        assert other.status_code == 403

    documents = await filed_documents(platform)
    assert set(documents) == {
        "monthly/202602/bureau",
        "monthly/202602/hz-001",
        "monthly/202602/hz-002",
    }

    # A complaint received in February arrives after the report was filed: the live table
    # moves, the filed one stays; the run sent again (the 2nd's, a redelivery) writes nothing.
    late = Case("hz-001", FEB + timedelta(days=3)).envelopes("late")
    await publish(platform, *late)
    await wait_consumed(platform, consumed + len(late))
    app.send_task(MONTHLY_REPORT)
    app.send_task(MONTHLY_REPORT, kwargs={"month": "2026-02"})
    await runs_done(celery, worker, 3)
    assert await filed_documents(platform) == documents

    # Another month by hand, and February filed anew by an operator.
    app.send_task(MONTHLY_REPORT, kwargs={"month": "2026-01"})
    app.send_task(MONTHLY_REPORT, kwargs={"month": "2026-02", "replace": True})
    await runs_done(celery, worker, 5)
    async with platform.client("reporting", "bureau") as bureau:
        for month, received in (("2026-01", 10), ("2026-02", 6)):
            filed = (await bureau.get(f"/v1/reports/monthly/snapshots/{month}")).json()
            live = (await bureau.get("/v1/reports/monthly", params={"from": month})).json()
            assert filed["table"] == live and live["total"]["received"] == received, month
    assert (
        await asyncio.to_thread(
            celery.metric, worker, "huiyin_worker_tasks_failed_total", task=MONTHLY_REPORT
        )
        == 0
    )


def test_the_beat_sends_the_monthly_report_at_one_oclock_china_time_on_the_first() -> None:
    entry = beat_schedule(list(TASK_MODULES.values()))[MONTHLY_REPORT]
    assert entry["task"] == MONTHLY_REPORT
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)  # shared/celery_beat.py accepts crontab or every()
    app = make_celery("beat", ServiceSettings())

    def run_of(last_run_at: datetime, now: datetime) -> datetime | None:
        """The moment the run due at `now` is named by (None: nothing due)."""
        schedule.nowfun = lambda: now
        beat_entry = ScheduleEntry(
            name=MONTHLY_REPORT, task=MONTHLY_REPORT, schedule=schedule, app=app,
            last_run_at=last_run_at,
        )  # fmt: skip
        return fell_due(beat_entry) if beat_entry.is_due().is_due else None

    def china(*when: int) -> datetime:
        return datetime(*when, tzinfo=CHINA)

    # 01:00 on December 1st in China is 17:00 UTC on November 30th.
    assert run_of(china(2026, 11, 30, 20), china(2026, 12, 1, 1, 0, 2)) == datetime(
        2026, 11, 30, 17, tzinfo=UTC
    )
    assert run_of(china(2026, 11, 30, 20), china(2026, 12, 1, 0, 59)) is None
    assert run_of(china(2026, 12, 1, 1, 0, 2), china(2026, 12, 2, 1, 0, 2)) == china(2026, 12, 2, 1)
    # After the 3rd, the next month's 1st.
    assert run_of(china(2026, 12, 3, 1, 0, 2), china(2027, 1, 1, 1, 0, 2)) == china(2027, 1, 1, 1)
    assert run_of(china(2026, 12, 3, 1, 0, 2), china(2026, 12, 31, 23)) is None
