"""`python -m services.intake.rebuild_keys`: write every complaint's lookup keys again from
the complaints (HUIYIN_* settings, as intake reads them; adapters/complaint_keys.py).

The keys are derived data: each complaint's tracking code and case number, naming it. The
complaints are read once (their `_id`, hospital, number and code only) and each key upserted
as the complaint says, in bulk commands: a missing key is written, one that names another
complaint corrected, the rest left as they are. Then the database is marked complete: a key
not found means no such complaint, and the lookups stop falling back to the scan. Run it
once after upgrading a database whose complaints were stored before the keys, or after
losing the keys; idempotent (a second run writes nothing), and safe while intake runs
(this version: it writes the keys of each complaint it registers).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.intake.adapters.complaint_keys import ComplaintKeys
from services.intake.settings import IntakeSettings
from shared.mongo_clients import on_service_database

BATCH = 1000  # complaints read, and their keys written, at a time
PROJECTION = {"_id": 1, "hospital_id": 1, "case_number": 1, "tracking_code": 1}


@dataclass(frozen=True)
class RebuiltKeys:
    complaints: int
    new: int
    corrected: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"lookup keys of {self.complaints} complaints rebuilt in {self.seconds:.1f} s: "
            f"{self.new} keys written, {self.corrected} corrected"
        )


async def rebuild_keys(db: AsyncDatabase[dict[str, Any]]) -> RebuiltKeys:
    started = time.monotonic()
    keys = ComplaintKeys(db)
    complaints = new = corrected = 0
    batch: list[dict[str, Any]] = []

    async def write() -> None:
        nonlocal new, corrected
        written, fixed = await keys.write(batch)
        new, corrected = new + written, corrected + fixed
        batch.clear()

    async for complaint in db["complaints"].find({}, PROJECTION, batch_size=BATCH):
        complaints += 1
        batch.append(complaint)
        if len(batch) >= BATCH:
            await write()
    if batch:
        await write()
    await keys.mark_complete(by="python -m services.intake.rebuild_keys")
    return RebuiltKeys(complaints, new, corrected, time.monotonic() - started)


def main() -> None:
    print(asyncio.run(on_service_database(IntakeSettings(), rebuild_keys)))


if __name__ == "__main__":
    main()
