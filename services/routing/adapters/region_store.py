"""Routing's copy of the region: one document per hospital, departments and staff embedded.

Hospitals change rarely and are read on every complaint, so reads go through a short
in-process cache; a reload through the admin command is visible within `ttl` seconds.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.routing.domain.region import Hospital, Region


class RegionStore:
    def __init__(self, db: AsyncDatabase, *, ttl: float = 30.0) -> None:
        self._hospitals = db["hospitals"]
        self._bureau = db["bureau"]
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Hospital | None]] = {}

    async def load(self, region: Region) -> dict[str, int]:
        for hospital in region.hospitals:
            document: dict[str, Any] = hospital.model_dump(mode="json")
            document["_id"] = document.pop("id")
            await self._hospitals.replace_one({"_id": document["_id"]}, document, upsert=True)
        bureau = region.bureau.model_dump(mode="json") | {"region": region.region.model_dump()}
        bureau["_id"] = bureau.pop("id")
        await self._bureau.replace_one({"_id": bureau["_id"]}, bureau, upsert=True)
        self._cache.clear()
        return {
            "hospitals": len(region.hospitals),
            "departments": sum(len(h.departments) for h in region.hospitals),
            "staff": sum(len(h.staff) for h in region.hospitals),
        }

    async def hospital(self, hospital_id: str) -> Hospital | None:
        cached = self._cache.get(hospital_id)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        document = await self._hospitals.find_one({"_id": hospital_id})
        hospital = None
        if document is not None:
            document["id"] = document.pop("_id")
            hospital = Hospital.model_validate(document)
        self._cache[hospital_id] = (time.monotonic(), hospital)
        return hospital

    async def count(self) -> int:
        return await self._hospitals.count_documents({})
