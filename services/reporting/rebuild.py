"""`python -m services.reporting.rebuild`: recompute every report counter from the complaint
facts and replace the live counter documents (HUIYIN_* settings, as the service reads them).

An offline repair of the window adapters/report_counters.py describes (a crash between a
fact write and its counter `$inc`): it scans every fact document once, builds the counter
documents afresh in memory (domain/classification.py `counter_documents`, the same
contribution the live consumer adds, and the recurring groups derived from them), then
replaces each live document by `_id` and removes the ones no complaint counts in any more.
Idempotent: a second run changes nothing. Run it with the reporting consumer stopped: an
event applied during the run may be counted twice or not at all (run it again after such
an event).
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.adapters.report_counters import ReportCounters
from services.reporting.domain.classification import (
    apply_update,
    contribution_of,
    counter_moves,
    figures,
    recurring_documents,
)
from services.reporting.settings import ReportingSettings
from shared.mongo_clients import mongo_client


@dataclass(frozen=True)
class Rebuilt:
    facts: int
    documents: int
    changed: int  # live documents whose figures differed (or that were missing)
    removed: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"rebuilt report counters from {self.facts} complaints' facts in"
            f" {self.seconds:.1f} s: {self.documents} documents written, {self.changed} of"
            f" them with different figures than before, {self.removed} stale removed"
        )


async def rebuild(db: AsyncDatabase[dict[str, Any]]) -> Rebuilt:
    started = time.monotonic()
    facts, counters = ComplaintFacts(db), ReportCounters(db)
    fresh: dict[str, dict[str, Any]] = {}
    scanned = 0
    async for one in facts.scan():
        scanned += 1
        for doc_id, update in counter_moves(None, contribution_of(one)).items():
            apply_update(fresh.setdefault(doc_id, {"_id": doc_id}), update)
    fresh.update(recurring_documents(fresh.values()))
    live = {doc["_id"]: doc async for doc in counters.collection.find({})}
    changed = 0
    for doc_id, document in fresh.items():
        if doc_id not in live or figures(live[doc_id]) != figures(document):
            changed += 1
        await counters.collection.replace_one({"_id": doc_id}, document, upsert=True)
    stale = [doc_id for doc_id in live if doc_id not in fresh]
    for doc_id in stale:
        await counters.collection.delete_one({"_id": doc_id})
    return Rebuilt(scanned, len(fresh), changed, len(stale), time.monotonic() - started)


async def _main(settings: ReportingSettings) -> Rebuilt:
    client = mongo_client(settings.mongo_url, timeout_seconds=settings.database_timeout_seconds)
    try:
        return await rebuild(client[settings.database])
    finally:
        await client.close()


def main() -> None:
    print(asyncio.run(_main(ReportingSettings())), file=sys.stdout)


if __name__ == "__main__":
    main()
