"""The provisioned Grafana dashboard queries only metrics listed in
deploy/prometheus/metrics.yml (a renamed metric breaks it here, not on a wall screen), and
docker-compose.yml runs Grafana next to Prometheus with that provisioning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.support.metrics_catalogue import catalogue, huiyin_names_in, listed_name_of

REPO = Path(__file__).resolve().parents[3]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "huiyin.json"


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return found


def test_every_panel_queries_listed_metrics_only() -> None:
    listed = catalogue()
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queried: set[str] = set()
    unknown = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            for name in huiyin_names_in(target["expr"]):
                listed_as = listed_name_of(name, listed)
                if listed_as is None:
                    unknown.append(f"{panel['title']}: {name}")
                else:
                    queried.add(listed_as)
    assert not unknown, unknown
    # What an ops engineer looks at first is on the dashboard.
    assert {
        "huiyin_complaints_received_total",
        "huiyin_overdue_open_complaints",
        "huiyin_response_seconds",
        "huiyin_escalations_total",
        "huiyin_events_consumed_total",
        "huiyin_events_failed_total",
        "huiyin_events_parked_total",
        "huiyin_outbox_pending",
        "huiyin_ladder_deliveries_total",
        "huiyin_notice_deliveries_total",
        "huiyin_http_request_duration_seconds",
        "huiyin_calendar_covered_days",
    } <= queried


def test_every_alert_reads_listed_metrics_only() -> None:
    listed = catalogue()
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    unknown = [
        f"{rule['alert']}: {name}"
        for group in rules["groups"]
        for rule in group["rules"]
        for name in huiyin_names_in(rule["expr"])
        if listed_name_of(name, listed) is None
    ]
    assert not unknown, unknown


def test_grafana_runs_next_to_prometheus_with_its_provisioning() -> None:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    grafana = services["grafana"]

    image, _, tag = grafana["image"].partition(":")
    assert image == "grafana/grafana-oss" and tag and tag != "latest"
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana["volumes"]
    assert any(port.endswith(":3000:3000") for port in grafana["ports"])
    assert grafana["healthcheck"]["test"]
    assert "prometheus" in grafana["depends_on"]
    sources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    [source] = sources["datasources"]
    assert (source["type"], source["url"]) == ("prometheus", "http://prometheus:9090")
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert all(
        target["datasource"]["uid"] == source["uid"]
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    )
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "huiyin.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
