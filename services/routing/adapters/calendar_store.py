"""The bureau's calendar corrections, stored so that a correction made through the admin
endpoint survives restarts (one document per year)."""

from __future__ import annotations

from datetime import date

from pymongo.asynchronous.database import AsyncDatabase

from services.routing.domain.calendar import CalendarCorrection


class CalendarStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._years = db["calendar_corrections"]

    async def save(self, correction: CalendarCorrection, *, by: str) -> None:
        await self._years.replace_one(
            {"_id": correction.year},
            {
                "_id": correction.year,
                "holidays": sorted(d.isoformat() for d in correction.holidays),
                "workdays": sorted(d.isoformat() for d in correction.workdays),
                "by": by,
            },
            upsert=True,
        )

    async def corrections(self) -> list[CalendarCorrection]:
        return [
            CalendarCorrection(
                year=int(document["_id"]),
                holidays=frozenset(date.fromisoformat(d) for d in document["holidays"]),
                workdays=frozenset(date.fromisoformat(d) for d in document["workdays"]),
            )
            async for document in self._years.find({})
        ]
