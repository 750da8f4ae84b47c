"""The SLA scan benchmark (bench/sla_scan.py) runs end to end with small numbers, so it
cannot rot: it seeds the scan's index and the clocks, tells every due clock once through
the real broker, finds nothing left on the second pass and nothing to publish when the
same entries are found again."""

from __future__ import annotations

import pytest

from bench.sla_scan import Options, measure
from deploy.servers import Infrastructure

pytestmark = pytest.mark.timeout(180)


async def test_the_benchmark_tells_each_due_clock_once_and_prints_its_verdict(
    infrastructure: Infrastructure, capsys: pytest.CaptureFixture[str]
) -> None:
    report = await measure(
        infrastructure, Options(clocks=3_000, due=200, due_minutes=3, with_clocks=True)
    )

    assert report.seeded.open_clocks == 3_000
    assert report.seeded.due == 200
    assert report.seeded.clock_documents == 3_000
    first, second, replayed = report.passes
    assert (first.result.due, first.result.published, first.received, first.distinct) == (
        200,
        200,
        200,
        200,
    )
    assert (second.result.due, second.result.published, second.received) == (0, 0, 0)
    assert (replayed.result.due, replayed.result.published, replayed.result.already) == (
        200,
        0,
        200,
    )
    assert replayed.received == 0
    assert report.floor_seconds > 0
    printed = capsys.readouterr().out
    assert "one pass over 3,000 open clocks, 200 due" in printed
    assert ("PASS" if report.met else "FAIL") in printed
