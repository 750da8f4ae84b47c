"""The reports benchmark (bench/reports.py) runs end to end with a tiny region, so it
cannot rot: it seeds the counter documents of a generated history, starts the real
reporting service on them, times each table over HTTP and prints its verdicts; the
bureau's table of the whole history counts every complaint generated."""

from __future__ import annotations

import pytest

from bench.region_history import HistoryShape
from bench.reports import QUARTERLY_PATH, Options, measure
from deploy.servers import Infrastructure

pytestmark = pytest.mark.timeout(240)


async def test_the_benchmark_times_every_table_of_a_seeded_region_and_prints_its_verdict(
    infrastructure: Infrastructure, capsys: pytest.CaptureFixture[str]
) -> None:
    shape = HistoryShape(hospitals=4, months=6, total=1_500, seed=3, last_month="2026-06")
    report = await measure(infrastructure, Options(shape=shape, requests=3))

    assert 1_200 < report.seeded.complaints < 1_800
    assert report.seeded.documents > 6 * 4  # at least a month's document per hospital
    assert [line.status for line in report.lines] == [200] * len(report.lines)
    assert all(len(line.latencies_ms) == 3 for line in report.lines)
    whole = next(line for line in report.lines if line.name.startswith("bureau, all"))
    assert whole.answer["total"]["received"] == report.seeded.complaints
    hospital = next(line for line in report.lines if line.name.startswith("hospital"))
    assert hospital.answer["hospital_id"] == "hz-001" and hospital.answer["rows"]
    printed = capsys.readouterr().out
    assert f"seeded    {report.seeded.complaints:,} complaints of 4 hospitals" in printed
    assert ("PASS" if report.met else "FAIL") in printed.splitlines()[-1]
    if not any(line.path == QUARTERLY_PATH for line in report.lines):
        assert "not in this service" in printed
