"""The escalation ladder's deliveries as Celery tasks (services/notification/deliveries/),
on the real broker, the MongoDB-wire server and a real `huiyin-worker notification`: e-mail
through a real SMTP server, SMS, the WeCom robot and a hospital's webhook through real HTTP
servers standing in for them, which check the signatures. The service and the worker read
the same test clock (shared/clock.py)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from pymongo import MongoClient

from deploy.servers import Infrastructure
from services.notification.adapters.deliveries import DELIVERIES
from services.notification.channels import WeComRobot
from services.notification.deliveries.attempt import Again, Attempt, DeliveryRules
from services.notification.deliveries.records import DeliveryRecords
from services.notification.domain.contacts import Address
from services.notification.domain.office_hours import is_working_day
from shared.contracts import CHINA, DeliveryChannel, Person
from tests.support import events as sample
from tests.support.bus import listening, publish
from tests.support.celery import CeleryProcess, CeleryProcesses, celery_processes
from tests.support.http_standins import (
    DingTalkRobotStandIn,
    HospitalWebhookStandIn,
    SmsGatewayStandIn,
    WeComRobotStandIn,
)
from tests.support.ladder import stand_ins
from tests.support.mail import MailSink, body_of
from tests.support.platform import Names, Platform, running_platform
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(300)

OFFICE = Person(
    staff_id="hz-001-complaint_office-1", name="田桂英", email="office.1@hz1.example.org"
)
LEADER = Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org")
HANDLER = sample.HANDLER


@dataclass
class Ladder:
    platform: Platform
    celery: CeleryProcesses
    sms: SmsGatewayStandIn
    wecom: WeComRobotStandIn
    dingtalk: DingTalkRobotStandIn
    webhook: HospitalWebhookStandIn
    worker_env: dict[str, Any]

    def start_worker(self, **overrides: Any) -> CeleryProcess:
        settings = self.platform.settings["notification"]
        worker = self.celery.start_worker(
            "notification", settings=settings, **(self.worker_env | overrides)
        )
        self.celery.wait_ready(worker)
        return worker

    def deliveries(self) -> dict[str, dict[str, Any]]:
        database = self.platform.settings["notification"].database
        with MongoClient(self.platform.infra.mongo_url, tz_aware=True) as client:
            return {d["_id"]: d for d in client[database][DELIVERIES].find({"kind": "ladder"})}

    def at_china(self, moment: datetime) -> None:
        """Move every clock of the test to `moment`."""
        self.celery.move_clock(moment - datetime.now(UTC))


def next_working_day_at(hour: time, *, after: datetime | None = None) -> datetime:
    day = (after or datetime.now(UTC)).astimezone(CHINA).date() + timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, hour, tzinfo=CHINA)


@pytest.fixture
async def ladder(
    infrastructure: Infrastructure, mail: MailSink, tmp_path: Path
) -> AsyncIterator[Ladder]:
    names = Names()
    with celery_processes(infrastructure, names=names) as celery, stand_ins() as fakes:
        region = fakes.region_file(tmp_path / "region.yaml")
        sms_settings = fakes.sms_settings
        overrides = {"notification": {**sms_settings, "clock_file": str(celery.clock_file)}}
        async with running_platform(
            infrastructure,
            smtp_port=mail.port,
            only=("notification",),
            names=names,
            overrides=overrides,
            region_file=region,
        ) as platform:
            worker_env = sms_settings | {
                "ladder_backoff_seconds": 0.2,
                "ladder_backoff_cap_seconds": 1,
                "sms_record_lag_seconds": 3,
            }
            yield Ladder(
                platform,
                celery,
                fakes.sms,
                fakes.wecom,
                fakes.dingtalk,
                fakes.webhook,
                worker_env,
            )


def office_step(**changes: Any) -> Any:
    return sample.escalated(
        **{
            "level": "complaint_office",
            "reason": "答复期限已过2个工作日，尚未答复",
            "recipients": [OFFICE],
            "due_at": sample.DUE,
            "overdue_working_days": 2,
            "department": "finance",
            "department_label": "财务科",
        }
        | changes
    )


async def test_a_level_reaches_each_person_and_group_once_per_channel_whatever_is_redelivered(
    ladder: Ladder, mail: MailSink
) -> None:
    ladder.at_china(next_working_day_at(time(10, 0)))
    await asyncio.to_thread(ladder.start_worker)
    step = sample.envelope(office_step(), "c-ladder-1")
    async with listening(ladder.platform, "notification.*") as outcomes:
        await publish(ladder.platform, step)
        # e-mail and SMS to the office's 田桂英; the office's WeCom group and the hospital's
        # system (the audience's groups in the contact book).
        await mail.wait_for(lambda m: m["To"] == OFFICE.email, count=1, timeout=30)
        await asyncio.to_thread(ladder.sms.wait_for, 1, timeout=30)
        await asyncio.to_thread(ladder.wecom.wait_for, 1, timeout=30)
        await asyncio.to_thread(ladder.webhook.wait_for, 1, timeout=30)

        # The same event again (a redelivery), and the level told again by another event
        # (a scan run twice): nothing new goes out.
        await publish(ladder.platform, step)
        await publish(ladder.platform, sample.envelope(office_step(), "c-ladder-1"))

        async def all_sent() -> dict[str, dict[str, Any]] | None:
            found = await asyncio.to_thread(ladder.deliveries)
            done = len(found) == 4 and all(d["status"] == "sent" for d in found.values())
            return found if done else None

        deliveries = await eventually(all_sent, timeout=30, what="four deliveries sent")
        await asyncio.sleep(2)  # a wrongly repeated send would have landed by now
        sent = await outcomes.answer("notification.sent", 4)

    assert sorted(d["channel"] for d in deliveries.values()) == ["email", "sms", "webhook", "wecom"]
    assert [m["To"] for m in mail.messages] == [OFFICE.email]
    assert len(ladder.sms.messages) == 1 and ladder.sms.messages[0].phone == "13800000002"
    assert len(ladder.wecom.accepted) == 1 and len(ladder.webhook.accepted) == 1
    assert {e.payload["channel"] for e in sent} == {"email", "sms", "webhook", "wecom"}

    # The delivery log, as the complaint office asks for it.
    async with ladder.platform.client("notification", "hz-001") as api:
        case = (await api.get("/v1/complaints/c-ladder-1/deliveries")).json()
        person = (await api.get(f"/v1/staff/{OFFICE.staff_id}/deliveries")).json()
    async with ladder.platform.client("notification", "hz-002") as other:
        elsewhere = (await other.get("/v1/complaints/c-ladder-1/deliveries")).json()
    if out := os.environ.get("HUIYIN_DELIVERY_LOG_OUT"):  # for a report: what the office sees
        text = json.dumps(case, ensure_ascii=False, indent=2) + "\n"
        await asyncio.to_thread(Path(out).write_text, text, encoding="utf-8")
    told = {(d["channel_label"], d["recipient"], d["status_label"]) for d in case["items"]}
    assert told == {
        ("电子邮件", "o***@hz1.example.org", "已发送"),
        ("短信", "138****0002", "已发送"),
        ("企业微信群机器人", "office-wecom", "已发送"),
        ("医院系统回调", "hospital-system", "已发送"),
    }
    assert {d["level_label"] for d in case["items"]} == {"投诉管理部门督办"}
    assert all("message" not in d and "address" not in d for d in case["items"])
    assert {d["channel"] for d in person["items"]} == {"email", "sms"}
    assert elsewhere["items"] == []
    assert all(e.payload["level"] == "complaint_office" for e in sent)
    # Never the complainant: the robot's text and the hospital's payload carry the case.
    assert sample.CASE_NUMBER in str(ladder.wecom.messages[0])
    assert sample.COMPLAINANT_EMAIL not in str(ladder.webhook.messages[0])


async def test_a_notice_at_night_waits_for_office_hours_and_an_urgent_one_goes_at_once(
    ladder: Ladder, mail: MailSink
) -> None:
    night = next_working_day_at(time(8, 0)) - timedelta(hours=10)  # 22:00 the evening before
    ladder.at_china(night)
    await asyncio.to_thread(ladder.start_worker)
    warning = sample.sla_warning(recipients=[HANDLER])
    urgent = sample.escalated(level="leadership", urgent=True, recipients=[LEADER])
    await publish(ladder.platform, sample.envelope(warning, "c-night-warning"))
    await publish(ladder.platform, sample.envelope(urgent, "c-night-urgent"))

    await mail.wait_for(lambda m: m["To"] == LEADER.email, count=1, timeout=30)

    async def waiting() -> dict[str, Any] | None:
        found = await asyncio.to_thread(ladder.deliveries)
        return next((d for d in found.values() if d["complaint_id"] == "c-night-warning"), None)

    deferred = await eventually(waiting, timeout=20, what="the warning's delivery")
    assert deferred["status"] == "deferred"
    assert deferred["release_at"] == next_working_day_at(time(8, 0)).astimezone(UTC)
    assert not [m for m in mail.messages if m["To"] == HANDLER.email]

    # The morning comes: the beat's release task hands it to the worker.
    ladder.at_china(next_working_day_at(time(8, 0)) + timedelta(minutes=1))
    ladder.celery.app("notification").send_task("notification.release_deferred")
    await mail.wait_for(lambda m: m["To"] == HANDLER.email, count=1, timeout=30)


async def test_a_worker_killed_mid_sms_sends_it_once_and_loses_nothing(
    ladder: Ladder, mail: MailSink
) -> None:
    ladder.at_china(next_working_day_at(time(10, 0)))
    worker = await asyncio.to_thread(ladder.start_worker)
    # The gateway takes the SMS, then holds its reply: the worker is killed waiting for it.
    ladder.sms.hang_next(1, seconds=60, after_accepting=True)
    await publish(ladder.platform, sample.envelope(office_step(), "c-killed"))
    await asyncio.to_thread(ladder.sms.wait_for, 1, timeout=30)
    # The other channels are done; the SMS's outcome is what the kill leaves unknown.
    await asyncio.to_thread(ladder.wecom.wait_for, 1, timeout=30)
    await asyncio.to_thread(ladder.webhook.wait_for, 1, timeout=30)
    await mail.wait_for(lambda m: m["To"] == OFFICE.email, count=1, timeout=30)
    await asyncio.to_thread(ladder.celery.kill, worker)

    await asyncio.to_thread(ladder.start_worker)

    async def settled() -> dict[str, dict[str, Any]] | None:
        found = await asyncio.to_thread(ladder.deliveries)
        done = len(found) == 4 and all(d["status"] in ("sent", "failed") for d in found.values())
        return found if done else None

    deliveries = await eventually(settled, timeout=60, what="every delivery settled")
    sms = next(d for d in deliveries.values() if d["channel"] == "sms")
    assert sms["status"] == "sent"
    # Found in the gateway's records, not sent again.
    assert [h["outcome"] for h in sms["history"]] == ["unknown", "sent"]
    assert len(ladder.sms.messages) == 1
    assert {d["channel"]: d["status"] for d in deliveries.values()} == dict.fromkeys(
        ("email", "sms", "webhook", "wecom"), "sent"
    ), [d["history"] for d in deliveries.values()]
    assert len(ladder.wecom.accepted) == 1
    assert len(set(ladder.webhook.ids)) == 1
    assert [m["To"] for m in mail.messages].count(OFFICE.email) == 1


async def test_a_robot_failing_three_times_then_accepting_posts_once(ladder: Ladder) -> None:
    ladder.at_china(next_working_day_at(time(10, 0)))
    await asyncio.to_thread(ladder.start_worker)
    ladder.wecom.fail_next(3, status=503)
    await publish(ladder.platform, sample.envelope(office_step(), "c-flaky"))
    await asyncio.to_thread(ladder.wecom.wait_for, 1, timeout=60)

    async def sent() -> dict[str, Any] | None:
        found = await asyncio.to_thread(ladder.deliveries)
        robot = next((d for d in found.values() if d["channel"] == "wecom"), None)
        return robot if robot and robot["status"] == "sent" else None

    robot = await eventually(sent, timeout=30, what="the robot's delivery recorded sent")
    assert robot["attempts"] == 4
    assert [h["outcome"] for h in robot["history"]] == ["retrying"] * 3 + ["sent"]
    assert len(ladder.wecom.received) == 4 and len(ladder.wecom.accepted) == 1


async def test_an_escalation_reaches_each_leader_once_on_each_of_their_channels(
    ladder: Ladder, mail: MailSink
) -> None:
    """Leaders are told by e-mail and SMS (the contact book's leadership audience) and in the
    leaders' DingTalk group, whose robot checks the signed timestamp; a leader with neither
    address nor phone is told through the group only; a redelivery changes nothing."""
    ladder.at_china(next_working_day_at(time(10, 0)))
    await asyncio.to_thread(ladder.start_worker)
    leaders = [
        Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org"),
        Person(staff_id="hz-001-leadership-2", name="孙院长", email="president@hz1.example.org"),
        Person(staff_id="hz-001-leadership-3", name="无邮箱"),
    ]
    step = sample.envelope(
        sample.escalated(reason="投诉第2次被申请复核：仍不认可退费金额", recipients=leaders),
        "c-escalated",
    )
    await publish(ladder.platform, step)
    letters = await mail.wait_for(lambda m: "督办" in m["Subject"], count=2, timeout=30)
    await asyncio.to_thread(ladder.sms.wait_for, 1, timeout=30)
    await asyncio.to_thread(ladder.dingtalk.wait_for, 1, timeout=30)
    await publish(ladder.platform, step)  # the broker delivers it again

    async def settled() -> dict[str, dict[str, Any]] | None:
        found = await asyncio.to_thread(ladder.deliveries)
        return (
            found
            if len(found) == 4 and all(d["status"] == "sent" for d in found.values())
            else None
        )

    deliveries = await eventually(settled, timeout=30, what="the leaders' deliveries sent")
    await asyncio.sleep(1)
    assert sorted(m["To"] for m in mail.messages) == [
        "president@hz1.example.org",
        "vp@hz1.example.org",
    ]
    for letter in letters:
        body = body_of(letter)
        assert sample.CASE_NUMBER in letter["Subject"]
        assert "投诉第2次被申请复核" in body
        assert sample.COMPLAINANT_EMAIL not in body
    assert [s.phone for s in ladder.sms.messages] == ["13800000001"]
    assert len(ladder.dingtalk.accepted) == 1 and ladder.dingtalk.refusals == []
    assert sorted(d["recipient_key"] for d in deliveries.values()) == [
        "group:hospital:hz-001/leaders-dingtalk",
        "hz-001-leadership-1",
        "hz-001-leadership-1",
        "hz-001-leadership-2",
    ]
    assert {d["recipient"] for d in deliveries.values()} >= {"v***@hz1.example.org", "138****0001"}


async def test_the_morning_digest_lists_what_is_still_overdue_under_a_supervisor_once_a_day(
    ladder: Ladder, mail: MailSink
) -> None:
    supervisor = Person(
        staff_id="bureau-sup-1", name="周督办", email="supervisor@bureau.hz.example.org"
    )
    ladder.at_china(next_working_day_at(time(6, 0)))
    await asyncio.to_thread(ladder.start_worker)
    for complaint_id, number in (
        ("c-digest-1", "HZ-001-202611-00011"),
        ("c-digest-2", "HZ-001-202611-00012"),
    ):
        step = sample.escalated(
            level="bureau", case_number=number, recipients=[supervisor], due_at=sample.DUE
        )
        await publish(ladder.platform, sample.envelope(step, complaint_id))
    # The first one is answered before morning: off the digest.
    await publish(ladder.platform, sample.envelope(sample.replied(), "c-digest-1"))
    # The third is escalated, then answered, but the answer is handled first (events come
    # in any order): it stays off the digest.
    late = sample.escalated(
        level="bureau",
        case_number="HZ-001-202611-00013",
        recipients=[supervisor],
        due_at=sample.DUE,
    )
    escalated_first = sample.envelope(late, "c-digest-3")
    await publish(ladder.platform, sample.envelope(sample.replied(), "c-digest-3"))
    await publish(ladder.platform, escalated_first)

    async def listed() -> bool:
        database = ladder.platform.settings["notification"].database
        with MongoClient(ladder.platform.infra.mongo_url) as client:
            found = client[database]["supervisor_digests"].find_one({"_id": "digest/bureau-sup-1"})
        return found is not None and set(found.get("cases", {})) == {"c-digest-2"}

    await eventually(listed, timeout=20, what="the digest listing the unanswered case")
    send = ladder.celery.app("notification").send_task
    send("notification.morning_digest")  # 06:00: nothing yet

    async def ran_early() -> bool:
        text = ladder.celery.started[-1].tail()
        return "notification.morning_digest" in text and "succeeded" in text

    await eventually(ran_early, timeout=20, what="the early run")
    assert not [m for m in mail.messages if "每日督办汇总" in m["Subject"]]
    ladder.at_china(next_working_day_at(time(6, 0)) + timedelta(hours=2, minutes=45))
    send("notification.morning_digest")
    send("notification.morning_digest")  # the beat sends it again a few minutes later
    digests = await mail.wait_for(lambda m: "每日督办汇总" in m["Subject"], timeout=30)
    await asyncio.sleep(2)
    digests = [m for m in mail.messages if "每日督办汇总" in m["Subject"]]
    assert len(digests) == 1 and digests[0]["To"] == supervisor.email
    body = body_of(digests[0])
    assert "HZ-001-202611-00012" in body and "HZ-001-202611-00011" not in body
    assert "HZ-001-202611-00013" not in body
    assert "卫健委督办" in body and sample.COMPLAINANT_EMAIL not in body


def test_a_robots_limit_per_minute_holds_across_workers(infrastructure: Infrastructure) -> None:
    """Two workers' processes count one robot's sends in one shared document: no count is
    lost or given twice, and the 21st send of a minute waits for the next minute without
    using an attempt."""
    database = f"t{uuid4().hex[:8]}_limit"
    clients = [MongoClient(infrastructure.mongo_url, tz_aware=True) for _ in range(2)]
    try:
        workers = [DeliveryRecords(client[database]) for client in clients]
        minute = datetime.now(UTC).replace(second=1)
        with ThreadPoolExecutor(max_workers=8) as pool:
            counts = list(
                pool.map(lambda n: workers[n % 2].count_send("wecom:robot", minute), range(40))
            )
        assert sorted(counts) == list(range(1, 41))

        workers[0].deliveries.insert_one(
            {
                "_id": "d-1",
                "channel": "wecom",
                "status": "queued",
                "attempts": 0,
                "address": {"group": "office-wecom", "scope": "hospital:hz-001"},
            }
        )
        attempt = Attempt(
            records=workers[1],
            channels={DeliveryChannel.WECOM: WeComRobot(timeout=1)},
            # Nothing listens there: a send would fail, but the limit comes first.
            address_of=lambda _: Address(
                DeliveryChannel.WECOM, "http://127.0.0.1:9/", key="g", shown="g"
            ),
            rules=DeliveryRules(per_minute={"wecom": 20}),
            now=lambda: datetime.now(UTC),
        )
        for _ in range(20):
            workers[0].count_send("wecom:hospital:hz-001/office-wecom", datetime.now(UTC))
        outcome = attempt.run("d-1")
        assert isinstance(outcome, Again) and outcome.why == "rate limit"
        assert 0 < outcome.seconds <= 66
        assert workers[0].get("d-1")["attempts"] == 0  # type: ignore[index]
        assert workers[0].attempts.count_documents({}) == 0
    finally:
        clients[0].drop_database(database)
        for client in clients:
            client.close()


async def test_a_final_failure_is_recorded_counted_and_announced_to_the_office(
    ladder: Ladder,
) -> None:
    ladder.at_china(next_working_day_at(time(10, 0)))
    worker = await asyncio.to_thread(ladder.start_worker)
    ladder.webhook.fail_next(1, status=400)  # the hospital's system refuses the request
    async with listening(ladder.platform, "notification.*") as outcomes:
        await publish(ladder.platform, sample.envelope(office_step(), "c-refused"))
        [failed] = await outcomes.answer("notification.failed", 1)
        await outcomes.answer("notification.sent", 3)
    assert failed.payload["channel"] == "webhook" and failed.payload["attempts"] == 1
    assert failed.payload["level"] == "complaint_office"
    assert failed.payload["reason_code"] == "request_rejected"
    found = await asyncio.to_thread(ladder.deliveries)
    webhook = next(d for d in found.values() if d["channel"] == "webhook")
    assert webhook["status"] == "failed" and webhook["finished_at"] is not None

    def counted(outcome: str, channel: str) -> float:
        return ladder.celery.metric(
            worker, "huiyin_ladder_deliveries_total", outcome=outcome, channel=channel
        )

    assert await asyncio.to_thread(counted, "failed", "webhook") == 1
    assert await asyncio.to_thread(counted, "sent", "email") == 1
