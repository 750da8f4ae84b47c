"""Prometheus's rule checker on the platform's alert rules: `promtool test rules` on a
unit-test file of ours, and which alerts such files test (fired and kept quiet)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"


def run_promtool(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """promtool with `args` in `cwd` (a test file names the rules relative to itself)."""
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def assert_rule_tests_pass(promtool: str, test_file: Path) -> None:
    """`test_file` (a promtool unit-test file) passes, on rules that promtool accepts."""
    checked = run_promtool(promtool, "check", "rules", str(RULES), cwd=test_file.parent)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run_promtool(promtool, "test", "rules", test_file.name, cwd=test_file.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def alert_names(rules: Path = RULES) -> set[str]:
    document: dict[str, Any] = yaml.safe_load(rules.read_text(encoding="utf-8"))
    return {
        rule["alert"] for group in document["groups"] for rule in group["rules"] if "alert" in rule
    }


def alert_rule_tests(rules: Path = RULES) -> list[Path]:
    """Every promtool test file under tests/ that loads `rules`."""
    found = []
    for path in sorted((REPO / "tests").rglob("*_test.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        loaded = {(path.parent / name).resolve() for name in document.get("rule_files", [])}
        if rules.resolve() in loaded:
            found.append(path)
    return found


def alerts_under_test(paths: list[Path]) -> tuple[set[str], set[str]]:
    """The alerts these files expect to fire somewhere, and those they expect quiet."""
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in paths:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in document.get("tests", []):
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    return fired, quiet
