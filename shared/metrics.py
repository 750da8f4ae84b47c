"""Prometheus metrics, one registry per service instance.

A registry per instance (not the global one) lets several services run in one test
process and keeps label values bounded: service names, event types, route templates
and status classes, never ids or free text.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

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
    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        self.events_consumed = Counter(
            "huiyin_events_consumed",
            "Events handled and acknowledged",
            ["service", "event_type"],
            registry=self.registry,
        )
        self.events_failed = Counter(
            "huiyin_events_failed",
            "Event deliveries that failed (requeued or parked)",
            ["service", "event_type"],
            registry=self.registry,
        )
        self.events_parked = Counter(
            "huiyin_events_parked",
            "Messages moved to the parking queue",
            ["service"],
            registry=self.registry,
        )
        self.handle_seconds = Histogram(
            "huiyin_event_handle_seconds",
            "Time from delivery to ack",
            ["service", "event_type"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "huiyin_http_requests",
            "HTTP requests by route template and status class",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "huiyin_http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            registry=self.registry,
        )
        self.events_published = Counter(
            "huiyin_events_published",
            "Events confirmed by the broker",
            ["service"],
            registry=self.registry,
        )
