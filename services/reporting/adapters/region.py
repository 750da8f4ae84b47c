"""The region's hospitals and their departments, from the region file routing loads
(HUIYIN_REGION_FILE): the names the bureau's reports show for hospital ids, and the
departments the scorecard lists.

The scorecard commends departments with no complaint, which no event can name: a
department nobody complained about never appears in one. Routing owns the region (its
admin API may change it later) and publishes no event for it, so reporting reads the same
file, read-only, once at start: the simplest honest source. A hospital or department added
through routing's admin API later appears here after the file is updated and reporting
restarts; until then the reports show its code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Region:
    hospital_names: dict[str, str] = field(default_factory=dict)  # id → name
    departments: dict[str, dict[str, str]] = field(default_factory=dict)  # id → code → name


def read_region(path: str | Path | None) -> Region:
    """The region file's hospitals; empty without a file."""
    if not path:
        return Region()
    raw: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    region = Region()
    for hospital in raw.get("hospitals") or []:
        hospital_id = str(hospital["id"])
        region.hospital_names[hospital_id] = str(hospital.get("name") or hospital_id)
        region.departments[hospital_id] = {
            str(department["code"]): str(department.get("name") or department["code"])
            for department in hospital.get("departments") or []
        }
    return region
