"""`python -m services.routing.rebuild_load`: write the department loads again from the SLA
clocks (HUIYIN_* settings, as routing reads them; adapters/clocks.py DepartmentLoad).

The loads are derived data: each department's open clocks with their handlers. The clocks
are read once (their `_id`, hospital, department, handler and status only), each load
document built as the clocks list it (`load_documents`), and every stored document that
says otherwise replaced by `_id` in bulk commands; one that lists no open clock any more is
removed, and so is a document kept in the earlier form (counts per handler). Then the
documents are marked complete: delegation reads a handler's open cases from them instead
of querying every clock. Run it once after upgrading a database whose clocks were stored
before the documents listed them, or to clear what a crash left (an entry in a department
its clock has left). Idempotent: a second run writes nothing. Run it with routing stopped
(or run it again afterwards): a clock changed during the run may be listed as it was, and
a running routing reads its cached copy of a load for up to LOAD_TTL seconds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from services.routing.adapters.clocks import (
    CLOCKS,
    LOADS,
    LOADS_COMPLETE,
    DepartmentLoad,
    load_documents,
)
from services.routing.settings import RoutingSettings
from shared.bulk_writes import bulk_write_in_chunks
from shared.mongo_clients import on_service_database

BATCH = 1000  # clocks read at a time
PROJECTION = {"_id": 1, "hospital_id": 1, "department": 1, "handler_id": 1, "status": 1}


@dataclass(frozen=True)
class RebuiltLoad:
    clocks: int
    documents: int  # load documents listing an open clock
    replaced: int  # of those, stored differently or missing
    removed: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"department loads of {self.clocks} clocks rebuilt in {self.seconds:.1f} s: "
            f"{self.documents} documents, {self.replaced} written, {self.removed} removed"
        )


async def rebuild_load(db: AsyncDatabase[dict[str, Any]]) -> RebuiltLoad:
    started = time.monotonic()
    clocks = 0
    wanted: dict[str, dict[str, str]] = {}
    async for clock in db[CLOCKS].find({}, PROJECTION, batch_size=BATCH):
        clocks += 1
        for key, cases in load_documents([clock]).items():
            wanted.setdefault(key, {}).update(cases)
    collection = db[LOADS]
    # One document per department of the region: a scan of this collection is small.
    stored = {
        document["_id"]: document
        async for document in collection.find({"_id": {"$ne": LOADS_COMPLETE}})
    }
    writes: list[ReplaceOne[dict[str, Any]] | DeleteOne] = [
        ReplaceOne({"_id": key}, {"_id": key, "cases": cases}, upsert=True)
        for key, cases in sorted(wanted.items())
        if stored.get(key) != {"_id": key, "cases": cases}
    ]
    replaced = len(writes)
    writes += [DeleteOne({"_id": key}) for key in sorted(stored) if key not in wanted]
    await bulk_write_in_chunks(collection, writes)
    await DepartmentLoad(db).mark_complete(by="python -m services.routing.rebuild_load")
    return RebuiltLoad(
        clocks=clocks,
        documents=len(wanted),
        replaced=replaced,
        removed=len(writes) - replaced,
        seconds=time.monotonic() - started,
    )


def main() -> None:
    print(asyncio.run(on_service_database(RoutingSettings(), rebuild_load)))


if __name__ == "__main__":
    main()
