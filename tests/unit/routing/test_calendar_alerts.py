"""The calendar alerts, checked by promtool (Debian's `prometheus` package has it;
HUIYIN_PROMTOOL names another binary): deadlines waiting for a year's calendar page at once
with their count and year, and clear when it is loaded; the calendar's end warns 45 days
ahead (calendar_alerts_test.yml)."""

from __future__ import annotations

from pathlib import Path

from tests.support.promtool import assert_rule_tests_pass

HERE = Path(__file__).resolve().parent


def test_the_calendar_alerts_fire_and_clear(promtool: str) -> None:
    assert_rule_tests_pass(promtool, HERE / "calendar_alerts_test.yml")
