"""Intake's copy of the hospitals' staff and departments, to know who may act on a case.

Loaded from the same region file as routing's copy (`huiyin-admin load-region`); reads are
by `_id` (`hospital:staff_id`) through a short in-process cache, so a reload is visible
within `ttl` seconds. The bureau's supervisors (the region file's `bureau.supervisors`) are
kept the same way under the issuer of their assertions, `bureau` (`bureau:staff_id`), with
the one role `bureau_supervisor`: they acknowledge escalations to the bureau (督办).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.intake.domain.authority import BUREAU_SUPERVISOR, Actor
from shared.auth import BUREAU


class StaffDirectory:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], *, ttl: float = 30.0) -> None:
        self._staff = db["staff"]
        self._hospitals = db["hospital_departments"]
        self._ttl = ttl
        self._actors: dict[str, tuple[float, Actor | None]] = {}
        self._departments: dict[str, tuple[float, dict[str, str] | None]] = {}

    async def load(self, hospitals: Iterable[Mapping[str, Any]]) -> int:
        """Replace each listed hospital's staff and departments; returns the staff count."""
        count = 0
        for hospital in hospitals:
            hospital_id = str(hospital["id"])
            departments = {str(d["code"]): str(d["name"]) for d in hospital.get("departments", [])}
            await self._hospitals.replace_one(
                {"_id": hospital_id}, {"_id": hospital_id, "departments": departments}, upsert=True
            )
            ids = []
            for member in hospital.get("staff", []):
                staff_id = str(member["id"])
                ids.append(f"{hospital_id}:{staff_id}")
                document = {
                    "_id": ids[-1],
                    "hospital_id": hospital_id,
                    "staff_id": staff_id,
                    "name": member.get("name", ""),
                    "department": member["department"],
                    "roles": list(member.get("roles", ["handler"])),
                }
                await self._staff.replace_one({"_id": ids[-1]}, document, upsert=True)
            await self._staff.delete_many({"hospital_id": hospital_id, "_id": {"$nin": ids}})
            count += len(ids)
        self._actors.clear()
        self._departments.clear()
        return count

    async def load_bureau(self, bureau: Mapping[str, Any]) -> int:
        """Replace the bureau's supervisors; returns their count. No departments are
        stored for the bureau: it is no hospital, and registers no complaints of its own."""
        ids = []
        for supervisor in bureau.get("supervisors", []):
            staff_id = str(supervisor["staff_id"])
            ids.append(f"{BUREAU}:{staff_id}")
            document = {
                "_id": ids[-1],
                "hospital_id": BUREAU,
                "staff_id": staff_id,
                "name": supervisor.get("name", ""),
                "department": BUREAU,
                "roles": [BUREAU_SUPERVISOR],
            }
            await self._staff.replace_one({"_id": ids[-1]}, document, upsert=True)
        await self._staff.delete_many({"hospital_id": BUREAU, "_id": {"$nin": ids}})
        self._actors.clear()
        return len(ids)

    async def actor(self, hospital_id: str, staff_id: str) -> Actor | None:
        key = f"{hospital_id}:{staff_id}"
        cached = self._actors.get(key)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        document = await self._staff.find_one({"_id": key})
        actor = None
        if document is not None:
            actor = Actor(
                staff_id=document["staff_id"],
                department=document["department"],
                roles=frozenset(document.get("roles", [])),
                name=document.get("name", ""),
            )
        self._actors[key] = (time.monotonic(), actor)
        return actor

    async def departments(self, hospital_id: str) -> dict[str, str] | None:
        """Department code → name; None when the hospital is not loaded."""
        cached = self._departments.get(hospital_id)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        document = await self._hospitals.find_one({"_id": hospital_id})
        departments = document["departments"] if document else None
        self._departments[hospital_id] = (time.monotonic(), departments)
        return departments
