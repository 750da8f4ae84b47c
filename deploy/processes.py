"""The platform's processes: the four services (`python -m services.<name>`), the Celery
workers of the services that have tasks (`huiyin-worker <service>`) and the one beat
(`huiyin-beat`). How `./huiyin up` (deploy/demo.py) runs them, and how the tests that kill -9
one do (tests/support/processes.py, tests/support/celery.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from deploy.servers import REPO


def start_process(
    command: Sequence[str], *, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start a process in a session of its own, so that it can be signalled as a group
    (a Celery worker with the processes it forked); its output is appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_service(name: str, *, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start_process([sys.executable, "-m", f"services.{name}"], env=env, log=log)


def start_worker(
    service: str, *, env: Mapping[str, str], log: Path, name: str | None = None
) -> subprocess.Popen[bytes]:
    """`huiyin-worker <service>` (shared/celery_app.py), whether or not the project's
    scripts are installed; `name` is its node name (default: <service>@<host>)."""
    run = "from shared.celery_app import worker_main; worker_main()"
    named = [f"--name={name}"] if name else []
    return start_process([sys.executable, "-c", run, service, *named], env=env, log=log)


def start_beat(
    *, env: Mapping[str, str], log: Path, modules: Sequence[str] = (), name: str | None = None
) -> subprocess.Popen[bytes]:
    """`huiyin-beat` (shared/celery_beat.py): every service's schedule, or `modules`';
    `name` is its node name (default: beat@<host>)."""
    run = "from shared.celery_beat import beat_main; beat_main()"
    named = [f"--name={name}"] if name else []
    return start_process([sys.executable, "-c", run, *modules, *named], env=env, log=log)


def stop_services(processes: Iterable[subprocess.Popen[bytes]], *, grace: float = 20) -> None:
    """SIGTERM to each process at once (a service drains its consumer; a Celery worker lets
    its running tasks finish, its pool children stopping with it), then wait for each; one
    still running after `grace` seconds is killed with whatever is left of its group."""
    running = list(processes)
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
