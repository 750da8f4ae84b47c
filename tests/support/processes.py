"""The four services as separate processes (`python -m services.<name>`, as `./huiyin up`
runs them), so a test can kill -9 one and start it again. Configured with exactly the
settings the in-process platform uses (tests/support/platform.py), passed as HUIYIN_*
environment variables."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from deploy.processes import start_service, stop_services
from deploy.servers import Infrastructure
from tests.support.platform import ApiKeys, Names, StaffSigning, build_settings


def settings_env(settings: BaseSettings) -> dict[str, str]:
    """HUIYIN_* variables that make a service read exactly these settings."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list | tuple | dict):
            value = json.dumps(value)
        env[f"HUIYIN_{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    return env


class ServiceProcesses:
    def __init__(
        self, infra: Infrastructure, *, smtp_port: int, logs: Path, overrides: Mapping[str, Any]
    ) -> None:
        self.names = Names()
        self.keys = ApiKeys()
        self.signing = StaffSigning()
        self.settings = build_settings(infra, self.names, self.keys, smtp_port)
        for service, fields in overrides.items():
            self.settings[service] = self.settings[service].model_copy(update=fields)
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = dict.fromkeys(self.settings, 0)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.settings[service].http_port}"

    def start(self, service: str) -> None:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("HUIYIN_")
        } | settings_env(self.settings[service])
        self.starts[service] += 1
        self.processes[service] = start_service(service, env=env, log=self.logs / f"{service}.log")

    def kill(self, service: str) -> None:
        """kill -9: no shutdown hook runs, in-flight work is cut off where it stands."""
        process = self.processes[service]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        stop_services(self.processes.values())

    def wait_ready(self, *services: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        pending = list(services or self.settings)
        while pending:
            service = pending[0]
            if self.processes[service].poll() is not None:
                tail = (self.logs / f"{service}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{service} exited:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url(service)}/healthz", timeout=2).status_code == 200:
                    pending.pop(0)
                    continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} did not answer within {timeout:.0f} s")
            time.sleep(0.2)
