"""Each hospital's departments, from the region file routing loads (HUIYIN_REGION_FILE).

The scorecard commends departments with no complaint, which no event can name: a
department nobody complained about never appears in one. Routing owns the region (its
admin API may change it later) and publishes no event for it, so reporting reads the same
file, read-only, once at start: the simplest honest source. A department added through
routing's admin API later appears here after the file is updated and reporting restarts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_departments(path: str | Path | None) -> dict[str, dict[str, str]]:
    """hospital id → department code → name; empty without a file."""
    if not path:
        return {}
    raw: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    departments: dict[str, dict[str, str]] = {}
    for hospital in raw.get("hospitals") or []:
        departments[str(hospital["id"])] = {
            str(department["code"]): str(department.get("name") or department["code"])
            for department in hospital.get("departments") or []
        }
    return departments
