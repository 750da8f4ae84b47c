"""The monthly classification table against the real broker and MongoDB-wire server: a fixed
set of 15 complaints in 2 hospitals, 3 categories and 2 months (one crossing the Spring
Festival), published as the other services would, scrambled and partly twice, ends in the
table computed here by hand; its CSV and XLSX say the same under Chinese headers; the
rebuild command gives the same counter documents; the overdue gauge moves with the events."""

from __future__ import annotations

import csv
import io
import random
import time
from datetime import datetime, timedelta
from typing import Any

from openpyxl import load_workbook

from services.reporting.domain.classification import figures
from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.deadline import reply_due_at
from shared.contracts import CHINA, Envelope, EventPayload
from tests.support import events as sample
from tests.support.bus import publish
from tests.support.metrics import consumed
from tests.support.platform import Platform
from tests.support.polling import eventually
from tests.support.rebuild import rebuild_command

FEES, NURSING = sample.WORK | {"handler": None}, sample.NURSING
CONDUCT = {
    "category": "conduct",
    "category_label": "行风与服务态度",
    "department": "discipline",
    "department_label": "纪检监察室",
}
JAN = datetime(2026, 1, 12, 9, 0, tzinfo=CHINA)  # a Monday
JAN_DUE = datetime(2026, 1, 19, 23, 59, 59, tzinfo=CHINA)
JAN_EXTENDED = datetime(2026, 1, 26, 23, 59, 59, tzinfo=CHINA)
# The Friday evening before the Spring Festival: five working days end Saturday Feb 28.
FEB = datetime(2026, 2, 13, 18, 0, tzinfo=CHINA)
FEB_DUE = reply_due_at(FEB, 5, WorkingCalendar())


def day(base: datetime, days: float, hour: int | None = None) -> datetime:
    moment = base + timedelta(days=days)
    return moment.replace(hour=hour, minute=0) if hour is not None else moment


class Case:
    """One complaint's history, as (when it happened, event)."""

    def __init__(self, hospital: str, received_at: datetime, due: datetime | None = None) -> None:
        self.hospital, self.received_at, self.due = hospital, received_at, due
        self.number = f"{hospital.upper()}-{received_at:%Y%m}-{random.randrange(10**5):05d}"
        self.steps: list[tuple[datetime, EventPayload]] = [
            (received_at, sample.received(case_number=self.number, received_at=received_at))
        ]

    def then(self, at: datetime, event: EventPayload) -> Case:
        self.steps.append((at, event))
        return self

    def step(self, at: datetime) -> dict[str, Any]:
        return {"case_number": self.number, "at": at}

    def routed(self, work: dict[str, Any]) -> Case:
        return self.then(self.received_at, sample.routed(**work, due_at=self.due or JAN_DUE))

    def handled(self, work: dict[str, Any]) -> Case:
        at = self.received_at + timedelta(minutes=5)
        self.then(at, sample.accepted(**self.step(at)))
        assigned = sample.assigned(
            **work,
            case_number=self.number,
            received_at=self.received_at,
            due_at=self.due,
        )
        return self.then(at + timedelta(minutes=1), assigned)

    def replied(self, at: datetime, round_: int = 0) -> Case:
        answer = sample.replied(
            case_number=self.number,
            received_at=self.received_at,
            replied_at=at,
            response_seconds=(at - self.received_at).total_seconds(),
            round=round_,
        )
        return self.then(at, answer)

    def closed(self, at: datetime, finding: str, satisfaction: str, round_: int = 0) -> Case:
        closing = sample.closed(
            **self.step(at), finding=finding, satisfaction=satisfaction, round=round_
        )
        return self.then(at, closing)

    def overdue(self, at: datetime) -> Case:
        return self.then(at, sample.overdue(case_number=self.number, due_at=self.due))

    def escalated(self, at: datetime, level: str) -> Case:
        return self.then(at, sample.escalated(case_number=self.number, level=level))

    def envelopes(self, complaint_id: str) -> list[Envelope]:
        return [
            event.envelope(hospital_id=self.hospital, complaint_id=complaint_id, occurred_at=at)
            for at, event in self.steps
        ]


def cases() -> dict[str, Case]:
    h1, h2 = "hz-001", "hz-002"
    extension = JAN_EXTENDED
    j3 = Case(h1, JAN, JAN_DUE).handled(NURSING)
    j3.then(day(JAN, 5), sample.deadline_changed(due_at=extension, previous_due_at=JAN_DUE))
    j3.then(day(JAN, 5), sample.extended(**j3.step(day(JAN, 5)), due_at=extension))
    j3.replied(day(JAN, 10)).closed(day(JAN, 11), "unsubstantiated", "dissatisfied")
    j3.then(day(JAN, 12), sample.reopened(**j3.step(day(JAN, 12))))
    j3.then(day(JAN, 12), sample.deadline_changed(due_at=day(JAN, 30), reason="重新核实"))
    j6 = Case(h1, JAN, JAN_DUE).handled(FEES)
    rerouted = sample.assigned(**CONDUCT, revision=2, due_at=JAN_DUE, received_at=JAN)
    j6.then(day(JAN, 1), rerouted)
    j6.replied(day(JAN, 3)).closed(day(JAN, 4), "substantiated", "satisfied")
    f5 = Case(h2, FEB, FEB_DUE).handled(NURSING).replied(day(FEB, 3))
    f5.closed(day(FEB, 4), "unsubstantiated", "dissatisfied")
    f5.then(day(FEB, 5), sample.reopened(**f5.step(day(FEB, 5))))
    f5.then(day(FEB, 5), sample.deadline_changed(due_at=day(FEB, 30), reason="重新核实"))
    f5.replied(day(FEB, 8), round_=1).closed(day(FEB, 9), "substantiated", "satisfied", 1)
    f4 = Case(h2, FEB, FEB_DUE).handled(FEES).overdue(FEB_DUE + timedelta(minutes=1))
    return {
        # January, hz-001
        "j1": Case(h1, JAN, JAN_DUE)
        .handled(FEES)
        .replied(day(JAN, 2))
        .closed(day(JAN, 3), "substantiated", "satisfied"),
        "j2": Case(h1, JAN, JAN_DUE)
        .handled(FEES)
        .overdue(day(JAN, 8, 0))
        .escalated(day(JAN, 9), "complaint_office")
        .replied(day(JAN, 9, 12))
        .closed(day(JAN, 10), "partly_substantiated", "basically_satisfied"),
        "j3": j3,
        "j4": Case(h1, JAN)
        .routed(NURSING)
        .then(day(JAN, 1), sample.not_accepted(case_number="X", at=day(JAN, 1))),
        "j5": Case(h1, JAN, JAN_DUE)
        .handled(FEES)
        .overdue(day(JAN, 8, 0))
        .escalated(day(JAN, 9), "complaint_office")
        .escalated(day(JAN, 12), "leadership"),
        "j6": j6,
        # January, hz-002
        "k1": Case(h2, JAN, JAN_DUE)
        .handled(CONDUCT)
        .replied(day(JAN, 1))
        .closed(day(JAN, 2), "substantiated", "satisfied"),
        "k2": Case(h2, JAN)
        .routed(CONDUCT)
        .then(
            day(JAN, 1),
            sample.not_accepted(
                at=day(JAN, 1), reason="in_court_or_mediation", reason_label="已起诉"
            ),
        ),
        "k3": Case(h2, JAN).routed(FEES).then(day(JAN, 1), sample.transferred(at=day(JAN, 1))),
        "k4": Case(h2, JAN).routed(NURSING).then(JAN, sample.resolved_on_spot(at=JAN)),
        # February, across the Spring Festival
        "f1": Case(h1, FEB, FEB_DUE)
        .handled(FEES)
        .replied(datetime(2026, 2, 28, 21, 0, tzinfo=CHINA))  # the deadline's last day
        .closed(datetime(2026, 3, 2, 10, 0, tzinfo=CHINA), "substantiated", "satisfied"),
        "f2": Case(h1, FEB, FEB_DUE)
        .handled(NURSING)
        .overdue(FEB_DUE + timedelta(minutes=1))
        .replied(datetime(2026, 3, 2, 9, 0, tzinfo=CHINA)),
        "f3": Case(h1, FEB)
        .routed(CONDUCT)
        .then(day(FEB, 0.1), sample.supplement_requested(at=day(FEB, 0.1))),
        "f4": f4,  # its late reply is published last (the gauge test)
        "f5": f5,
    }


F4_REPLY = datetime(2026, 3, 3, 9, 0, tzinfo=CHINA)

C = "not_accepted.in_court_or_mediation"
R = "not_accepted.outside_remit"
CO, LEAD = "escalated.complaint_office", "escalated.leadership"
# The table by hand: (category, hospital) → the columns that are not zero.
BUREAU: dict[tuple[str, str], dict[str, int]] = {
    # j6 (re-routed from fees), f3 (awaiting a supplement)
    ("conduct", "hz-001"): {
        "received": 2,
        "accepted": 1,
        "replied_on_time": 1,
        "open": 1,
        "substantiated": 1,
        "satisfied": 1,
    },
    # k1, k2
    ("conduct", "hz-002"): {
        "received": 2,
        "accepted": 1,
        C: 1,
        "replied_on_time": 1,
        "substantiated": 1,
        "satisfied": 1,
    },
    # j1, j2 (late), j5 (overdue, open), f1 (on the holiday deadline's last day)
    ("fees", "hz-001"): {
        "received": 4,
        "accepted": 4,
        "replied_on_time": 2,
        "replied_late": 1,
        "open": 1,
        "overdue": 2,
        "substantiated": 2,
        "partly": 1,
        "satisfied": 2,
        "basically": 1,
        CO: 2,
        LEAD: 1,
    },
    # k3 (transferred), f4 (late)
    ("fees", "hz-002"): {
        "received": 2,
        "accepted": 1,
        "transferred": 1,
        "replied_late": 1,
        "overdue": 1,
    },
    # j3 (extended, on time, reopened), j4 (not accepted), f2 (late)
    ("nursing", "hz-001"): {
        "received": 3,
        "accepted": 2,
        R: 1,
        "replied_on_time": 1,
        "replied_late": 1,
        "open": 1,
        "overdue": 1,
    },
    # k4 (on the spot), f5 (re-reviewed, closed again)
    ("nursing", "hz-002"): {
        "received": 2,
        "accepted": 1,
        "resolved_on_spot": 1,
        "replied_on_time": 1,
        "substantiated": 1,
        "satisfied": 1,
    },
}
DEPARTMENT = {"conduct": "discipline", "fees": "finance", "nursing": "nursing"}


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {column: n for column, n in counts.items() if n}


async def wait_consumed(platform: Platform, total: int) -> None:
    async def done() -> bool:
        return await consumed(platform, "reporting", service="reporting") >= total

    await eventually(done, timeout=60, interval=0.2, what=f"{total} events consumed")


async def gauge(platform: Platform, hospital: str, value: float) -> None:
    line = f'huiyin_overdue_open_complaints{{hospital_id="{hospital}"}} {value}'

    async def shows() -> bool:
        async with platform.client("reporting") as client:
            return line in (await client.get("/metrics")).text

    await eventually(shows, timeout=30, interval=0.2, what=line)


async def test_the_monthly_table_of_a_fixed_data_set(reporting_only: Platform) -> None:
    platform = reporting_only
    random.seed(12)
    histories = cases()
    published = [e for cid, case in histories.items() for e in case.envelopes(cid)]
    scrambled = random.Random(5).sample(published, len(published))
    again = [e for e in published if e.type in ("complaint.assigned", "complaint.closed")][:8]
    await publish(platform, *scrambled, *again)
    total = len(published) + len(again)
    await wait_consumed(platform, total)

    # f4 is overdue and still being handled; j5 too.
    await gauge(platform, "hz-002", 1.0)
    await gauge(platform, "hz-001", 1.0)
    f4 = histories["f4"]
    reply = f4.replied(F4_REPLY).envelopes("f4")[-1]
    await publish(platform, reply)
    await wait_consumed(platform, total + 1)
    await gauge(platform, "hz-002", 0.0)

    async with platform.client("reporting", "bureau") as bureau:
        window = {"from": "2026-01", "to": "2026-02"}
        started = time.perf_counter()
        response = await bureau.get("/v1/reports/monthly", params=window)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        table = response.json()
        rows = {(r["category"], r["unit"]): nonzero(r["counts"]) for r in table["rows"]}
        assert rows == BUREAU
        assert table["total"]["received"] == 15 and table["unit"] == "hospital"
        labels = {r["category"]: r["category_label"] for r in table["rows"]}
        assert labels == {"conduct": "行风与服务态度", "fees": "收费物价", "nursing": "护理"}
        print(f"monthly table (bureau, 2 months): {elapsed * 1000:.0f} ms")

        january = (await bureau.get("/v1/reports/monthly", params={"from": "2026-01"})).json()
        assert january["total"]["received"] == 10 and january["to"] == "2026-01"

        # The same table as files, with Chinese headers.
        as_csv = await bureau.get("/v1/reports/monthly", params={**window, "format": "csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.content.startswith(b"\xef\xbb\xbf")
        lines = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert_file_matches(lines, table)
        as_xlsx = await bureau.get(
            "/v1/reports/monthly",
            params=window,
            headers={"Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
        )
        assert as_xlsx.status_code == 200, as_xlsx.text
        sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
        assert sheet is not None
        assert_file_matches(
            [
                ["" if v is None else str(v) for v in row]
                for row in sheet.iter_rows(values_only=True)
            ],
            table,
        )

        # The bureau naming a hospital gets that hospital's departments.
        named = await bureau.get("/v1/reports/monthly", params={**window, "hospital_id": "hz-001"})
        assert named.status_code == 200

        too_long = await bureau.get(
            "/v1/reports/monthly", params={"from": "2023-01", "to": "2026-02"}
        )
        assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "to"

    async with platform.client("reporting", "hz-001") as hospital:
        own = (await hospital.get("/v1/reports/monthly", params=window)).json()
        assert own == named.json()
        assert own["unit"] == "department" and own["hospital_id"] == "hz-001"
        expected = {
            (category, DEPARTMENT[category]): counts
            for (category, unit), counts in BUREAU.items()
            if unit == "hz-001"
        }
        assert {(r["category"], r["unit"]): nonzero(r["counts"]) for r in own["rows"]} == expected
        assert {r["unit_label"] for r in own["rows"]} == {"纪检监察室", "财务科", "护理部"}
        other = await hospital.get(
            "/v1/reports/monthly", params={**window, "hospital_id": "hz-002"}
        )
        assert other.status_code == 403

    # The rebuild command recomputes the same counter documents from the facts.
    counters = platform.services["reporting"].app.state.counters.collection
    live = {doc["_id"]: figures(doc) async for doc in counters.find({})}
    await counters.update_one({"_id": "202601/c/fees"}, {"$inc": {"h.hz-001.received": 5}})
    output = rebuild_command(platform, "--counters-only")
    assert "1 of them with different figures" in output, output
    rebuilt = {doc["_id"]: figures(doc) async for doc in counters.find({})}
    assert without_empty(rebuilt) == without_empty(live)
    # 2 months, 2026Q1 and 2026 × (3 categories + 2 hospitals), overdue; 2026Q1/b, 2026/s,
    # the case library's 2026Q1/k and its cases 2026Q1/k/hz-001 (j3 reopened) and /hz-002
    # (f5), and 4 periods × 3 response-time documents (domain/analysis.py)
    assert len(without_empty(live)) == 4 * 5 + 1 + 2 + 3 + 4 * 3
    assert "0 of them with different figures" in rebuild_command(
        platform, "--counters-only"
    )  # idempotent


def without_empty(documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc_id: document for doc_id, document in documents.items() if len(document) > 1}


def assert_file_matches(lines: list[list[str]], table: dict[str, Any]) -> None:
    header, *body = lines
    assert header[:2] == ["类别", "医院"]
    assert header[2:] == [column["label"] for column in table["columns"]]
    assert {"登记", "受理", "按时答复", "逾期答复", "尚在办理", "已逾期", "属实"} <= set(header)
    assert "不予受理（不属本院职责）" in header and "升级（投诉管理部门督办）" in header
    codes = [column["code"] for column in table["columns"]]
    by_label = {r["category_label"]: r["category"] for r in table["rows"]}
    rows = {
        (by_label[line[0]], line[1]): nonzero(dict(zip(codes, map(int, line[2:]), strict=True)))
        for line in body
        if line[1] not in ("小计", "") and line[0] != "合计"
    }
    assert rows == BUREAU
    [total] = [line for line in body if line[0] == "合计"]
    assert int(total[2]) == 15
