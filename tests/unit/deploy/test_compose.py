"""docker-compose.yml runs a Celery worker for every service that has tasks and the one beat
(shared/celery_app.py TASK_MODULES), each with its health check, on the services' images,
after Celery's vhost exists; Prometheus scrapes every worker where it serves its metrics."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.celery_app import TASK_MODULES
from shared.settings import CELERY_VHOST

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
READY_FIRST = {
    "mongo": "service_healthy",
    "rabbitmq": "service_healthy",
    "rabbitmq-vhosts": "service_completed_successfully",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    return services


def conditions(service: dict[str, Any]) -> dict[str, str]:
    return {name: needs["condition"] for name, needs in service["depends_on"].items()}


def test_the_commands_are_the_project_scripts() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["huiyin-worker"] == "shared.celery_app:worker_main"
    assert scripts["huiyin-beat"] == "shared.celery_beat:beat_main"


@pytest.mark.parametrize("service", sorted(TASK_MODULES))
def test_each_service_with_tasks_has_a_worker(compose: dict[str, Any], service: str) -> None:
    worker = compose[f"{service}-worker"]

    assert worker["command"] == ["huiyin-worker", service]
    assert worker["healthcheck"]["test"] == ["CMD", "huiyin-worker", service, "--check"]
    assert worker["image"] == compose[service]["image"]
    assert worker["build"] == compose[service]["build"]
    assert conditions(worker).items() >= READY_FIRST.items()
    assert worker["environment"]["HUIYIN_CELERY_BROKER_URL"].endswith(
        f"@rabbitmq:5672/{CELERY_VHOST}"
    )
    assert int(worker["environment"]["HUIYIN_WORKER_METRICS_PORT"]) > 0


def test_one_beat_with_its_health_check(compose: dict[str, Any]) -> None:
    beat = compose["beat"]

    assert beat["command"] == ["huiyin-beat"]
    assert beat["healthcheck"]["test"] == ["CMD", "huiyin-beat", "--check"]
    assert conditions(beat).items() >= READY_FIRST.items()
    assert beat["environment"]["HUIYIN_CELERY_BROKER_URL"].endswith(f"/{CELERY_VHOST}")


def test_celerys_vhost_is_made_before_anything_connects(compose: dict[str, Any]) -> None:
    script = compose["rabbitmq-vhosts"]["command"][0]

    assert f"declare vhost name={CELERY_VHOST}" in script
    assert f"declare permission vhost={CELERY_VHOST} user=huiyin" in script
    assert conditions(compose["rabbitmq-vhosts"]) == {"rabbitmq": "service_healthy"}
    for name in ("intake", "routing", "notification", "reporting"):
        assert conditions(compose[name]).items() >= READY_FIRST.items()


def test_prometheus_scrapes_every_worker(compose: dict[str, Any], promtool: str) -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    for service in TASK_MODULES:
        port = compose[f"{service}-worker"]["environment"]["HUIYIN_WORKER_METRICS_PORT"]
        assert f"{service}-worker:{port}" in targets
    checked = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_intake_and_reporting_match_complainants_with_one_key(compose: dict[str, Any]) -> None:
    """Reporting finds recurring complainants by intake's keyed hashes (shared/matching.py):
    both take the one secret from .env, which says how to make it."""
    keys = {compose[s]["environment"]["HUIYIN_MATCH_KEY"] for s in ("intake", "reporting")}
    assert len(keys) == 1 and next(iter(keys)).startswith("${HUIYIN_MATCH_KEY:?")
    assert "HUIYIN_MATCH_KEY=" in (REPO / ".env.example").read_text()
    region = compose["reporting"]["environment"]["HUIYIN_REGION_FILE"]
    assert (REPO / region.removeprefix("/app/")).is_file()
