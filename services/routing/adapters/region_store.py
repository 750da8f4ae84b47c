"""Routing's copy of the region: one document per hospital, departments and staff embedded.

Hospitals change rarely and are read on every complaint, so reads go through a short
in-process cache; a reload through the admin command is visible within `ttl` seconds.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.routing.domain.case_rules import RoutingRules
from services.routing.domain.region import Hospital, Region, StaffMember, Supervisor


class RegionStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, ttl: float = 30.0) -> None:
        self._hospitals = db["hospitals"]
        self._bureau = db["bureau"]
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Hospital | None]] = {}
        self._bureau_cache: tuple[float, dict[str, Any] | None] | None = None

    async def load(self, region: Region) -> dict[str, int]:
        for hospital in region.hospitals:
            document: dict[str, Any] = hospital.model_dump(mode="json")
            document["_id"] = document.pop("id")
            await self._hospitals.replace_one({"_id": document["_id"]}, document, upsert=True)
        bureau = region.bureau.model_dump(mode="json") | {"region": region.region.model_dump()}
        bureau["_id"] = bureau.pop("id")
        await self._bureau.replace_one({"_id": bureau["_id"]}, bureau, upsert=True)
        self._cache.clear()
        self._bureau_cache = None
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

    async def _bureau_document(self) -> dict[str, Any] | None:
        if self._bureau_cache and time.monotonic() - self._bureau_cache[0] < self._ttl:
            return self._bureau_cache[1]
        document = await self._bureau.find_one({})
        self._bureau_cache = (time.monotonic(), document)
        return document

    async def bureau_rules(self) -> RoutingRules | None:
        """The region's default rules (the same object until the cache expires)."""
        document = await self._bureau_document()
        if not document or not document.get("rules"):
            return None
        cached = document.get("_parsed_rules")
        if cached is None:
            cached = document["_parsed_rules"] = RoutingRules.model_validate(document["rules"])
        return cached

    async def supervisors(self) -> list[Supervisor]:
        document = await self._bureau_document()
        return [Supervisor.model_validate(s) for s in (document or {}).get("supervisors", [])]

    async def set_absence(self, hospital_id: str, staff_id: str, absent: bool) -> StaffMember:
        """Mark a staff member absent or back in routing's copy; KeyError when unknown."""
        hospital = await self.hospital(hospital_id)
        if hospital is None:
            raise KeyError(f"hospital {hospital_id}")
        staff = [
            m.model_copy(update={"absent": absent}) if m.id == staff_id else m
            for m in hospital.staff
        ]
        member = next((m for m in staff if m.id == staff_id), None)
        if member is None:
            raise KeyError(f"staff {staff_id}")
        await self._hospitals.update_one(
            {"_id": hospital_id}, {"$set": {"staff": [m.model_dump(mode="json") for m in staff]}}
        )
        self._cache.pop(hospital_id, None)
        return member

    async def count(self) -> int:
        return await self._hospitals.count_documents({})
