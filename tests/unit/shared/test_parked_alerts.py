"""The parked-message alerts, checked by promtool (Debian's `prometheus` package has it;
HUIYIN_PROMTOOL names another binary): the rules load, one message parked for 15 minutes
warns, and only a count that keeps growing is critical (parked_alerts_test.yml)."""

from __future__ import annotations

from pathlib import Path

from tests.support.promtool import assert_rule_tests_pass

HERE = Path(__file__).resolve().parent


def test_parked_messages_warn_when_waiting_and_are_critical_when_growing(promtool: str) -> None:
    assert_rule_tests_pass(promtool, HERE / "parked_alerts_test.yml")
