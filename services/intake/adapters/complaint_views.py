"""Intake's read models in MongoDB (domain/worklists.py says what they hold and why any
order of writes converges): one collection, `complaint_views`, every document read and
written by `_id` alone.

Kept current right after each change of a complaint: `ProjectedRecords` is the complaints'
`Records` (shared/records.py) that, once a change is stored, writes what it changes in the
views. Every view is in one collection so that one change is one command, and writes from
changes made at the same time go out together (shared/group_commit.py), the writes of one
view merged into one statement: under load a day's bucket is written once per command,
whatever number of complaints it gains.

A failed view write never fails the change of the complaint (that is stored, and its events
are on their way): the writes are kept and retried until they succeed. What a crash loses
between the two writes, `python -m services.intake.rebuild_views` recomputes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.intake.domain import worklists
from services.intake.domain.worklists import Row, Update
from shared.bulk_writes import bulk_write_in_chunks
from shared.contracts import Envelope, EventPayload
from shared.dates import CLOCK_SKEW
from shared.group_commit import FieldWrites
from shared.mongo_clients import writer_task
from shared.outbox import OutboxRelay
from shared.records import Changed, Decide, Records, envelope_for

log = logging.getLogger(__name__)

DAYS_PER_PAGE = 31  # day buckets one page of the history reads at most
RETRY_SECONDS = 1.0
Position = tuple[datetime, str]  # (received_at, id): a page continues below or above it


COLLECTION = "complaint_views"


class ComplaintViews:
    """The history buckets and worklists: projected, read, rebuilt."""

    def __init__(
        self, db: AsyncDatabase[dict[str, Any]], *, retry_seconds: float = RETRY_SECONDS
    ) -> None:
        self.collection: AsyncCollection[dict[str, Any]] = db[COLLECTION]
        # One statement per view a command (every write of a view sets or raises something).
        self._writes = FieldWrites(self.collection)
        self._retry_seconds = retry_seconds
        self._unwritten: list[tuple[str, Update]] = []
        self._retrying: asyncio.Task[None] | None = None

    # --- keeping them current ---------------------------------------------------------------

    async def project(self, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        """Write what one change of a complaint changes in the views; never raises."""
        writes = worklists.transition(before, after, now=datetime.now(UTC))
        try:
            await self._writes.write(list(writes))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning(
                "complaint views not written; retrying",
                extra={"complaint_id": after["_id"], "version": after.get("version")},
                exc_info=True,
            )
            self._unwritten += writes
            if self._retrying is None or self._retrying.done():
                self._retrying = writer_task(self._retry())

    async def _retry(self) -> None:
        while self._unwritten:
            await asyncio.sleep(self._retry_seconds)
            taken, self._unwritten = self._unwritten, []
            try:
                await self._writes.write(list(taken))
            except Exception:
                self._unwritten = taken + self._unwritten
                log.warning("complaint views still not written", exc_info=True)

    @property
    def unwritten(self) -> int:
        return len(self._unwritten)

    async def close(self) -> None:
        if self._retrying is not None:
            self._retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._retrying
        await self._writes.close()

    # --- reading ------------------------------------------------------------------------

    async def view(self, view_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": view_id})

    async def history(
        self,
        *,
        scope: str,
        matches: Callable[[Row], bool],
        limit: int,
        below: Position | None,
        received_from: datetime | None,
        received_to: datetime | None,
        now: datetime,
    ) -> tuple[list[Row], Position | None]:
        """Newest first, a page of the rows `matches` accepts, walking the scope's day
        buckets back from `below` (a cursor), `received_to` or today: at most DAYS_PER_PAGE
        buckets, so a page may hold fewer than `limit` rows and still go on (the position
        of the next day to read)."""
        first = worklists.first_day(await self.view(worklists.span_view(scope)))
        if first is None:
            return [], None
        if below is None and received_to is not None:
            below = (received_to, "")
        top = below[0] - timedelta(microseconds=1) if below else now + CLOCK_SKEW
        start = worklists.china_day(top)
        stop = max(first, worklists.china_day(received_from)) if received_from else first
        days = worklists.days_back(start, stop=stop, at_most=DAYS_PER_PAGE)
        found: list[Row] = []
        for day in days:
            rows = worklists.shown(await self.view(worklists.day_view(scope, day)))
            found += sorted(
                (
                    row
                    for row in rows.values()
                    if (below is None or (row["received_at"], row["id"]) < below)
                    and (received_from is None or row["received_at"] >= received_from)
                    and matches(row)
                ),
                key=lambda row: (row["received_at"], row["id"]),
                reverse=True,
            )
            if len(found) > limit:
                page = found[:limit]
                return page, (page[-1]["received_at"], page[-1]["id"])
        if days and days[-1] > stop:
            return found, (worklists.day_start(days[-1]), "")
        return found, None

    async def worklist(
        self, view_id: str, *, limit: int, above: Position | None
    ) -> tuple[list[Row], int, Position | None]:
        """Oldest first (the longest waiting at the top), from `above` (a cursor); and how
        many the worklist holds."""
        rows = sorted(
            worklists.shown(await self.view(view_id)).values(),
            key=lambda row: (row["received_at"], row["id"]),
        )
        later = [row for row in rows if above is None or (row["received_at"], row["id"]) > above]
        page = later[:limit]
        position = (page[-1]["received_at"], page[-1]["id"]) if len(later) > limit else None
        return page, len(rows), position

    # --- rebuilding -----------------------------------------------------------------------

    async def rebuild(self, complaints: AsyncCollection[dict[str, Any]]) -> RebuiltViews:
        """Write every view as the complaints say (domain/worklists.py `rebuilt`) and remove
        the rows of versions and views the complaints no longer have. Safe while intake runs:
        it writes the rows of each complaint's version as read, removes only rows of
        complaints it read, and a later change of one writes its newer version."""
        started = datetime.now(UTC)
        wanted = worklists.rebuilt(
            [c async for c in complaints.find({}, PROJECTION, batch_size=BATCH)]
        )
        where: dict[str, set[str]] = {}  # complaint id -> the row keys it should have
        for view_id, view in wanted.items():
            for key in view.get("rows", {}):
                where.setdefault(key.rsplit("_v", 1)[0], set()).add(f"{view_id}/{key}")
        requests: list[UpdateOne] = []
        for view_id, view in wanted.items():
            if "first" in view:
                span = {"$min": {"first": view["first"]}}
                requests.append(UpdateOne({"_id": view_id}, span, upsert=True))
                continue
            fields = {f"rows.{key}": row for key, row in view["rows"].items()}
            cleared = {
                f"gone.s{s}.{row['id']}": "" for row in view["rows"].values() for s in range(4)
            }
            update = {"$set": fields, "$unset": cleared}
            requests.append(UpdateOne({"_id": view_id}, update, upsert=True))
        removed = 0
        async for stored in self.collection.find({}, {"rows": 1}):
            stale = {
                f"rows.{key}": ""
                for key in stored.get("rows") or {}
                if key.rsplit("_v", 1)[0] in where
                and f"{stored['_id']}/{key}" not in where[key.rsplit("_v", 1)[0]]
            }
            if stale:
                removed += len(stale)
                requests.append(UpdateOne({"_id": stored["_id"]}, {"$unset": stale}))
        await bulk_write_in_chunks(self.collection, requests, ordered=False)
        seconds = (datetime.now(UTC) - started).total_seconds()
        return RebuiltViews(len(where), len(wanted), removed, seconds)


BATCH = 1000
# What a complaint's rows are made of (domain/worklists.py row_of, views_of).
PROJECTION = {
    field: 1
    for field in (
        "_id",
        "version",
        "hospital_id",
        "case_number",
        "tracking_code",
        "status",
        "channel",
        "kind",
        "received_at",
        "assignment",
        "escalations",
    )
}


@dataclass(frozen=True)
class RebuiltViews:
    complaints: int
    views: int
    removed: int
    seconds: float

    def __str__(self) -> str:
        return (
            f"views of {self.complaints} complaints rebuilt in {self.seconds:.1f} s: "
            f"{self.views} views written, {self.removed} stale rows removed"
        )


class ProjectedRecords(Records):
    """The complaints' records, each stored change then written to the views."""

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        relay: OutboxRelay | None = None,
        *,
        views: ComplaintViews,
        envelope: Callable[[dict[str, Any], EventPayload], Envelope] = envelope_for,
        remember_seconds: float = 0.0,
    ) -> None:
        super().__init__(collection, relay, envelope=envelope, remember_seconds=remember_seconds)
        self.views = views

    async def insert(
        self, record: dict[str, Any], events: Sequence[EventPayload] = ()
    ) -> Changed | None:
        stored = await super().insert(record, events)
        if stored is not None:
            await self.views.project(None, stored.after)
        return stored

    async def change(
        self,
        record_id: Any,
        decide: Decide,
        *,
        once_per: str | None = None,
        current: dict[str, Any] | None = None,
    ) -> Changed | None:
        changed = await super().change(record_id, decide, once_per=once_per, current=current)
        if changed is not None and changed.changed:
            await self.views.project(changed.before, changed.after)
        return changed
