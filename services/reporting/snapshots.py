"""The monthly report as filed (投诉分类统计表, due by the 3rd of the next month): the past
month's classification table, for the bureau and for each hospital, kept as it stood when
the report was taken, beside the live table that later events still move.

Documents in `report_snapshots`, each addressed by `_id` alone: `monthly/<YYYYMM>/bureau`
(rows category × hospital) and `monthly/<YYYYMM>/<hospital>` (category × department), each
holding the table exactly as GET /v1/reports/monthly answers it, as JSON text (the route's
own function computes it, so the two cannot differ), and when it was taken.

Written once: a run that finds a document keeps it, so a run sent twice, redelivered after
a worker died or sent again on the 2nd and 3rd (tasks.py) writes the same. The hospitals'
documents are written first and the bureau's last: the bureau's marks the month as taken,
and a run cut off before it finishes the month when it runs again. A hospital with nothing
received that month has no document of its own; its filed table is the empty one. Only
`replace=True` (an operator's run after `python -m services.reporting.rebuild`) rewrites.

The Celery task writes (one writer); the API only reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.reporting.adapters.region import Region
from services.reporting.adapters.report_counters import ReportCounters
from services.reporting.api.routes import monthly
from services.reporting.api.schemas import Column, MonthlyTable
from services.reporting.domain.classification import Table, column_label
from shared.auth import BUREAU, Principal
from shared.contracts import CHINA

COLLECTION = "report_snapshots"
MONTH = re.compile(r"^(20[0-9]{2})-(0[1-9]|1[0-2])$")


def past_month(now: datetime) -> str:
    """The month (YYYY-MM) before the one `now` falls in, China time."""
    first = now.astimezone(CHINA).date().replace(day=1)
    previous: date = first - timedelta(days=1)
    return f"{previous:%Y-%m}"


def snapshot_id(month: str, hospital_id: str | None) -> str:
    """`monthly/202611/bureau`, `monthly/202611/hz-001` for the month `2026-11`."""
    if not MONTH.match(month):
        raise ValueError(f"{month!r} is not a month YYYY-MM")
    return f"monthly/{month.replace('-', '')}/{hospital_id or BUREAU}"


async def live_table(
    counters: ReportCounters, region: Region, *, month: str, hospital_id: str | None
) -> MonthlyTable:
    """What GET /v1/reports/monthly answers the bureau for `month` (naming `hospital_id`):
    the route's own function, called as FastAPI would call it."""
    answer = await monthly(
        principal=Principal(BUREAU),
        counters=counters,
        region=region,
        start=month,
        end=month,
        hospital_id=hospital_id,
        format="json",
        accept=None,
    )
    if answer.media_type != "application/json":  # format=json answers the table as JSON
        raise TypeError(f"GET /v1/reports/monthly answered {answer.media_type}")
    return MonthlyTable.model_validate_json(bytes(answer.body))


def empty_table(month: str, hospital_id: str) -> MonthlyTable:
    """A hospital's table of a month it received nothing in (rows none, every column 0)."""
    codes = Table().columns()
    return MonthlyTable(
        start=month,
        end=month,
        hospital_id=hospital_id,
        unit="department",
        columns=[Column(code=code, label=column_label(code)) for code in codes],
        rows=[],
        categories=[],
        total=dict.fromkeys(codes, 0),
    )


@dataclass(frozen=True)
class Snapshot:
    month: str
    taken_at: datetime
    table: MonthlyTable


class MonthlySnapshots:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], region: Region | None = None) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[COLLECTION]
        self.counters = ReportCounters(db)
        self.region = region or Region()

    async def take(self, *, month: str, taken_at: datetime, replace: bool = False) -> list[str]:
        """File `month`'s tables (see the module's text); the `_id`s written this time."""
        bureau_id = snapshot_id(month, None)
        if not replace and await self.collection.find_one({"_id": bureau_id}, {"_id": 1}):
            return []
        bureau = await live_table(self.counters, self.region, month=month, hospital_id=None)
        written: list[str] = []
        for hospital in sorted({row.unit for row in bureau.rows}):
            table = await live_table(self.counters, self.region, month=month, hospital_id=hospital)
            if await self._store(month, hospital, table, taken_at=taken_at, replace=replace):
                written.append(snapshot_id(month, hospital))
        if await self._store(month, None, bureau, taken_at=taken_at, replace=replace):
            written.append(bureau_id)
        return written

    async def _store(
        self,
        month: str,
        hospital_id: str | None,
        table: MonthlyTable,
        *,
        taken_at: datetime,
        replace: bool,
    ) -> bool:
        doc_id = snapshot_id(month, hospital_id)
        document = {
            "_id": doc_id,
            "month": month,
            "hospital_id": hospital_id,
            "taken_at": taken_at,
            # As JSON text: column codes such as `not_accepted.outside_remit` are not keys a
            # MongoDB document may hold (no dots).
            "table": table.model_dump_json(by_alias=True),
        }
        if replace:
            await self.collection.replace_one({"_id": doc_id}, document, upsert=True)
            return True
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:  # taken by an earlier run: kept as filed
            return False
        return True

    async def get(self, *, month: str, hospital_id: str | None) -> Snapshot | None:
        """The filed table of `month` for the bureau (None) or one hospital; None when the
        month was not taken. Reads one document by `_id`, two for a hospital without one."""
        document = await self.collection.find_one({"_id": snapshot_id(month, hospital_id)})
        if document is not None:
            return Snapshot(
                month=month,
                taken_at=document["taken_at"],
                table=MonthlyTable.model_validate_json(document["table"]),
            )
        if hospital_id is None:
            return None
        bureau = await self.collection.find_one({"_id": snapshot_id(month, None)}, {"taken_at": 1})
        if bureau is None:
            return None
        return Snapshot(
            month=month, taken_at=bureau["taken_at"], table=empty_table(month, hospital_id)
        )
