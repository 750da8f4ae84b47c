"""Prometheus metrics, one registry per service instance.

A registry per instance (not the global one) lets several services run in one test
process and keeps label values bounded: service names, event types, route templates
and status classes, never ids or free text.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

RESPONSE_TIME_BUCKETS = (
    60,
    300,
    900,
    1800,
    3600,
    4 * 3600,
    8 * 3600,
    24 * 3600,
    2 * 86400,
    3 * 86400,
    5 * 86400,
    7 * 86400,
    10 * 86400,
    15 * 86400,
    30 * 86400,
)


class ServiceMetrics:
    """The service's own registry, the metrics every service has, and `counter`, `gauge`
    and `histogram` for a service's further ones: each stated as its name, its help text
    and its labels."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        self.events_consumed = self.counter(
            "huiyin_events_consumed", "Events handled and acknowledged", "service", "event_type"
        )
        self.events_failed = self.counter(
            "huiyin_events_failed",
            "Event deliveries that failed (requeued or parked)",
            "service",
            "event_type",
        )
        self.events_parked = self.counter(
            "huiyin_events_parked", "Messages moved to the parking queue", "service"
        )
        self.handle_seconds = self.histogram(
            "huiyin_event_handle_seconds", "Time from delivery to ack", "service", "event_type"
        )
        self.store_operations = self.counter(
            "huiyin_store_operations",
            "Commands sent to MongoDB (a bulk write of many documents is one), by command "
            "and collection",
            "service",
            "command",
            "collection",
        )
        self.http_requests = self.counter(
            "huiyin_http_requests",
            "HTTP requests by route template and status class",
            "service",
            "method",
            "route",
            "status",
        )
        self.http_seconds = self.histogram(
            "huiyin_http_request_duration_seconds",
            "HTTP request latency",
            "service",
            "method",
            "route",
        )
        self.events_published = self.counter(
            "huiyin_events_published", "Events confirmed by the broker", "service"
        )
        # Kept by the service's outbox relays (shared/outbox.py `OutboxRelay.pending`).
        self.outbox_pending = self.gauge(
            "huiyin_outbox_pending",
            "Events written to the service's outbox and not yet confirmed by the broker, as "
            "its relays know them (a lower bound past one sweep batch)",
            "service",
        )

    def counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def histogram(
        self,
        name: str,
        documentation: str,
        *labels: str,
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
    ) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)
