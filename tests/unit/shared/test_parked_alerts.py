"""The parked-message alerts, checked by promtool (Debian's `prometheus` package has it;
HUIYIN_PROMTOOL names another binary): the rules load, one message parked for 15 minutes
warns, and only a count that keeps growing is critical (parked_alerts_test.yml)."""

from __future__ import annotations

import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
RULES = HERE.parents[2] / "deploy" / "prometheus" / "alerts.yml"


def run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=HERE, capture_output=True, text=True, timeout=60, check=False
    )


def test_parked_messages_warn_when_waiting_and_are_critical_when_growing(promtool: str) -> None:
    checked = run(promtool, "check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run(promtool, "test", "rules", "parked_alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
