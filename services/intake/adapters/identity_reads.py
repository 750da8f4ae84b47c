"""Who saw a complainant's full identity, when, and with which proof (an access log the
complaint office and the bureau can read).

One document per complaint (`_id` = complaint id), each read appended with `$push` in a
single upsert by `_id`: no read-modify-write, no lock, and the complaint document (its
version, its lifecycle timeline, its single writer) is never touched by a read. Nothing
in the API edits or deletes an entry; each carries the kid and jti of the single-use
assertion the hospital signed for the reader, so an entry names a proven person.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from shared.staff_assertion import StaffAssertion


class IdentityReadLog:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._reads = db["identity_reads"]

    async def record(
        self, *, complaint_id: str, hospital_id: str, reader: StaffAssertion, via: str
    ) -> None:
        entry = {"at": datetime.now(UTC), "staff_id": reader.staff_id, "via": via}
        await self._reads.update_one(
            {"_id": complaint_id},
            {
                "$setOnInsert": {"hospital_id": hospital_id},
                "$push": {"reads": entry | reader.proof()},
            },
            upsert=True,
        )

    async def of(self, complaint_id: str) -> list[dict[str, Any]]:
        document = await self._reads.find_one({"_id": complaint_id})
        return list((document or {}).get("reads", []))
