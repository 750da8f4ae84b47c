"""`python -m services.reporting.rebuild`: rebuild reporting's read models from what intake
stores (HUIYIN_* settings, as the service reads them; intake's database is
HUIYIN_INTAKE_DATABASE on the same server). `--counters-only` skips the first step.

First the facts: every complaint intake keeps is read once (its state, timeline and ladder
steps, never the complainant's identity or words) and its fact document rebuilt as the
events would have made it (domain/intake_records.py), replaced by `_id` in bulk. Facts of
complaints intake has no record of are left as they are.

Then the counters, which also repairs the window adapters/report_counters.py describes (a
crash between a fact write and its counter `$inc`): every fact document is scanned once,
the counter documents built afresh in memory (the same contribution the live consumer
adds, and the recurring groups derived from them), each live document replaced by `_id`,
and the ones no complaint counts in any more removed.
Idempotent: a second run changes nothing. Run it with reporting stopped, and start it
again afterwards: an event applied during the run may be counted twice or not at all (run
it again after such an event), and a running reporting keeps the facts it wrote last in
memory (adapters/complaint_facts.py), which the rebuild does not replace.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

from pymongo import ReplaceOne
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
from services.reporting.domain.intake_records import facts_of_record
from services.reporting.settings import ReportingSettings
from shared.bulk_writes import bulk_write_in_chunks
from shared.mongo_clients import mongo_client

# Intake's record without what the facts never need: the complainant's identity and words,
# and the events waiting to be published.
RECORD_PROJECTION = {"complainant": 0, "content": 0, "demand": 0, "summary": 0, "outbox": 0}
BATCH = 1000


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


@dataclass(frozen=True)
class RebuiltFacts:
    records: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"rebuilt {self.records} complaints' facts from intake's records in"
            f" {self.seconds:.1f} s"
        )


async def rebuild_facts(
    db: AsyncDatabase[dict[str, Any]], intake_db: AsyncDatabase[dict[str, Any]], *, match_key: str
) -> RebuiltFacts:
    started = time.monotonic()
    facts = ComplaintFacts(db).collection
    batch: list[ReplaceOne[dict[str, Any]]] = []
    records = 0
    async for record in intake_db["complaints"].find({}, RECORD_PROJECTION, batch_size=BATCH):
        records += 1
        rebuilt = facts_of_record(record, match_key=match_key)
        batch.append(ReplaceOne({"_id": rebuilt["_id"]}, rebuilt, upsert=True))
        if len(batch) >= BATCH:
            await bulk_write_in_chunks(facts, batch)
            batch = []
    if batch:
        await bulk_write_in_chunks(facts, batch)
    return RebuiltFacts(records, time.monotonic() - started)


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


async def _main(settings: ReportingSettings, *, counters_only: bool) -> list[str]:
    client = mongo_client(settings.mongo_url, timeout_seconds=settings.database_timeout_seconds)
    said: list[str] = []
    try:
        db = client[settings.database]
        if not counters_only:
            match_key = settings.match_key.get_secret_value()
            said.append(
                str(await rebuild_facts(db, client[settings.intake_database], match_key=match_key))
            )
        said.append(str(await rebuild(db)))
        return said
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.reporting.rebuild")
    parser.add_argument(
        "--counters-only",
        action="store_true",
        help="recompute the counters from reporting's own facts, without reading intake",
    )
    arguments = parser.parse_args()
    for line in asyncio.run(_main(ReportingSettings(), counters_only=arguments.counters_only)):
        print(line, file=sys.stdout)


if __name__ == "__main__":
    main()
