"""Reporting listens to everything its queue receives (complaint.*, notification.*,
shared/topology.py): each event goes into the complaint's facts when domain/facts.py says it
changes any, and the report counters by the difference (service.record); every one is
counted by the consumer's own metrics."""

from __future__ import annotations

from functools import partial

from services.reporting import service
from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.adapters.report_counters import ReportCounters
from services.reporting.metrics import ComplaintMetrics
from shared.consumer import Handler
from shared.matching import DEV_MATCH_KEY
from shared.topology import handler_table, subscriptions


def handlers(
    *,
    facts: ComplaintFacts,
    counters: ReportCounters,
    metrics: ComplaintMetrics,
    match_key: str = DEV_MATCH_KEY,
) -> dict[str, Handler]:
    record: Handler = partial(
        service.record, facts=facts, counters=counters, metrics=metrics, match_key=match_key
    )
    return handler_table("reporting", dict.fromkeys(subscriptions("reporting"), record))
