"""Issue 9 through all four services (real RabbitMQ, MongoDB-wire server and SMTP), with
routing's calendar ending where the chinese-calendar package ends: a complaint whose
deadline falls in the next year is assigned at once, its handler and complainant told the
deadline waits for that year's holiday notice, and tracking shows no date; an extension
across the year end, a supplement restart and a re-review wait the same way. The bureau's
bogus year is refused; its lawful year sets every deadline in intake, and the complainant
whose extension waited is told the new date. Six refusals, counted six times."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from deploy.servers import Infrastructure
from services.routing.domain.calendar import WorkingCalendar
from shared.contracts import CHINA
from tests.e2e.test_lifecycle_paths import (
    COMPLAINANT,
    FEES,
    LEADER,
    OFFICE,
    act,
    read,
    register,
    routed,
)
from tests.support.complaints import complaint_when
from tests.support.mail import MailSink, body_of
from tests.support.metrics import metric
from tests.support.platform import Platform
from tests.support.polling import eventually
from tests.support.year_end import (
    LAST_COVERED,
    NEXT_YEAR,
    lawful_next_year,
    platform_ending_with_the_package,
    today,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

WAITS = f"办理时限待{NEXT_YEAR}年法定节假日安排载入后确定"
NURSING = FEES | {
    "content": "母亲住院输液，护士扎了四次针才扎上，还嫌我们事多。",
    "demand": "请护理部核实并改进。",
}


def investigation_days_reaching_next_year() -> int:
    """An ordinary investigation's working days (a deployment setting) long enough that a
    complaint received today has its deadline after the calendar's last day."""
    calendar = WorkingCalendar()
    if today() > LAST_COVERED:
        return 5  # today itself is not covered: every deadline waits
    days = calendar.working_days_between(today(), LAST_COVERED) + 3
    if days > 60:
        pytest.skip(f"the calendar ends {LAST_COVERED}: too far for a waiting deadline")
    return days


@pytest.fixture
async def year_end(
    infrastructure: Infrastructure, mail: MailSink, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Platform]:
    async with platform_ending_with_the_package(
        infrastructure,
        monkeypatch,
        smtp_port=mail.port,
        reply_working_days=investigation_days_reaching_next_year(),
    ) as running:
        yield running


AS_OFFICE = {"X-Huiyin-Staff": OFFICE}


async def waiting(intake: httpx.AsyncClient, complaint_id: str) -> dict[str, Any]:
    """The complaint once its deadline waits for next year's calendar."""

    def pending(assignment: dict[str, Any]) -> bool:
        return assignment.get("deadline_pending_year") == NEXT_YEAR

    return await complaint_when(intake, complaint_id, pending, headers=AS_OFFICE)


async def dated(intake: httpx.AsyncClient, complaint_id: str) -> dict[str, Any]:
    """The complaint once its deadline has a date."""

    def known(assignment: dict[str, Any]) -> bool:
        return bool(assignment.get("due_at"))

    return await complaint_when(intake, complaint_id, known, headers=AS_OFFICE)


async def test_year_end_deadlines_wait_and_are_set_when_the_bureau_loads_the_year(
    year_end: Platform, mail: MailSink
) -> None:
    platform = year_end
    async with platform.staff_client("intake", "hz-001") as intake:
        # A: assigned at once with its deadline pending; the handler and the complainant
        # are told it waits for next year's holiday notice; tracking shows no date.
        a = await register(intake, NURSING | {"accepted": True})
        a_doc = await waiting(intake, a["id"])
        assert a_doc["status"] == "assigned" and a_doc["assignment"]["due_at"] is None
        assert a_doc["assignment"]["handler"] is not None
        told = await mail.wait_for(lambda m: "新投诉待处理" in m["Subject"])
        assert WAITS in body_of(told[0]) and a["case_number"] in body_of(told[0])
        receipt = await mail.wait_for(
            lambda m: "受理登记" in m["Subject"] and a["case_number"] in m["Subject"]
        )
        assert WAITS in body_of(receipt[0])
        async with httpx.AsyncClient(base_url=platform.url("intake")) as public:
            tracked = (await public.get(f"/v1/track/{a['tracking_code']}")).json()
        assert tracked["status"] == "assigned" and tracked["due_at"] is None

        # B: a known deadline, then a 30-working-day extension across the year end.
        b = await register(intake, FEES | {"accepted": True})
        b_doc = await routed(intake, b["id"])
        if b_doc["assignment"]["due_at"] is None:
            pytest.skip("today's three-day deadline already waits: no known date to extend")
        due = datetime.fromisoformat(b_doc["assignment"]["due_at"]).date()
        if WorkingCalendar().working_days_between(due, LAST_COVERED) >= 30:
            pytest.skip("30 working days from today's deadline stay inside the calendar")
        b_handler = b_doc["assignment"]["handler"]["staff_id"]
        reason = "需调取医保结算系统日志"
        await act(
            intake,
            b["id"],
            "extension-request",
            {"actor": b_handler, "working_days": 30, "reason": reason},
        )
        await act(intake, b["id"], "extension-decision", {"actor": LEADER, "approve": True})
        b_doc = await waiting(intake, b["id"])
        assert b_doc["extension"]["awaiting_deadline"] is True
        assert not [m for m in mail.to(COMPLAINANT["email"]) if "延期" in m["Subject"]]

        # C: a supplement restarts counting; the restarted deadline waits too.
        c = await register(intake, NURSING)
        await routed(intake, c["id"])
        await act(intake, c["id"], "supplement-request", {"actor": OFFICE, "missing": "病历"})
        supplied = await act(intake, c["id"], "supplement", {"actor": OFFICE, "content": "已补"})
        assert supplied["status"] == "assigned"

        async def restarted() -> list[dict[str, Any]] | None:
            document = await read(intake, c["id"])
            changes = [e for e in document["timeline"] if e["type"] == "deadline_changed"]
            return changes if changes and "补齐" in changes[-1]["note"] else None

        [restart] = await eventually(restarted)
        assert WAITS in restart["note"] and restart["data"]["deadline_pending_year"] == NEXT_YEAR

        # D: a re-review after a dispute waits as well.
        d = await register(intake, NURSING | {"accepted": True})
        d_doc = await waiting(intake, d["id"])
        d_handler = d_doc["assignment"]["handler"]["staff_id"]
        finding = {"actor": d_handler, "result": "partly_substantiated", "summary": "部分属实"}
        await act(intake, d["id"], "finding", finding)
        await act(intake, d["id"], "reply", {"actor": d_handler, "content": "已批评教育。"})
        await act(intake, d["id"], "dispute", {"actor": OFFICE, "reason": "不认可"})

        async def re_review() -> list[dict[str, Any]] | None:
            document = await read(intake, d["id"])
            changes = [e for e in document["timeline"] if e["type"] == "deadline_changed"]
            return changes if changes and "重新核实" in changes[-1]["note"] else None

        await eventually(re_review)
        # A, B's extension, C at receipt and at its supplement, D at receipt and re-review.
        assert await metric(platform, "routing", "huiyin_calendar_refusals_total") == 6

    async with platform.client("routing", "bureau") as bureau:
        bogus = await bureau.put(
            f"/v1/admin/calendar/{NEXT_YEAR}", json={"holidays": [f"{NEXT_YEAR}-01-02"]}
        )
        assert bogus.status_code == 422 and "春节" in bogus.json()["message"]
        loaded = await bureau.put(f"/v1/admin/calendar/{NEXT_YEAR}", json=lawful_next_year())
        assert loaded.status_code == 200, loaded.text

    async with platform.staff_client("intake", "hz-001") as intake:
        for case in (a, b, c, d):
            document = await dated(intake, case["id"])
            assert document["assignment"]["deadline_pending_year"] is None
            assert datetime.fromisoformat(document["assignment"]["due_at"]).year >= NEXT_YEAR
        a_doc = await read(intake, a["id"])
        [loaded_entry] = [e for e in a_doc["timeline"] if e["type"] == "deadline_changed"]
        assert loaded_entry["note"].startswith(f"{NEXT_YEAR}年法定节假日安排已载入")
        async with httpx.AsyncClient(base_url=platform.url("intake")) as public:
            tracked = (await public.get(f"/v1/track/{a['tracking_code']}")).json()
        assert tracked["due_at"] == a_doc["assignment"]["due_at"]

        # The extension approved before the year was loaded is now told, with its date.
        extended = await mail.wait_for(
            lambda m: "延期" in m["Subject"] and m["To"] == COMPLAINANT["email"]
        )
        b_doc = await read(intake, b["id"])
        assert reason in body_of(extended[0]) and b_doc["extension"]["awaiting_deadline"] is False
        assert b_doc["assignment"]["due_at"] is not None

        # Whoever was told at assignment that the deadline waited now learns its date.
        def about_a(subject: str) -> Callable[[EmailMessage], bool]:
            return lambda m: subject in m["Subject"] and a["case_number"] in m["Subject"]

        [handler_told] = await mail.wait_for(about_a("答复期限已确定"))
        [complainant_told] = await mail.wait_for(about_a("答复期限告知"))
        assert complainant_told["To"] == COMPLAINANT["email"]
        due_day = datetime.fromisoformat(a_doc["assignment"]["due_at"]).astimezone(CHINA)
        for told_date in (handler_told, complainant_told):
            assert due_day.strftime("%Y年%m月%d日") in body_of(told_date)
    assert await metric(platform, "routing", "huiyin_calendar_refusals_total") == 6
