"""A complaint left unanswered climbs the escalation ladder (issue 11), end to end: all four
services, a real `huiyin-worker routing` (the SLA scan), a real `huiyin-worker notification`
(the deliveries) and a real `huiyin-beat` sending both schedules, on real RabbitMQ and the
MongoDB-wire server, the test clock moved step by step (shared/clock.py). Every level
reaches the people the region file names, once per channel, through a real SMTP server and
HTTP stand-ins for the SMS gateway, the WeCom and DingTalk robots and the hospital's
webhook, which check the signatures; the complaint's timeline shows each level, who was
told and the bureau supervisor's acknowledgement; reporting's figures rebuilt from
intake's record are the live ones. Two beats at once escalate once."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Any

import pytest
from pymongo import MongoClient

from deploy.servers import Infrastructure
from services.notification.adapters.deliveries import DELIVERIES
from services.notification.domain import office_hours
from services.routing.adapters.calendar_file import read_corrections
from services.routing.domain.calendar import WorkingCalendar
from shared.clock import Clock
from shared.contracts import CHINA, Envelope, LadderLevel
from tests.support.bus import Listener, listening
from tests.support.celery import CeleryProcess, CeleryProcesses, celery_processes
from tests.support.ladder import (
    GROUPS,
    Reached,
    RegionBook,
    StandIns,
    stand_ins,
)
from tests.support.mail import MailSink, body_of
from tests.support.platform import Names, Platform, running_platform
from tests.support.polling import eventually
from tests.support.rebuild import assert_intake_gives_the_live_figures

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300)]

OFFICE = "hz-001-complaint_office-1"
SUPERVISOR = "bureau-sup-1"
COMPLAINANT = {"name": "李娜", "phone": "13800001111"}
COMPLAINT = {
    "channel": "web",
    "content": "出院结算时发现重复收费，多收的钱至今没有退回。",  # fees: a simple case at hz-001
    "demand": "退还多收的钱。",
    "complainant": COMPLAINANT,
    "received_by": OFFICE,
    "accepted": True,
}
ORDER = "请财务科三个工作日内退还多扣费用，并书面答复投诉人"
LADDER_EVENTS = ("complaint.sla_warning", "complaint.overdue", "complaint.escalated")
CODE_OF = {level.label: level.value for level in LadderLevel}
LEVELS = ("warning", "reply_due", "complaint_office", "leadership", "bureau")


@dataclass
class Ladder:
    platform: Platform
    celery: CeleryProcesses
    stand_ins: StandIns
    mail: MailSink
    region: RegionBook
    calendar: WorkingCalendar
    scans_per_move: int = 0  # sent at once after each move, as a beat without a lease would

    def start_beat(self, **overrides: Any) -> CeleryProcess:
        """`huiyin-beat` sending routing's scan and notification's release every second."""
        return self.celery.start_beat(
            "services.routing.tasks",
            "services.notification.tasks",
            sla_scan_seconds=1,
            release_scan_seconds=1,
            **overrides,
        )

    # --- the clock --------------------------------------------------------------------

    def now(self) -> datetime:
        return Clock(self.celery.clock_file).now()

    def at(self, moment: datetime) -> None:
        """Every clock of the platform (services, workers) at `moment`."""
        self.celery.move_clock(moment - datetime.now(UTC))
        for _ in range(self.scans_per_move):
            self.celery.app("routing").send_task("routing.sla_scan")

    def working_day(self, after: date, n: int) -> date:
        """The `n`th working day after `after`, a working day for routing's calendar and
        for notification's office hours alike (a stand-in year could differ)."""
        day = self.calendar.add_working_days(after, n)
        assert office_hours.is_working_day(day), day
        return day

    # --- the ladder -------------------------------------------------------------------

    def reaches(self, level: str, complaint: dict[str, Any]) -> list[Reached]:
        """Whom `level` of the complaint reaches on which channel, by the region file."""
        assignment = complaint["assignment"]
        return self.region.reached(
            level, handler=assignment["handler"]["staff_id"], department=assignment["department"]
        )

    async def warned(self, complaint: dict[str, Any], due_day: date) -> None:
        """The due day, 17:00: past the warning (80% of the working time), before the
        deadline, in office hours. The handler is warned at once."""
        self.at(datetime.combine(due_day, time(17, 0), tzinfo=CHINA))
        await self.arrived(self.reaches("warning", complaint))

    async def overnight(self, level: str, complaint: dict[str, Any], point_day: date) -> None:
        """`level` falls due at the end of `point_day` (23:59:59). A minute later routing
        tells it, and its notices wait for the office to open (08:00 of the next working
        day), not waking anyone at midnight; at 10:00 that day the beat's release has sent
        them."""
        expected = self.reaches(level, complaint)
        self.at(datetime.combine(point_day + timedelta(days=1), time(0, 1), tzinfo=CHINA))
        morning = self.working_day(point_day, 1)
        opens = datetime.combine(morning, time(8, 0), tzinfo=CHINA)

        async def waiting() -> list[dict[str, Any]]:
            found = [d for d in await asyncio.to_thread(self.deliveries) if d["level"] == level]
            return found if len(found) == len(expected) else []

        try:
            deferred = await eventually(waiting, timeout=45, what=f"the {level} notices stored")
        except TimeoutError as late:
            stored = [
                (d["level"], d["status"], d.get("to"))
                for d in await asyncio.to_thread(self.deliveries)
            ]
            raise AssertionError(f"{late}\nstored: {stored}\n{self.logs()}") from None
        assert {(d["status"], d["release_at"]) for d in deferred} == {("deferred", opens)}
        assert not [r for r in self.observed() if r.level == level]
        self.at(datetime.combine(morning, time(10, 0), tzinfo=CHINA))
        await self.arrived(expected)

    # --- what arrived -----------------------------------------------------------------

    def observed(self) -> Counter[Reached]:
        """Every ladder notice that reached a stand-in, by level, channel and address."""
        found: Counter[Reached] = Counter()
        for letter in self.mail.messages:
            level = re.search(r"级别：(\S+)", body_of(letter))
            if level:  # the ladder's notices (not the handler's new case, not an order)
                found[Reached(CODE_OF[level[1]], "email", str(letter["To"]))] += 1
        for sms in self.stand_ins.sms.messages:
            label = sms.params.get("matter") or sms.params.get("level", "")
            found[Reached(CODE_OF.get(label, label), "sms", sms.phone)] += 1
        robots = (("wecom", self.stand_ins.wecom), ("dingtalk", self.stand_ins.dingtalk))
        for channel, robot in robots:
            for post in robot.messages:
                text = post["markdown"].get("content") or post["markdown"].get("text")
                title = text.splitlines()[0].removeprefix("#### 【回音】").removeprefix("【紧急】")
                found[Reached(CODE_OF.get(title, title), channel, GROUPS[channel])] += 1
        for notice in self.stand_ins.webhook.messages:
            level = notice["data"]["level"]
            found[Reached(CODE_OF.get(level, level), "webhook", GROUPS["webhook"])] += 1
        return found

    def deliveries(self) -> list[dict[str, Any]]:
        database = self.platform.settings["notification"].database
        client: MongoClient[dict[str, Any]]
        with MongoClient(self.platform.infra.mongo_url, tz_aware=True) as client:
            return list(client[database][DELIVERIES].find({"kind": "ladder"}))

    async def arrived(self, expected: Iterable[Reached], *, timeout: float = 45) -> None:
        """Until every one of `expected` reached its stand-in."""
        wanted = {Reached(r.level, r.channel, r.to) for r in expected}

        async def all_there() -> bool:
            return wanted <= set(self.observed())

        try:
            await eventually(all_there, timeout=timeout, interval=0.1, what=f"{sorted(wanted)}")
        except TimeoutError as late:
            missing = sorted(wanted - set(self.observed()))
            raise AssertionError(f"{late}\nmissing: {missing}\n{self.logs()}") from None

    def logs(self) -> str:
        return "\n".join(f"--- {p.log.name}\n{p.tail()}" for p in self.celery.started)

    # --- intake -----------------------------------------------------------------------

    async def submitted(self) -> tuple[dict[str, Any], date]:
        """A fees complaint the office registered and accepted, once routing assigned it,
        and its reply deadline's day."""
        async with self.platform.staff_client("intake", "hz-001") as intake:
            created = await intake.post("/v1/complaints", json=COMPLAINT)
            assert created.status_code == 201, created.text
        complaint = await self.complaint_when(
            created.json()["id"], lambda c: c["status"] == "assigned" and c["assignment"]
        )
        assignment = complaint["assignment"]
        assert (assignment["category"], assignment["case_type"]) == ("fees", "simple")
        assert self.region.staff[assignment["handler"]["staff_id"]]["department"] == "finance"
        due_at = datetime.fromisoformat(assignment["due_at"])
        return complaint, due_at.astimezone(CHINA).date()

    async def complaint_when(
        self, complaint_id: str, ready: Any, *, timeout: float = 30
    ) -> dict[str, Any]:
        """The complaint as the complaint office reads it, once `ready` holds."""

        async def read() -> dict[str, Any]:
            async with self.platform.staff_client("intake", "hz-001") as intake:
                response = await intake.get(
                    f"/v1/complaints/{complaint_id}", headers={"X-Huiyin-Staff": OFFICE}
                )
            assert response.status_code == 200, response.text
            complaint: dict[str, Any] = response.json()
            return complaint if ready(complaint) else {}

        return await eventually(read, timeout=timeout, what=f"complaint {complaint_id}")


@pytest.fixture
async def ladder(
    infrastructure: Infrastructure, mail: MailSink, tmp_path: Path
) -> AsyncIterator[Ladder]:
    """The platform, its region's hz-001 groups at the stand-ins, every service and worker
    on one test clock; a routing and a notification worker, ready. No beat yet."""
    names = Names()
    with celery_processes(infrastructure, names=names) as celery, stand_ins() as standing:
        region = standing.region_file(tmp_path / "region.yaml")
        clock = {"clock_file": str(celery.clock_file)}
        overrides = {service: clock for service in ("intake", "routing", "reporting")} | {
            "notification": clock | standing.sms_settings
        }
        async with running_platform(
            infrastructure,
            smtp_port=mail.port,
            names=names,
            overrides=overrides,
            region_file=region,
        ) as platform:
            workers = [
                celery.start_worker("routing", settings=platform.settings["routing"]),
                celery.start_worker(
                    "notification",
                    settings=platform.settings["notification"],
                    ladder_backoff_seconds=0.2,
                    ladder_backoff_cap_seconds=1,
                    **standing.sms_settings,
                ),
            ]
            await asyncio.gather(*(asyncio.to_thread(celery.wait_ready, w) for w in workers))
            routing = platform.settings["routing"]
            calendar = WorkingCalendar(read_corrections(Path(routing.calendar_file)))
            yield Ladder(platform, celery, standing, mail, RegionBook(region), calendar)


def once_each(events: list[Envelope]) -> dict[tuple[str, int], tuple[int, int]]:
    """(level, round) → (distinct event ids, messages) of the ladder events heard."""
    steps: dict[tuple[str, int], list[Envelope]] = {}
    for event in events:
        if event.type in LADDER_EVENTS:
            steps.setdefault((event.payload["level"], event.payload["round"]), []).append(event)
    return {step: (len({e.event_id for e in told}), len(told)) for step, told in steps.items()}


async def heard(bus: Listener) -> list[Envelope]:
    await bus.drain()
    return bus.seen


async def test_an_unanswered_complaint_climbs_the_ladder_and_each_level_reaches_its_people_once(
    ladder: Ladder,
) -> None:
    ladder.start_beat()
    async with listening(ladder.platform, *LADDER_EVENTS) as bus:
        complaint, due_day = await ladder.submitted()
        complaint_id = complaint["id"]
        handler = complaint["assignment"]["handler"]["staff_id"]

        def reaches(level: str) -> list[Reached]:
            return ladder.reaches(level, complaint)

        # The handler is warned; a minute past the deadline (23:59:59 of the due day) the
        # handler and the department head are told; at the end of the 2nd, 5th and 10th
        # working day overdue the complaint office, the hospital's leaders and the bureau's
        # supervisors. Every one of those falls at night: the notices wait for the morning.
        await ladder.warned(complaint, due_day)
        await ladder.overnight("reply_due", complaint, due_day)
        for level, days in (("complaint_office", 2), ("leadership", 5), ("bureau", 10)):
            await ladder.overnight(level, complaint, ladder.working_day(due_day, days))

        # Who each level reached, as notification recorded it, every delivery sent.
        expected = [r for level in LEVELS for r in reaches(level)]

        async def all_sent() -> list[dict[str, Any]]:
            found = await asyncio.to_thread(ladder.deliveries)
            done = len(found) >= len(expected) and all(d["status"] == "sent" for d in found)
            return found if done else []

        deliveries = await eventually(all_sent, timeout=30, what="every delivery sent")
        # The timeline knows who was told: every level, every delivery reported.
        case = await ladder.complaint_when(
            complaint_id,
            lambda c: sum(len(e["told"]) for e in c["escalations"]) >= len(expected),
        )
        events = await heard(bus)

    # Each level published once: one event, one message, in round 0.
    assert once_each(events) == {(level, 0): (1, 1) for level in LEVELS}
    # Each level reached each person (and group) once per channel, nothing else.
    assert ladder.observed() == Counter({Reached(r.level, r.channel, r.to) for r in expected})
    assert sorted((d["level"], d["channel"], d["recipient_key"]) for d in deliveries) == sorted(
        (r.level, r.channel, r.key) for r in expected
    )
    assert len(set(ladder.stand_ins.webhook.ids)) == len(ladder.stand_ins.webhook.ids) == 1
    assert ladder.stand_ins.dingtalk.refusals == [] and ladder.stand_ins.sms.refusals == []
    # Who the region names, spelled out once: the office's 田桂英 by e-mail and SMS (her
    # choice), 董玲 by e-mail, both groups; the leader by e-mail, SMS and DingTalk group.
    assert {(r.channel, r.to) for r in reaches("complaint_office")} == {
        ("email", "complaint_office.1@hz1.example.org"),
        ("sms", "13800000002"),
        ("email", "complaint_office.2@hz1.example.org"),
        ("wecom", "office-wecom"),
        ("webhook", "hospital-system"),
    }
    assert {(r.channel, r.to) for r in reaches("leadership")} == {
        ("email", "vice-president@hz1.example.org"),
        ("sms", "13800000001"),
        ("dingtalk", "leaders-dingtalk"),
    }
    assert {(r.channel, r.to) for r in reaches("bureau")} == {
        ("email", "supervisor@bureau.hz.example.org"),
        ("sms", "13800000009"),
    }
    # The case number in every notice, never the complainant: not in a letter, a robot's
    # post, the hospital's feed or a text.
    posts = [
        json.dumps(post, ensure_ascii=False)
        for stand_in in (
            ladder.stand_ins.wecom,
            ladder.stand_ins.dingtalk,
            ladder.stand_ins.webhook,
        )
        for post in stand_in.messages
    ]
    shown = [body_of(m) for m in ladder.mail.messages if "级别：" in body_of(m)] + posts
    assert all(complaint["case_number"] in text for text in shown)
    shown += [json.dumps(s.params, ensure_ascii=False) for s in ladder.stand_ins.sms.messages]
    assert not [text for text in shown if any(v in text for v in COMPLAINANT.values())]

    # The complaint's escalations: every level once, with who was told through what.
    escalations = case["escalations"]
    assert [(e["level"], e["round"]) for e in escalations] == [(level, 0) for level in LEVELS]
    for escalation in escalations:
        told = Counter((t["staff_id"], t["channel"]) for t in escalation["told"])
        assert told == Counter(
            (None if r.key.startswith("group:") else r.key, r.channel)
            for r in reaches(escalation["level"])
        ), escalation
        assert escalation["supervised"] == (escalation["level"] in LEVELS[2:])
        # On the timeline: each person once (when first reached), each group.
        noted = [
            e["data"]["staff_id"] or e["data"]["channel"]
            for e in case["timeline"]
            if e["type"] == "ladder_notice_sent" and e["data"]["level"] == escalation["level"]
        ]
        reached = reaches(escalation["level"])
        assert sorted(noted) == sorted(
            {r.channel if r.key.startswith("group:") else r.key for r in reached}
        )

    # The bureau's supervisor acknowledges with what they ordered (督办意见).
    async with ladder.platform.client("intake") as intake:
        done = await intake.post(
            f"/v1/complaints/{complaint_id}/escalations/bureau/acknowledge",
            json={"round": 0, "note": ORDER},
            headers=ladder.platform.staff_headers("bureau", SUPERVISOR),
        )
    assert done.status_code == 200, done.text
    # The handler is told what was ordered; the timeline keeps it with the acknowledgement.
    await ladder.mail.wait_for(lambda m: "督办意见" in m["Subject"], timeout=30)
    case = await ladder.complaint_when(
        complaint_id, lambda c: c["escalations"][-1]["acknowledgement"]["told"]
    )
    bureau = case["escalations"][-1]
    assert (bureau["acknowledgement"]["by"], bureau["acknowledgement"]["note"]) == (
        SUPERVISOR,
        ORDER,
    )
    assert bureau["acknowledgement"]["handler"]["staff_id"] == handler
    acknowledged = [e for e in case["timeline"] if e["type"] == "escalation_acknowledged"]
    assert [e["note"] for e in acknowledged] == [f"卫健委督办已确认（周督办），督办意见：{ORDER}"]
    # Reporting's read models rebuilt from intake's record count the overdue reply and
    # every level reached as the live ones do (tests/e2e/test_report_rebuild.py).
    await assert_intake_gives_the_live_figures(ladder.platform)

    kinds = {
        "sla_warning",
        "overdue",
        "escalated",
        "ladder_notice_sent",
        "escalation_acknowledged",
        "acknowledgement_notice_sent",
    }
    shown_timeline = {
        "case_number": case["case_number"],
        "escalations": case["escalations"],
        "timeline": [
            {k: e[k] for k in ("seq", "at", "type", "by", "note")}
            for e in case["timeline"]
            if e["type"] in kinds
        ],
    }
    if out := os.environ.get("HUIYIN_TIMELINE_OUT"):
        text = json.dumps(shown_timeline, ensure_ascii=False, indent=2) + "\n"
        await asyncio.to_thread(Path(out).write_text, text, encoding="utf-8")


async def test_two_beats_at_once_escalate_each_level_once(ladder: Ladder) -> None:
    """Two `huiyin-beat`s (one holds the lease, the other stands by), the holder killed
    after the first level, and three more scans sent at once after every move, as a
    scheduler without a lease would: each level is published once and reaches each
    person once."""
    beats = [ladder.start_beat(beat_lease_seconds=3) for _ in range(2)]
    ladder.scans_per_move = 3
    async with listening(ladder.platform, *LADDER_EVENTS) as bus:
        complaint, due_day = await ladder.submitted()
        await ladder.warned(complaint, due_day)
        holder = await asyncio.to_thread(lease_holder, ladder, beats)
        await asyncio.to_thread(ladder.celery.kill, holder)
        await ladder.overnight("reply_due", complaint, due_day)
        await ladder.overnight("complaint_office", complaint, ladder.working_day(due_day, 2))
        events = await heard(bus)

    levels = ("warning", "reply_due", "complaint_office")
    assert once_each(events) == {(level, 0): (1, 1) for level in levels}
    expected = {
        Reached(r.level, r.channel, r.to)
        for level in levels
        for r in ladder.reaches(level, complaint)
    }
    assert ladder.observed() == Counter(expected)
    assert [b.process.poll() is None for b in beats] == [b is not holder for b in beats]


def lease_holder(ladder: Ladder, beats: list[CeleryProcess]) -> CeleryProcess:
    """The beat holding the lease (shared/celery_beat.py: `host:pid:…`), once one took it:
    a beat just started may still be importing its modules."""
    database = ladder.celery.names.database("beat")
    client: MongoClient[dict[str, Any]] = MongoClient(ladder.platform.infra.mongo_url)
    deadline = monotonic() + 20
    try:
        while (lease := client[database]["beat_leases"].find_one({"_id": "beat"})) is None:
            if monotonic() > deadline:
                break
            sleep(0.1)
    finally:
        client.close()
    assert lease is not None, [b.tail() for b in beats]
    return next(b for b in beats if lease["holder"].split(":")[1] == str(b.process.pid))
