"""The quarterly analysis, the department scorecard and the response-time statistics against
the real broker and MongoDB-wire server: test_monthly_report.py's 15 complaints of 2026Q1,
with recurring complainants and a recurring person complained about (keyed hashes only), a
group complaint and a case escalated to the bureau, plus one complaint in 2025Q4 and one
in 2025Q1 to compare with; every figure computed here by hand. The bureau's analysis counts
each hospital's recurring groups and library cases; one hospital's lists them. A quarter
read through its rollup equals the sum of its months; the rebuild gives the same new
documents (the recurring groups derived from the recurrence buckets among them)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook

from deploy.servers import Infrastructure
from services.reporting.domain.classification import figures
from shared.contracts import CHINA
from shared.matching import DEV_MATCH_KEY, complainant_key
from tests.integration.test_monthly_report import (
    FEES,
    Case,
    cases,
    nonzero,
    wait_consumed,
    without_empty,
)
from tests.support import events as sample
from tests.support.bus import publish
from tests.support.mail import MailSink
from tests.support.platform import REGION_FILE, Platform, running_platform
from tests.support.rebuild import rebuild_command

PHONE = complainant_key(DEV_MATCH_KEY, {"phone": "13800001111"})  # as intake computes it
OTHER = complainant_key(DEV_MATCH_KEY, {"phone": "13900002222"})
STAFF = "hz-001-finance-3"


@pytest.fixture(name="reporting_with_region")
async def reporting_with_region(
    infrastructure: Infrastructure, mail: MailSink
) -> AsyncIterator[Platform]:
    overrides = {"reporting": {"region_file": str(REGION_FILE)}}
    async with running_platform(
        infrastructure, smtp_port=mail.port, only=("reporting",), overrides=overrides
    ) as up:
        yield up


def received_again(case: Case, **changes: Any) -> None:
    """The case's complaint.received as intake would send it with these fields."""
    at, _ = case.steps[0]
    case.steps[0] = (at, sample.received(case_number=case.number, received_at=at, **changes))


def data_set() -> dict[str, Case]:
    random.seed(12)
    histories = cases()
    received_again(histories["j1"], complainant_key=PHONE, target_staff_id=STAFF)
    received_again(histories["j2"], complainant_key=PHONE, target_staff_id=STAFF)
    received_again(histories["j5"], complainant_key=PHONE)
    received_again(histories["j6"], target_staff_id=STAFF)
    received_again(histories["k1"], complainant_key=OTHER, group=True)
    received_again(histories["k2"], complainant_key=OTHER)
    histories["j5"].escalated(datetime(2026, 1, 26, 9, 0, tzinfo=CHINA), "bureau")
    histories["f4"].replied(datetime(2026, 3, 3, 9, 0, tzinfo=CHINA))
    for name, received in (
        ("d1", datetime(2025, 12, 8, 9, 0, tzinfo=CHINA)),
        ("y1", datetime(2025, 1, 6, 9, 0, tzinfo=CHINA)),
    ):
        due = received + timedelta(days=7)
        case = Case("hz-001", received, due).handled(FEES).replied(received + timedelta(days=1))
        histories[name] = case.closed(received + timedelta(days=2), "substantiated", "satisfied")
    return histories


def compared(this: int, previous: int, last_year: int) -> dict[str, int]:
    return {
        "this": this,
        "previous": previous,
        "last_year": last_year,
        "vs_previous": this - previous,
        "vs_last_year": this - last_year,
    }


async def test_quarterly_scorecard_and_response_times(reporting_with_region: Platform) -> None:
    platform = reporting_with_region
    histories = data_set()
    published = [e for cid, case in histories.items() for e in case.envelopes(cid)]
    await publish(platform, *random.Random(7).sample(published, len(published)))
    await wait_consumed(platform, len(published))
    numbers = {cid: case.number for cid, case in histories.items()}

    async with platform.client("reporting", "bureau") as bureau:
        # --- the quarterly analysis, the bureau's ---
        response = await bureau.get("/v1/reports/quarterly", params={"quarter": "2026Q1"})
        assert response.status_code == 200, response.text
        q = response.json()
        assert (q["previous"], q["last_year"]) == ("2025Q4", "2025Q1")
        assert q["total"]["received"] == compared(15, 1, 1)
        assert q["total"]["substantiated"] == compared(5, 1, 1)
        categories = {row["code"]: row for row in q["categories"]}
        assert categories["fees"]["figures"]["received"] == compared(6, 1, 1)
        assert categories["nursing"]["figures"]["received"] == compared(5, 0, 0)
        assert categories["conduct"]["label"] == "行风与服务态度"
        assert q["top_categories"] == ["fees", "nursing", "conduct"]
        assert q["top_departments"] == ["finance", "nursing", "discipline"]
        # By hospital (the bureau's): totals compared, the top 5.
        hospitals = {row["code"]: row["figures"]["received"] for row in q["hospitals"]}
        assert hospitals == {"hz-001": compared(9, 1, 1), "hz-002": compared(6, 0, 0)}
        # ... each by its name in the region file.
        names = {row["code"]: row["label"] for row in q["hospitals"]}
        assert names == {"hz-001": "杭州市第一人民医院", "hz-002": region_name("hz-002")}
        assert q["top_hospitals"] == ["hz-001", "hz-002"]
        # The bureau's recurring groups are counted, hospital by hospital; their complaints,
        # the recurring departments and the cases are listed for one hospital (below).
        staff_key = recurring_staff_key(q)
        recurring = {(g["kind"], g["hospital_id"], g["key"]): g for g in q["recurring"]}
        assert {key: g["count"] for key, g in recurring.items()} == {
            ("complainant", "hz-001", (PHONE or "")[:8]): 3,
            ("staff", "hz-001", staff_key): 3,
        }
        phone = recurring[("complainant", "hz-001", (PHONE or "")[:8])]
        assert phone["kind_label"] == "同一投诉人" and phone["complaints"] == []
        assert "13800001111" not in response.text and STAFF not in response.text
        assert q["case_library"] == []
        assert q["library_counts"] == [
            {"hospital_id": "hz-001", "counts": {"reopened": 1, "escalated_bureau": 1}, "total": 2},
            {"hospital_id": "hz-002", "counts": {"major": 1, "reopened": 1}, "total": 2},
        ]
        named = (
            await bureau.get(
                "/v1/reports/quarterly", params={"quarter": "2026Q1", "hospital_id": "hz-002"}
            )
        ).json()
        library = {(c["complaint_id"], tuple(c["reasons"])) for c in named["case_library"]}
        assert library == {("k1", ("major",)), ("f5", ("reopened",))}
        assert {c["case_number"] for c in named["case_library"]} == {numbers["k1"], numbers["f5"]}

        as_csv = await bureau.get(
            "/v1/reports/quarterly", params={"quarter": "2026Q1", "format": "csv"}
        )
        assert as_csv.status_code == 200 and as_csv.content.startswith(b"\xef\xbb\xbf")
        lines = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert lines[0][:3] == ["分组", "名称", "登记（本季度）"]
        assert lines[1][:5] == ["合计", "", "15", "1", "1"]

        # --- the quarter through its rollup equals the sum of its months ---
        whole = (
            await bureau.get("/v1/reports/monthly", params={"from": "2026-01", "to": "2026-03"})
        ).json()
        summed: dict[tuple[str, str], dict[str, int]] = {}
        for month in ("2026-01", "2026-02", "2026-03"):
            table = (
                await bureau.get("/v1/reports/monthly", params={"from": month, "to": month})
            ).json()
            for row in table["rows"]:
                counts = summed.setdefault((row["category"], row["unit"]), {})
                for code, n in row["counts"].items():
                    counts[code] = counts.get(code, 0) + n
        rows = {(r["category"], r["unit"]): nonzero(r["counts"]) for r in whole["rows"]}
        assert rows == {key: nonzero(counts) for key, counts in summed.items()}
        assert whole["total"]["received"] == 15
        # The bureau's rows name each hospital as the region file does, in the file too.
        assert {r["unit"]: r["unit_label"] for r in whole["rows"]} == {
            "hz-001": "杭州市第一人民医院",
            "hz-002": region_name("hz-002"),
        }
        csv_text = (
            await bureau.get(
                "/v1/reports/monthly", params={"from": "2026-01", "to": "2026-03", "format": "csv"}
            )
        ).content.decode("utf-8-sig")
        assert "\n护理,杭州市第一人民医院," in csv_text

        # --- the scorecard, the bureau's ---
        card = (await bureau.get("/v1/reports/scorecard", params={"year": 2026})).json()
        assert card["departments_from_region"] is True
        assert {r["hospital_id"] for r in card["departments"]} >= {"hz-001", "hz-002"}

        # --- response times, the bureau's ---
        times = (
            await bureau.get(
                "/v1/reports/response-times", params={"from": "2026-01", "to": "2026-03"}
            )
        ).json()
        total = times["rows"][0]
        assert (total["dimension"], total["replied"], total["on_time"], total["late"]) == (
            "total",
            9,
            6,
            3,
        )
        by_hospital = {r["code"]: r for r in times["rows"] if r["dimension"] == "hospital"}
        assert by_hospital["hz-002"]["replied"] == 3 and by_hospital["hz-002"]["on_time"] == 2

    async with platform.client("reporting", "hz-001") as hospital:
        # --- the quarterly analysis, hz-001's ---
        own = (await hospital.get("/v1/reports/quarterly", params={"quarter": "2026Q1"})).json()
        assert own["hospital_id"] == "hz-001"
        assert own["total"]["received"] == compared(9, 1, 1)
        departments = {row["code"]: row for row in own["departments"]}
        assert departments["finance"]["figures"]["received"] == compared(4, 1, 1)
        assert departments["finance"]["label"] == "财务科"
        assert {c["complaint_id"] for c in own["case_library"]} == {"j3", "j5"}
        assert {c["case_number"] for c in own["case_library"]} == {numbers["j3"], numbers["j5"]}
        own_groups = {(g["kind"], g["key"]): g for g in own["recurring"]}
        assert set(own_groups) == {
            ("complainant", (PHONE or "")[:8]),
            ("staff", staff_key),
            ("department", "finance"),
            ("department", "nursing"),
        }
        phone = own_groups[("complainant", (PHONE or "")[:8])]
        assert phone["count"] == 3 and phone["kind_label"] == "同一投诉人"
        assert {c["case_number"] for c in phone["complaints"]} == {
            numbers["j1"],
            numbers["j2"],
            numbers["j5"],
        }
        staff = own_groups[("staff", staff_key)]
        assert {c["complaint_id"] for c in staff["complaints"]} == {"j1", "j2", "j6"}
        assert own_groups[("department", "finance")]["count"] == 4
        other = await hospital.get(
            "/v1/reports/quarterly", params={"quarter": "2026Q1", "hospital_id": "hz-002"}
        )
        assert other.status_code == 403
        bad = await hospital.get("/v1/reports/quarterly", params={"quarter": "2026Q5"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "quarter"

        # --- the scorecard, hz-001's: every region department, the empty ones commended ---
        card = (await hospital.get("/v1/reports/scorecard", params={"year": 2026})).json()
        rows = {r["department"]: r for r in card["departments"]}
        assert set(rows) == region_departments("hz-001")
        assert (rows["finance"]["received"], rows["finance"]["substantiated"]) == (4, 2)
        assert rows["finance"]["partly"] == 1 and rows["finance"]["verdict"] is None
        assert (rows["discipline"]["received"], rows["discipline"]["substantiated"]) == (2, 1)
        assert rows["nursing"]["received"] == 3 and rows["nursing"]["verdict"] is None
        commended = {d for d, r in rows.items() if r["verdict_label"] == "表扬"}
        assert commended == region_departments("hz-001") - {"finance", "discipline", "nursing"}
        as_xlsx = await hospital.get(
            "/v1/reports/scorecard", params={"year": 2026, "format": "xlsx"}
        )
        sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
        assert sheet is not None
        assert next(sheet.iter_rows(values_only=True))[:4] == ("医院", "科室", "登记", "属实")

        # --- response times, hz-001's: j1 48 h / 2 wd, j6 72 h / 3 wd, j2 (late) and j3 240 h
        # / 7 and 10 wd, f1 480 h / 7 wd (the Spring Festival), f2 (late) 480 h / 7 wd ---
        times = (
            await hospital.get(
                "/v1/reports/response-times", params={"from": "2026-01", "to": "2026-03"}
            )
        ).json()
        total = times["rows"][0]
        assert (total["replied"], total["on_time"], total["late"]) == (6, 4, 2)
        assert total["on_time_rate"] == round(4 / 6, 4)
        assert total["hours"] == {"48": 1, "72": 1, "240": 2, "480": 2}
        assert total["working_days"] == {"2": 1, "3": 1, "7": 3, "10": 1}
        assert total["median_hours"] == {"at_most": 240, "over": None}
        assert total["p90_hours"] == {"at_most": 480, "over": None}
        assert total["median_working_days"] == {"at_most": 7, "over": None}
        assert total["p90_working_days"] == {"at_most": 10, "over": None}
        finance = next(
            r for r in times["rows"] if (r["dimension"], r["code"]) == ("department", "finance")
        )
        assert (finance["replied"], finance["late"], finance["label"]) == (3, 1, "财务科")
        assert {r["dimension"] for r in times["rows"]} == {
            "total",
            "department",
            "category",
            "priority",
        }
        as_csv = await hospital.get(
            "/v1/reports/response-times",
            params={"from": "2026-01", "to": "2026-03", "format": "csv"},
        )
        header = next(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
        assert header[:3] == ["维度", "名称", "答复数"]

    # The rebuild recomputes the same documents, the new ones included.
    counters = platform.services["reporting"].app.state.counters.collection
    live = {doc["_id"]: figures(doc) async for doc in counters.find({})}
    assert {"2026Q1/b", "2026/s", "2026Q1/t", "2026Q1/k", "2026Q1/k/hz-001"} <= set(live)
    assert {"2026Q1/rb", "2026Q1/rr/hz-001"} <= set(live)
    assert any(doc_id.startswith("2026Q1/r/hz-001/") for doc_id in live)  # the buckets
    assert "0 of them with different figures" in rebuild_command(platform, "--counters-only")
    rebuilt = {doc["_id"]: figures(doc) async for doc in counters.find({})}
    assert without_empty(rebuilt) == without_empty(live)


def recurring_staff_key(analysis: dict[str, Any]) -> str:
    [staff] = [g for g in analysis["recurring"] if g["kind"] == "staff"]
    assert staff["count"] == 3 and staff["hospital_id"] == "hz-001"
    key: str = staff["key"]
    return key


def region_name(hospital: str) -> str:
    raw = yaml.safe_load(REGION_FILE.read_text(encoding="utf-8"))
    return next(str(h["name"]) for h in raw["hospitals"] if h["id"] == hospital)


def region_departments(hospital: str) -> set[str]:
    raw = yaml.safe_load(REGION_FILE.read_text(encoding="utf-8"))
    [found] = [h for h in raw["hospitals"] if h["id"] == hospital]
    return {d["code"] for d in found["departments"]}
