"""The escalation ladder on the complaint (issue 11): intake alone against the real broker and
MongoDB-wire server records each level routing reaches and who notification's notices
reached, and a supervisor of the level acknowledges it with what they ordered (督办意见):
the complaint office and leadership proven by their hospital, the bureau's supervisors by
the bureau's own key."""

from __future__ import annotations

from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.contracts import Envelope, Person
from shared.staff_assertion import public_pem
from tests.support import events as sample
from tests.support.bus import listening, publish
from tests.support.platform import Platform
from tests.support.polling import eventually

OFFICE = Person(staff_id="hz-001-complaint_office-1", name="田桂英")
LEADER = Person(staff_id="hz-001-leadership-1", name="郑国华")
SUPERVISOR = Person(staff_id="bureau-sup-1", name="周督办")
ORDER = "请医务科三日内书面说明处理情况"
COMPLAINANT = {"name": "李娜", "phone": "13800001111"}


async def registered(platform: Platform) -> str:
    body = {"channel": "phone", "content": "挂号排队两小时无人指引。", "complainant": COMPLAINANT}
    async with platform.client("intake", "hz-001") as intake:
        response = await intake.post("/v1/complaints", json=body)
    assert response.status_code == 201, response.text
    complaint_id: str = response.json()["id"]
    return complaint_id


async def assigned(platform: Platform) -> str:
    """A case the office accepted and routing assigned to its handler (钱会计)."""
    body = {
        "channel": "phone",
        "content": "出院结算重复收费。",
        "complainant": COMPLAINANT,
        "received_by": OFFICE.staff_id,
        "accepted": True,
    }
    async with platform.staff_client("intake", "hz-001") as intake:
        response = await intake.post("/v1/complaints", json=body)
    assert response.status_code == 201, response.text
    complaint_id: str = response.json()["id"]
    await publish(platform, sample.envelope(sample.routed(), complaint_id))
    await complaint_when(platform, complaint_id, lambda c: c["status"] == "assigned")
    return complaint_id


async def reached(platform: Platform, complaint_id: str, level: str, **step: Any) -> Envelope:
    """Routing's ladder step, published; returns once the complaint records it."""
    envelope = sample.envelope(sample.escalated(level=level, **step), complaint_id)
    await publish(platform, envelope)
    await complaint_when(
        platform, complaint_id, lambda c: any(e["level"] == level for e in c["escalations"])
    )
    return envelope


async def complaint_when(
    platform: Platform, complaint_id: str, ready: Any, principal: str = "hz-001"
) -> dict[str, Any]:
    async def read() -> dict[str, Any] | None:
        async with platform.client("intake", principal) as intake:
            response = await intake.get(f"/v1/complaints/{complaint_id}")
        assert response.status_code == 200, response.text
        complaint: dict[str, Any] = response.json()
        return complaint if ready(complaint) else None

    return await eventually(read, what=f"complaint {complaint_id}")


async def acknowledge(
    platform: Platform,
    complaint_id: str,
    level: str,
    headers: dict[str, str],
    *,
    round_: int = 0,
    note: str = ORDER,
) -> httpx.Response:
    async with platform.client("intake") as intake:
        return await intake.post(
            f"/v1/complaints/{complaint_id}/escalations/{level}/acknowledge",
            json={"round": round_, "note": note},
            headers=headers,
        )


async def test_an_escalation_its_notices_and_the_offices_acknowledgement_are_on_the_case(
    intake_only: Platform,
) -> None:
    platform = intake_only
    complaint_id = await assigned(platform)
    step = await reached(
        platform,
        complaint_id,
        level="complaint_office",
        reason="答复期限已过2个工作日",
        overdue_working_days=2,
        due_at=sample.DUE,
        recipients=[OFFICE],
    )
    # Notification reports the office reached by e-mail, then by SMS: one reader.
    for channel in ("email", "sms"):
        sent = sample.notification_sent(
            source_event_id=str(step.event_id),
            delivery_id=f"{step.event_id}:complaint_office:{OFFICE.staff_id}:{channel}",
            recipient_role="complaint_office",
            recipient_staff_id=OFFICE.staff_id,
            channel=channel,
            level="complaint_office",
        )
        await publish(platform, sample.envelope(sent, complaint_id))
    # A notice that is no ladder step's (a receipt) changes nothing.
    await publish(platform, sample.envelope(sample.notification_sent(), complaint_id))
    case = await complaint_when(
        platform, complaint_id, lambda c: len(c["escalations"][0]["told"]) == 2
    )
    [escalation] = case["escalations"]
    assert escalation["level_label"] == "投诉管理部门督办" and escalation["supervised"]
    assert escalation["recipients"] == [{"staff_id": OFFICE.staff_id, "name": "田桂英"}]
    assert [(t["name"], t["channel_label"]) for t in escalation["told"]] == [
        ("田桂英", "电子邮件"),
        ("田桂英", "短信"),
    ]
    ladder = ("escalated", "ladder_notice_sent")
    notes = [(e["type"], e["note"]) for e in case["timeline"] if e["type"] in ladder]
    assert notes == [
        ("escalated", "投诉管理部门督办：答复期限已过2个工作日；通知田桂英"),
        ("ladder_notice_sent", "投诉管理部门督办：已通知田桂英（电子邮件）"),
    ]

    async with listening(platform, "complaint.escalation_acknowledged") as bus:
        # Leadership is not the complaint office: 403 with the reason.
        wrong = await acknowledge(
            platform,
            complaint_id,
            "complaint_office",
            platform.staff_headers("hz-001", LEADER.staff_id),
        )
        assert wrong.status_code == 403, wrong.text
        assert wrong.json()["code"] == "not_permitted"
        assert "投诉管理部门督办须由投诉管理部门确认" in wrong.json()["message"]
        # Without a proven person nobody acknowledges.
        unproven = await acknowledge(
            platform, complaint_id, "complaint_office", platform.keys.headers("hz-001")
        )
        assert unproven.status_code == 401
        # Another hospital does not see the case.
        foreign = await acknowledge(
            platform,
            complaint_id,
            "complaint_office",
            platform.staff_headers("hz-002", "hz-002-leadership-1"),
        )
        assert foreign.status_code == 404
        # A round or a level the case never reached.
        for level, round_ in (("complaint_office", 1), ("leadership", 0), ("warning", 0)):
            unknown = await acknowledge(
                platform,
                complaint_id,
                level,
                platform.staff_headers("hz-001", OFFICE.staff_id),
                round_=round_,
            )
            assert unknown.status_code == 404, (level, round_, unknown.text)

        done = await acknowledge(
            platform,
            complaint_id,
            "complaint_office",
            platform.staff_headers("hz-001", OFFICE.staff_id),
        )
        assert done.status_code == 200, done.text
        [event] = await bus.answer("complaint.escalation_acknowledged")
        assert event.complaint_id == complaint_id and event.hospital_id == "hz-001"
        assert event.payload | {"at": None} == {
            "case_number": done.json()["case_number"],
            "tracking_code": done.json()["tracking_code"],
            "at": None,
            "by": OFFICE.staff_id,
            "level": "complaint_office",
            "round": 0,
            "note": ORDER,
            # The handler is told what was ordered.
            "handler": sample.HANDLER.model_dump(mode="json"),
        }

        again = await acknowledge(
            platform,
            complaint_id,
            "complaint_office",
            platform.staff_headers("hz-001", OFFICE.staff_id),
            note="再次确认",
        )
        assert again.status_code == 409 and again.json()["code"] == "already_acknowledged"

    acknowledged = done.json()
    assert acknowledged["escalations"][0]["acknowledgement"] | {"at": None} == {
        "by": OFFICE.staff_id,
        "name": "田桂英",
        "acting_for": "hz-001",
        "at": None,
        "note": ORDER,
        "handler": {"staff_id": sample.HANDLER.staff_id, "name": "钱会计"},
        "told": [],
    }
    entry = acknowledged["timeline"][-1]
    assert entry["type"] == "escalation_acknowledged" and entry["by"] == OFFICE.staff_id
    assert entry["note"] == f"投诉管理部门督办已确认（田桂英），督办意见：{ORDER}"
    assert entry["data"]["proof"]["kid"] == platform.signing.kid("hz-001")

    # Notification reports the handler told what was ordered: kept on the acknowledgement.
    order_sent = sample.notification_sent(
        source_event_id=str(event.event_id),
        delivery_id=f"{event.event_id}:handler",
        recipient_staff_id=sample.HANDLER.staff_id,
        level="complaint_office",
    )
    await publish(platform, sample.envelope(order_sent, complaint_id))
    case = await complaint_when(
        platform, complaint_id, lambda c: c["escalations"][0]["acknowledgement"]["told"]
    )
    [told] = case["escalations"][0]["acknowledgement"]["told"]
    assert (told["name"], told["channel_label"]) == ("钱会计", "电子邮件")
    assert case["timeline"][-1]["note"] == "督办意见（投诉管理部门督办）：已通知钱会计（电子邮件）"
    async with platform.client("intake", "hz-001") as intake:
        verdict = (await intake.get(f"/v1/complaints/{complaint_id}/timeline/verify")).json()
    assert verdict["ok"] and verdict["count"] == len(case["timeline"])


async def test_a_bureau_escalation_is_acknowledged_by_a_supervisor_the_bureau_proves(
    intake_only: Platform,
) -> None:
    platform = intake_only
    complaint_id = await registered(platform)
    await reached(
        platform,
        complaint_id,
        level="bureau",
        reason="答复期限已过10个工作日",
        overdue_working_days=10,
        recipients=[SUPERVISOR],
    )
    # The hospital's own leadership may not acknowledge the bureau's supervision.
    leader = await acknowledge(
        platform, complaint_id, "bureau", platform.staff_headers("hz-001", LEADER.staff_id)
    )
    assert leader.status_code == 403
    assert "卫健委督办须由卫健委督办人员确认" in leader.json()["message"]
    # The bureau's key alone proves no supervisor.
    bare = await acknowledge(platform, complaint_id, "bureau", platform.keys.headers("bureau"))
    assert bare.status_code == 401
    # A hospital's assertion with the bureau's key is refused.
    borrowed = platform.keys.headers("bureau") | {
        "X-Huiyin-Staff-Assertion": platform.signing.assertion("hz-001", LEADER.staff_id)
    }
    assert (await acknowledge(platform, complaint_id, "bureau", borrowed)).status_code == 403
    # Signed by the bureau, but for someone who is not one of its supervisors.
    stranger = await acknowledge(
        platform, complaint_id, "bureau", platform.staff_headers("bureau", "bureau-clerk-9")
    )
    assert stranger.status_code == 422
    assert stranger.json()["errors"][0]["field"] == "X-Huiyin-Staff-Assertion"

    done = await acknowledge(
        platform, complaint_id, "bureau", platform.staff_headers("bureau", SUPERVISOR.staff_id)
    )
    assert done.status_code == 200, done.text
    case = done.json()
    assert case["identity_view"] == "masked"  # the bureau sees the complainant masked
    acknowledgement = case["escalations"][0]["acknowledgement"]
    assert (acknowledgement["by"], acknowledgement["name"], acknowledgement["acting_for"]) == (
        SUPERVISOR.staff_id,
        "周督办",
        "bureau",
    )
    entry = case["timeline"][-1]
    assert entry["type"] == "escalation_acknowledged" and entry["by"] == SUPERVISOR.staff_id
    assert entry["data"]["proof"]["kid"] == platform.signing.kid("bureau")
    # The hospital reads who acknowledged on its case.
    seen = await complaint_when(platform, complaint_id, lambda c: True)
    assert seen["escalations"][0]["acknowledgement"]["note"] == ORDER


async def test_the_bureau_registers_its_own_key_for_its_supervisors(
    intake_only: Platform,
) -> None:
    pem = public_pem(ed25519.Ed25519PrivateKey.generate().public_key())
    async with intake_only.client("intake", "bureau") as bureau:
        created = await bureau.post(
            "/v1/admin/hospitals/bureau/assertion-keys", json={"public_key": pem}
        )
    assert created.status_code == 201, created.text
    assert created.json()["hospital_id"] == "bureau"
    async with intake_only.client("intake", "hz-001") as hospital:
        refused = await hospital.post(
            "/v1/admin/hospitals/bureau/assertion-keys", json={"public_key": pem}
        )
    assert refused.status_code == 403
