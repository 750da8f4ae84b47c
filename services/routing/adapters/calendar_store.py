"""The years the bureau loaded through the admin API, so that they survive restarts: one
document per year (`_id` the year) holding the version in force at the top level and every
version ever loaded, with who loaded it and when, in `versions` (the last one is current).

    {_id: 2027, holidays: [...], workdays: [...], by: "bureau", at: ..., version: 2,
     versions: [{version: 1, holidays, workdays, by, at}, {version: 2, ...}]}

A document stored before versions were kept has only the top level; its first new version
keeps it as version 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.routing.domain.calendar import CalendarCorrection


@dataclass(frozen=True)
class StoredYear:
    """One year as stored: the version in force and the history."""

    correction: CalendarCorrection
    version: int
    versions: list[dict[str, Any]]


def _entry(
    correction: CalendarCorrection, *, version: int, by: str, at: datetime | None
) -> dict[str, Any]:
    return {
        "version": version,
        "holidays": sorted(d.isoformat() for d in correction.holidays),
        "workdays": sorted(d.isoformat() for d in correction.workdays),
        "by": by,
        "at": at,
    }


def _correction(year: int, document: dict[str, Any]) -> CalendarCorrection:
    return CalendarCorrection(
        year=year,
        holidays=frozenset(date.fromisoformat(d) for d in document.get("holidays", [])),
        workdays=frozenset(date.fromisoformat(d) for d in document.get("workdays", [])),
    )


def _versions(document: dict[str, Any]) -> list[dict[str, Any]]:
    if document.get("versions"):
        return list(document["versions"])
    legacy = _correction(int(document["_id"]), document)
    return [_entry(legacy, version=1, by=document.get("by", "?"), at=document.get("at"))]


class CalendarStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._years = db["calendar_corrections"]

    async def save(self, correction: CalendarCorrection, *, by: str) -> int:
        """Store a new version of the year and make it current; returns its number."""
        existing = await self._years.find_one({"_id": correction.year})
        if existing is not None and not existing.get("versions"):
            await self._years.update_one(
                {"_id": correction.year}, {"$set": {"versions": _versions(existing)}}
            )
        version = len(_versions(existing)) + 1 if existing else 1
        entry = _entry(correction, version=version, by=by, at=datetime.now(UTC))
        await self._years.update_one(
            {"_id": correction.year},
            {"$set": entry, "$push": {"versions": entry}},
            upsert=True,
        )
        return version

    async def year(self, year: int) -> StoredYear | None:
        document = await self._years.find_one({"_id": year})
        if document is None:
            return None
        return StoredYear(
            correction=_correction(year, document),
            version=int(document.get("version", 1)),
            versions=_versions(document),
        )

    async def years(self) -> list[StoredYear]:
        """Every stored year (read once at start: one document per year, a handful)."""
        return [
            StoredYear(
                correction=_correction(int(document["_id"]), document),
                version=int(document.get("version", 1)),
                versions=_versions(document),
            )
            async for document in self._years.find({})
        ]
