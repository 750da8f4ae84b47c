"""Every lifecycle path of issue 3 through the real services: acceptance review
(supplement, not accepted, transferred, on the spot), handling with notes and a finding,
extension, re-routing, closure, disputes up to leadership, confidentiality and the
tamper-evident timeline. Real RabbitMQ, the MongoDB-wire server and SMTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.deadline import reply_due_at
from shared.runtime import mongo_client
from tests.support.calendar_years import lawful_stand_in
from tests.support.complaints import complaint_when
from tests.support.mail import MailSink, body_of
from tests.support.platform import Platform
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

OFFICE = "hz-001-complaint_office-1"
LEADER = "hz-001-leadership-1"
COMPLAINANT = {
    "name": "李娜",
    "phone": "13800001111",
    "email": "lina@patients.example.org",
    "address": "杭州市上城区清波街道某小区3幢",
    "id_number": "11010519491231002X",
    "relation": "family",
}
FEES = {
    "channel": "web",
    "content": "出院结算时发现CT检查费重复收取，收费处态度敷衍。",
    "demand": "退还多收的费用并说明原因。",
    "complainant": COMPLAINANT,
    "received_by": OFFICE,
}


async def register(intake: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await intake.post("/v1/complaints", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def act(
    intake: httpx.AsyncClient,
    complaint_id: str,
    action: str,
    body: dict[str, Any],
    code: int = 200,
) -> dict[str, Any]:
    response = await intake.post(f"/v1/complaints/{complaint_id}/{action}", json=body)
    assert response.status_code == code, response.text
    return response.json()


async def read(intake: httpx.AsyncClient, complaint_id: str, staff: str = OFFICE) -> dict[str, Any]:
    response = await intake.get(f"/v1/complaints/{complaint_id}", headers={"X-Huiyin-Staff": staff})
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


async def routed(intake: httpx.AsyncClient, complaint_id: str, revision: int = 1) -> dict[str, Any]:
    """The complaint (as the office reads it) once routing's decision `revision` is applied."""
    return await complaint_when(
        intake,
        complaint_id,
        lambda assignment: assignment["revision"] >= revision,
        headers={"X-Huiyin-Staff": OFFICE},
    )


async def test_accept_investigate_find_reply_close(platform: Platform, mail: MailSink) -> None:
    async with platform.staff_client("intake", "hz-001") as intake:
        receipt = await register(intake, FEES)
        assert receipt["status"] == "received"
        case_id = receipt["id"]
        document = await routed(intake, case_id)
        # Routed, but not yet accepted: the decision waits, the handler is not told yet.
        assert document["status"] == "received"
        assert document["assignment"]["department"] == "finance"
        assert document["first_receiver"]["accountable"] == OFFICE
        assert "accept" in document["allowed_actions"]

        accepted = await act(intake, case_id, "accept", {"actor": OFFICE})
        assert accepted["status"] == "assigned"
        assert accepted["first_receiver"]["accountable"] is None
        handler = accepted["assignment"]["handler"]["staff_id"]
        handler_mail = (await mail.wait_for(lambda m: "新投诉待处理" in m["Subject"]))[0]
        assert receipt["case_number"] in body_of(handler_mail)
        assert "李娜" not in body_of(handler_mail)

        noted = await act(
            intake, case_id, "notes", {"actor": handler, "content": "调取收费明细，CT费确有两笔。"}
        )
        assert noted["status"] == "in_progress"
        # No reply without a finding (处理意见).
        early = await act(intake, case_id, "reply", {"actor": handler, "content": "已处理"}, 409)
        assert "record_finding" in early["message"]
        await act(
            intake,
            case_id,
            "finding",
            {
                "actor": handler,
                "result": "substantiated",
                "summary": "系统重复计费，属实。",
                "responsible_department": "finance",
                "responsible_staff": ["hz-001-finance-2"],
                "remedy": {"description": "退还重复收取的CT费", "refund_amount": "368.00"},
            },
        )
        # A web complaint is written: an oral reply is refused, naming the field.
        oral = await act(
            intake, case_id, "reply", {"actor": handler, "content": "x", "form": "phone"}, 422
        )
        assert oral["errors"][0]["field"] == "form"
        replied = await act(
            intake, case_id, "reply", {"actor": handler, "content": "经核实属实，已退还368元。"}
        )
        assert replied["status"] == "replied" and replied["reply"]["form"] == "written"
        assert replied["finding"]["remedy"]["refund_amount"] == "368.00"
        reply_mail = await mail.wait_for(lambda m: "已答复" in m["Subject"])
        assert "已退还368元" in body_of(reply_mail[0])

        # The handler may not close; the office closes after the return visit.
        refused = await act(
            intake,
            case_id,
            "close",
            {
                "actor": handler,
                "satisfaction": "satisfied",
                "return_visit": {"method": "phone", "record": "x"},
            },
            403,
        )
        assert "投诉管理部门" in refused["message"]
        closed = await act(
            intake,
            case_id,
            "close",
            {
                "actor": OFFICE,
                "satisfaction": "basically_satisfied",
                "return_visit": {"method": "phone", "record": "电话回访，患者基本满意。"},
            },
        )
        assert closed["status"] == "closed"
        assert closed["closure"]["satisfaction_label"] == "基本满意"
        assert closed["allowed_actions"] == ["dispute"]
        types = [entry["type"] for entry in closed["timeline"]]
        assert types == [
            "received",
            "assigned",
            "accepted",
            "investigation_note",
            "finding",
            "replied",
            "closed",
        ]
        verdict = (await intake.get(f"/v1/complaints/{case_id}/timeline/verify")).json()
        assert verdict == {
            "ok": True,
            "count": 7,
            "head_hash": closed["timeline"][-1]["hash"],
            "first_bad_seq": None,
            "problem": None,
        }

    async with platform.client("intake") as public:
        tracked = (await public.get(f"/v1/track/{receipt['tracking_code']}")).json()
    assert tracked["status"] == "closed" and tracked["status_label"] == "已办结"


async def test_supplement_not_accepted_transferred_and_on_the_spot(
    platform: Platform, mail: MailSink
) -> None:
    async with platform.staff_client("intake", "hz-001") as intake:
        # Missing facts: ask for a supplement; it is accepted once the supplement arrives,
        # and counting starts from that day (Monday 2 Nov → supplied Monday 16 Nov).
        first = await register(intake, FEES | {"received_at": "2026-11-02T01:00:00Z"})
        asked = await act(
            intake,
            first["id"],
            "supplement-request",
            {"actor": OFFICE, "missing": "收费票据复印件"},
        )
        assert asked["status"] == "needs_supplement"
        asked_mail = await mail.wait_for(lambda m: "补充" in m["Subject"])
        assert "收费票据复印件" in body_of(asked_mail[0])
        await routed(intake, first["id"])
        arrived = "2026-11-16T02:00:00Z"
        supplied = await act(
            intake,
            first["id"],
            "supplement",
            {"actor": OFFICE, "content": "已补交票据", "received_at": arrived},
        )
        assert supplied["status"] == "assigned"
        assert [e["type"] for e in supplied["timeline"]][-2:] == ["supplemented", "accepted"]
        # The case type's working days, counted from the supplement day, not from receipt.
        days = supplied["assignment"]["working_days"]
        expected = reply_due_at(datetime.fromisoformat(arrived), days, WorkingCalendar())
        assert datetime.fromisoformat(supplied["assignment"]["due_at"]) < expected

        async def recounted() -> bool:
            current = await read(intake, first["id"])
            return datetime.fromisoformat(current["assignment"]["due_at"]) == expected

        await eventually(recounted)

        # The first receiver stays accountable until the office accepts or takes it over.
        handed = await register(intake, FEES | {"received_by": "hz-001-nursing-2"})
        assert handed["status"] == "received"
        wrong = await act(
            intake,
            handed["id"],
            "hand-over",
            {"actor": "hz-001-nursing-2", "to": "hz-001-nursing-3"},
            422,
        )
        assert wrong["errors"][0]["field"] == "to"
        over = await act(
            intake, handed["id"], "hand-over", {"actor": "hz-001-nursing-2", "to": OFFICE}
        )
        assert over["first_receiver"] == {"staff_id": "hz-001-nursing-2", "accountable": OFFICE}
        await act(
            intake, handed["id"], "hand-over", {"actor": "hz-001-nursing-2", "to": OFFICE}, 403
        )

        # Not accepted: already in court. Told to the complainant with the rule.
        second = await register(intake, FEES)
        refused = await act(
            intake,
            second["id"],
            "not-accept",
            {
                "actor": OFFICE,
                "reason": "in_court_or_mediation",
                "explanation": "您已就此事向人民法院起诉，依规不予受理。",
            },
        )
        assert refused["status"] == "not_accepted"
        assert refused["allowed_actions"] == []
        refused_mail = await mail.wait_for(lambda m: "不予受理" in m["Subject"])
        assert "人民法院" in body_of(refused_mail[0])
        # Outside the remit needs a referral, naming the field.
        third = await register(intake, FEES)
        missing = await act(
            intake,
            third["id"],
            "not-accept",
            {"actor": OFFICE, "reason": "outside_remit", "explanation": "不属于本院"},
            422,
        )
        assert "refer_to" in str(missing["errors"])

        # Transferred to the competent body.
        moved = await act(
            intake, third["id"], "transfer", {"actor": OFFICE, "to_body": "杭州市医疗保障局"}
        )
        assert moved["status"] == "transferred"
        transfer_mail = await mail.wait_for(lambda m: "转" in m["Subject"])
        assert "杭州市医疗保障局" in body_of(transfer_mail[0])

        # Resolved on the spot by the first receiver, and still recorded.
        oral = FEES | {"channel": "in_person", "received_by": "hz-001-nursing-2"}
        fourth = await register(intake, oral)
        spot = await act(
            intake,
            fourth["id"],
            "resolve-on-spot",
            {"actor": "hz-001-nursing-2", "outcome": "当场核对票据并退费，患者满意。"},
        )
        assert spot["status"] == "resolved_on_spot"
        # A terminal case allows nothing more: 409 with the (empty) list of what is allowed.
        late = await act(intake, fourth["id"], "accept", {"actor": OFFICE}, 409)
        assert late["allowed"] == []

    async with platform.client("intake") as public:
        tracked = (await public.get(f"/v1/track/{second['tracking_code']}")).json()
        assert tracked["not_accepted_reason"].startswith("已向人民法院起诉")
        tracked = (await public.get(f"/v1/track/{third['tracking_code']}")).json()
        assert tracked["transferred_to"] == "杭州市医疗保障局"


async def test_extension_reroute_and_disputes_up_to_leadership(
    platform: Platform, mail: MailSink
) -> None:
    async with platform.staff_client("intake", "hz-001") as intake:
        receipt = await register(intake, FEES | {"accepted": True})
        case_id = receipt["id"]
        document = await routed(intake, case_id)
        assert document["status"] == "assigned"
        handler = document["assignment"]["handler"]["staff_id"]
        due = datetime.fromisoformat(document["assignment"]["due_at"])

        # Extension: the handler asks, only leadership decides; approval moves the date.
        await act(
            intake,
            case_id,
            "extension-request",
            {"actor": handler, "working_days": 5, "reason": "需调取医保结算系统日志"},
        )
        again = await act(
            intake,
            case_id,
            "extension-request",
            {"actor": handler, "working_days": 1, "reason": "x"},
            409,
        )
        assert "already" in again["message"]
        await act(intake, case_id, "extension-decision", {"actor": OFFICE, "approve": True}, 403)
        await act(intake, case_id, "extension-decision", {"actor": LEADER, "approve": True})

        async def moved() -> dict[str, Any] | None:
            current = await read(intake, case_id)
            return (
                current if datetime.fromisoformat(current["assignment"]["due_at"]) > due else None
            )

        extended = await moved() or await eventually(moved)
        assert extended["extension"]["awaiting_deadline"] is False
        told = await mail.wait_for(
            lambda m: "延期" in m["Subject"] and m["To"] == COMPLAINANT["email"]
        )
        assert "需调取医保结算系统日志" in body_of(told[0])

        # Re-routing by the office: a new department, the reason recorded, a new handler told.
        await act(
            intake,
            case_id,
            "reroute",
            {"actor": handler, "department": "insurance_office", "reason": "x"},
            403,
        )
        await act(
            intake,
            case_id,
            "reroute",
            {"actor": OFFICE, "department": "insurance_office", "reason": "属医保结算问题"},
        )
        rerouted = await routed(intake, case_id, revision=2)
        assert rerouted["assignment"]["department"] == "insurance_office"
        assert rerouted["assignment"]["reason"] == "属医保结算问题"
        new_handler = rerouted["assignment"]["handler"]["staff_id"]
        assert new_handler.startswith("hz-001-insurance_office-")

        # Two disputes: the second flags the case to leadership, who are e-mailed.
        finding = {"actor": new_handler, "result": "partly_substantiated", "summary": "部分属实"}
        answer = {"actor": new_handler, "content": "经核实部分属实，已退费。"}
        await act(intake, case_id, "finding", finding)
        await act(intake, case_id, "reply", answer)
        first = await act(
            intake, case_id, "dispute", {"actor": OFFICE, "reason": "对退费金额有异议"}
        )
        assert first["status"] == "reopened" and first["reopen_count"] == 1
        assert first["flagged"] is False
        # Re-review needs a new finding before a new reply.
        stale = await act(intake, case_id, "reply", answer, 409)
        assert "finding" in stale["message"]
        await act(intake, case_id, "finding", finding | {"summary": "复核后维持原意见"})
        await act(intake, case_id, "reply", answer)
        second = await act(intake, case_id, "dispute", {"actor": OFFICE, "reason": "仍不认可"})
        assert second["reopen_count"] == 2 and second["flagged"] is True
        escalation = await mail.wait_for(lambda m: "督办" in m["Subject"] or "复核" in m["Subject"])
        assert receipt["case_number"] in body_of(escalation[0])


async def test_identity_is_encrypted_at_rest_and_masked_by_role(platform: Platform) -> None:
    body = FEES | {"accepted": True, "target_staff_id": "hz-001-finance-3"}
    async with platform.staff_client("intake", "hz-001") as intake:
        receipt = await register(intake, body)
        case_id = receipt["id"]
        await routed(intake, case_id)
        full = await read(intake, case_id, OFFICE)
        assert full["identity_view"] == "full"
        assert full["complainant"]["name"] == "李娜"
        assert full["complainant"]["id_number"] == "11010519491231002X"
        handler = full["assignment"]["handler"]["staff_id"]
        # 回避: never the person complained about, nor whom the hospital marks conflicted
        # (deploy/region.example.yaml: finance-1 is related to finance-3).
        assert set(full["assignment"]["recused"]) == {"hz-001-finance-1", "hz-001-finance-3"}
        assert handler == "hz-001-finance-2"
        masked = await read(intake, case_id, handler)
        assert masked["identity_view"] == "masked"
        assert masked["complainant"]["name"] == "李*"
        assert masked["complainant"]["phone"] == "138****1111"
        assert "11010519491231002X" not in str(masked)
        about = await read(intake, case_id, "hz-001-finance-3")
        assert about["identity_view"] == "none" and about["complainant"] is None
        nobody = (await intake.get(f"/v1/complaints/{case_id}")).json()
        assert nobody["identity_view"] == "masked"
        # The person complained about may not act on the case either.
        await act(
            intake,
            case_id,
            "notes",
            {"actor": "hz-001-finance-3", "content": "我没有"},
            403,
        )

    client = mongo_client(platform.infra.mongo_url)
    try:
        stored = await client[platform.names.database("intake")]["complaints"].find_one(
            {"_id": case_id}
        )
    finally:
        await client.close()
    raw = str(stored)
    for secret in ("李娜", "13800001111", "lina@patients", "11010519491231002X", "清波街道"):
        assert secret not in raw, secret


async def test_altering_or_removing_history_is_detected(platform: Platform) -> None:
    async with platform.staff_client("intake", "hz-001") as intake:
        receipt = await register(intake, FEES | {"accepted": True})
        case_id = receipt["id"]
        document = await routed(intake, case_id)
        handler = document["assignment"]["handler"]["staff_id"]
        await act(intake, case_id, "notes", {"actor": handler, "content": "核对票据"})
        assert (await intake.get(f"/v1/complaints/{case_id}/timeline/verify")).json()["ok"]

        client = mongo_client(platform.infra.mongo_url)
        complaints = client[platform.names.database("intake")]["complaints"]
        try:
            await complaints.update_one(
                {"_id": case_id}, {"$set": {"timeline.1.note": "已与患者和解"}}
            )
            altered = (await intake.get(f"/v1/complaints/{case_id}/timeline/verify")).json()
            assert altered["ok"] is False and altered["first_bad_seq"] == 1
            await complaints.update_one({"_id": case_id}, {"$pop": {"timeline": 1}})
            stored = await complaints.find_one({"_id": case_id})
        finally:
            await client.close()
        assert len(stored["timeline"]) == 3
        removed = (await intake.get(f"/v1/complaints/{case_id}/timeline/verify")).json()
        assert removed["ok"] is False


async def test_batch_upload_reports_each_item_and_is_idempotent(platform: Platform) -> None:
    box = {"channel": "suggestion_box", "kind": "suggestion", "anonymous": True}
    items = [
        {"idempotency_key": "box-2026-11-1", "complaint": box | {"content": "候诊区座椅太少"}},
        {"idempotency_key": "box-2026-11-2", "complaint": box | {"content": ""}},
        {"idempotency_key": "box-2026-11-3", "complaint": box | {"content": "厕所无洗手液"}},
        {
            "idempotency_key": "box-2026-11-4",
            "complaint": box | {"content": "x", "target_department": "no_such"},
        },
    ]
    async with platform.client("intake", "hz-002") as intake:
        first = (await intake.post("/v1/complaints/batch", json={"items": items})).json()
        outcomes = [i["outcome"] for i in first["items"]]
        assert outcomes == ["created", "invalid", "created", "invalid"]
        assert first["items"][1]["errors"][0]["field"] == "items.1.complaint.content"
        assert first["items"][3]["errors"][0]["field"] == "items.3.complaint.target_department"
        assert (first["created"], first["replayed"], first["failed"]) == (2, 0, 2)

        items[1]["complaint"]["content"] = "夜间急诊收费窗口排长队"
        items[2]["complaint"] = box | {"content": "改过的内容"}
        second = (await intake.post("/v1/complaints/batch", json={"items": items})).json()
        outcomes = [i["outcome"] for i in second["items"]]
        assert outcomes == ["replayed", "created", "conflict", "invalid"]
        assert second["items"][0]["id"] == first["items"][0]["id"]
        page = (await intake.get("/v1/complaints", params={"channel": "suggestion_box"})).json()
        assert len(page["items"]) == 3  # nothing half-stored, nothing twice


async def test_priority_and_co_handling_departments_are_routed(platform: Platform) -> None:
    urgent = {
        "channel": "in_person",
        "content": "病房里患者坠床后意识不清，护士迟迟不来处理，还多收了护理费。",
        "received_by": OFFICE,
        "accepted": True,
        "target_staff_id": "hz-001-finance-3",
        "group": True,
    }
    async with platform.staff_client("intake", "hz-001") as intake:
        receipt = await register(intake, urgent)
        assignment = (await routed(intake, receipt["id"]))["assignment"]
    assert assignment["priority"] == "urgent"
    assert assignment["action_due_at"] is not None  # act within hours (docs/rules.md#routing P5)
    assert {"坠床", "意识不清"} <= set(assignment["matched_keywords"])
    assert assignment["co_departments"], assignment  # several categories: lead + co-handlers
    assert assignment["department"] not in {d["code"] for d in assignment["co_departments"]}
    assert assignment["acceptance_due_at"] <= assignment["due_at"]


async def test_bureau_loads_the_calendar_and_an_absent_handlers_cases_are_delegated(
    platform: Platform, mail: MailSink
) -> None:
    holidays, _ = lawful_stand_in(2029)  # an invented year that keeps the holiday law
    year = {"holidays": [d.isoformat() for d in holidays], "workdays": []}
    async with (
        platform.client("routing", "bureau") as bureau,
        platform.client("routing", "hz-001") as hospital,
    ):
        assert (await hospital.put("/v1/admin/calendar/2029", json=year)).status_code == 403
        bad = await bureau.put("/v1/admin/calendar/2029", json={"holidays": ["2030-01-01"]})
        assert bad.status_code == 422 and "2030-01-01" in bad.text
        loaded = await bureau.put("/v1/admin/calendar/2029", json=year)
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["covered_until"] == "2029-12-31"
        assert 2029 in (await bureau.get("/v1/admin/calendar")).json()["corrected_years"]
        ready = (await bureau.get("/readyz")).json()
        assert ready["checks"]["calendar"] == "ok"

    async with platform.staff_client("intake", "hz-001") as intake:
        receipt = await register(intake, FEES | {"accepted": True})
        first = (await routed(intake, receipt["id"]))["assignment"]
        absent = first["handler"]["staff_id"]
        colleague = next(
            f"hz-001-finance-{n}" for n in (1, 2, 3) if f"hz-001-finance-{n}" != absent
        )
        async with platform.client("routing", "hz-001") as routing:
            away = await routing.post(
                f"/v1/admin/hospitals/hz-001/staff/{absent}/absence",
                json={"absent": True, "delegate_to": colleague, "reason": "休假"},
            )
        assert away.status_code == 200, away.text
        assert receipt["id"] in away.json()["delegated"]
        moved = (await routed(intake, receipt["id"], revision=2))["assignment"]
        assert moved["handler"]["staff_id"] == colleague
        assert moved["reason"].startswith("委托")
        assert moved["due_at"] == first["due_at"]  # delegation does not move the deadline
        timeline = (await read(intake, receipt["id"]))["timeline"]
        assert timeline[-1]["type"] == "reassigned" and "委托" in timeline[-1]["data"]["reason"]
