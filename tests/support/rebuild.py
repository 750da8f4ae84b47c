"""`python -m services.reporting.rebuild` against one test's platform, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.platform import Platform


def rebuild_command(platform: Platform, *arguments: str) -> str:
    """Its output. `--counters-only` for tests that publish events with no complaint in
    intake: the default rebuilds every fact from intake's records first."""
    env = {
        **os.environ,
        "HUIYIN_MONGO_URL": platform.infra.mongo_url,
        "HUIYIN_DATABASE": platform.settings["reporting"].database,
        "HUIYIN_INTAKE_DATABASE": platform.settings["intake"].database,
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.reporting.rebuild", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout
