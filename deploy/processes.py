"""The four services as separate processes, `python -m services.<name>`: how `./huiyin up`
(deploy/demo.py) runs them, and how the tests that kill -9 a service do
(tests/support/processes.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from deploy.servers import REPO


def start_service(name: str, *, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start one service in a session of its own, so that it can be signalled as a group;
    its output is appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            env=dict(env),
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_services(processes: Iterable[subprocess.Popen[bytes]], *, grace: float = 20) -> None:
    """SIGTERM to all at once (each drains its consumer), then wait for each; one still
    running after `grace` seconds is killed."""
    running = list(processes)
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
