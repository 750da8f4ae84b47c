"""Fixtures of the unit tests: no servers, only local tools."""

from __future__ import annotations

import os
import shutil

import pytest

from deploy.servers import cache_dir


@pytest.fixture(scope="session")
def promtool() -> str:
    """Prometheus's rule checker: HUIYIN_PROMTOOL, one on PATH, or the copy deploy/setup.sh
    extracts from Debian's prometheus package (so CI runs the alert-rule tests)."""
    cached = cache_dir() / "bin" / "promtool"
    found = (
        os.environ.get("HUIYIN_PROMTOOL")
        or shutil.which("promtool")
        or (str(cached) if cached.exists() else None)
    )
    if not found:
        pytest.skip(
            "promtool is not installed: run deploy/setup.sh (or apt-get install prometheus)"
        )
    return found
