"""The ops team's complaint metrics, exported from this one process only.

Overdue counts are gauges refreshed from one counter document (`_id` "overdue", moved by
the events that make a case overdue or end it: adapters/report_counters.py), so a refresh
reads one document whatever the history's length, is right after a restart and is never
summed wrongly across workers. Label values are bounded: hospital ids, category codes,
priorities, ladder levels.
"""

from __future__ import annotations

import asyncio
import logging

from services.reporting.adapters.report_counters import ReportCounters
from services.reporting.domain.classification import overdue_open_by_hospital
from shared.metrics import RESPONSE_TIME_BUCKETS, ServiceMetrics

log = logging.getLogger(__name__)


class ComplaintMetrics:
    def __init__(self, metrics: ServiceMetrics) -> None:
        self.response_seconds = metrics.histogram(
            "huiyin_response_seconds",
            "Time from receipt to the first reply to the complainant",
            "category",
            "priority",
            buckets=RESPONSE_TIME_BUCKETS,
        )
        self.overdue_open = metrics.gauge(
            "huiyin_overdue_open_complaints",
            "Complaints past their reply deadline and still being handled (not paused for a"
            " supplement, not replied, closed, refused, transferred or settled on the spot)",
            "hospital_id",
        )
        self.received = metrics.counter(
            "huiyin_complaints_received", "Complaints registered", "hospital_id", "channel"
        )
        self.reopened = metrics.counter(
            "huiyin_complaints_reopened",
            "Disputes that reopened a complaint for re-review",
            "hospital_id",
        )
        self.closed = metrics.counter(
            "huiyin_complaints_closed",
            "Complaints closed after the return visit, by the complainant's satisfaction",
            "hospital_id",
            "satisfaction",
        )
        self.escalations = metrics.counter(
            "huiyin_escalations",
            "Cases escalated above the handler, by level",
            "hospital_id",
            "level",
        )
        self._known: set[str] = set()

    async def refresh_overdue(self, counters: ReportCounters) -> None:
        counts = overdue_open_by_hospital(await counters.overdue())
        for hospital_id in self._known | set(counts):
            self.overdue_open.labels(hospital_id).set(counts.get(hospital_id, 0))
        self._known |= set(counts)

    def track_hospital(self, hospital_id: str) -> None:
        if hospital_id not in self._known:
            self._known.add(hospital_id)
            self.overdue_open.labels(hospital_id).set(0)


STOP_SECONDS = 5.0


class OverdueRefresher:
    def __init__(
        self, metrics: ComplaintMetrics, counters: ReportCounters, *, seconds: float
    ) -> None:
        self._metrics, self._counters, self._seconds = metrics, counters, seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="overdue-refresh")

    async def stop(self) -> None:
        """Bounded: a refresh cancelled inside a database call may take that call's time to
        unwind, and shutdown must not wait for it."""
        if self._task:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=STOP_SECONDS)

    async def _loop(self) -> None:
        while True:
            try:
                await self._metrics.refresh_overdue(self._counters)
            except Exception:
                log.warning("overdue refresh failed", exc_info=True)
            await asyncio.sleep(self._seconds)
