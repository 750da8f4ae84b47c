"""The operations alerts of deploy/prometheus/alerts.yml, checked by promtool
(ops_alerts_test.yml: service down, latency, failing, stalled and parked consumers, outbox
backlog, delivery failures, overdue complaints), and the rule that every alert has promtool
tests: one where it fires and one where it stays quiet, in any *alerts_test.yml that loads
the rules."""

from __future__ import annotations

from pathlib import Path

from tests.support.promtool import (
    alert_names,
    alert_rule_tests,
    alerts_under_test,
    assert_rule_tests_pass,
)

HERE = Path(__file__).resolve().parent


def test_the_operations_alerts_fire_and_stay_quiet_when_they_should(promtool: str) -> None:
    assert_rule_tests_pass(promtool, HERE / "ops_alerts_test.yml")


def test_every_alert_has_a_test_that_fires_it_and_one_that_keeps_it_quiet() -> None:
    files = alert_rule_tests()
    assert HERE / "ops_alerts_test.yml" in files
    fired, quiet = alerts_under_test(files)
    alerts = alert_names()
    assert alerts, "no alert rules found"
    assert not alerts - fired, f"never expected to fire: {sorted(alerts - fired)}"
    assert not alerts - quiet, f"never expected quiet: {sorted(alerts - quiet)}"
    assert not (fired | quiet) - alerts, f"tests of no rule: {sorted((fired | quiet) - alerts)}"
