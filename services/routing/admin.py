"""Reading a region file and loading it into routing's store; `huiyin-admin load-region`
(deploy/admin.py) does both for every service that keeps a copy."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.routing.adapters.region_store import RegionStore
from services.routing.domain.region import Region
from services.routing.settings import RoutingSettings
from shared.runtime import mongo_client


def read_region(path: Path) -> Region:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(raw, dict):  # notification's contact book is not routing's to read
        raw.pop("notification", None)
    return Region.model_validate(raw)


async def load_region(path: Path, settings: RoutingSettings) -> dict[str, int]:
    region = read_region(path)
    client = mongo_client(settings.mongo_url)
    try:
        return await RegionStore(client[settings.database]).load(region)
    finally:
        await client.close()
