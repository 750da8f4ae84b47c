"""Every metric the platform serves is in deploy/prometheus/metrics.yml with its type and
label names: all four services (and a notification worker) scraped after a complaint has
been registered, routed, mailed and replied to."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.notification.tasks import RELEASE
from tests.support.celery import celery_processes
from tests.support.mail import MailSink
from tests.support.metrics_catalogue import catalogue, exported, mismatches
from tests.support.platform import Platform
from tests.support.polling import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SERVICES = ("intake", "routing", "notification", "reporting")

COMPLAINT = {
    "channel": "web",
    "kind": "complaint",
    "complainant": {"name": "王芳", "email": "wangfang@patients.example.org"},
    "content": "门诊收费处多收了挂号费，要求退还。",
    "received_by": "hz-001-complaint_office-1",
    "accepted": True,
}


async def pages(platform: Platform) -> dict[str, str]:
    found = {}
    for service in SERVICES:
        async with platform.client(service) as client:
            found[service] = (await client.get("/metrics")).text
    return found


async def test_every_service_serves_only_listed_metrics(platform: Platform, mail: MailSink) -> None:
    listed = catalogue()
    async with platform.staff_client("intake", "hz-001") as intake:
        created = await intake.post("/v1/complaints", json=COMPLAINT)
        assert created.status_code == 201, created.text
        complaint_id = created.json()["id"]
        await mail.wait_for(lambda m: "新投诉待处理" in m["Subject"])
        complaint = (await intake.get(f"/v1/complaints/{complaint_id}")).json()
        handler = complaint["assignment"]["handler"]["staff_id"]
        finding = await intake.post(
            f"/v1/complaints/{complaint_id}/finding",
            json={
                "actor": handler,
                "result": "substantiated",
                "summary": "收费系统重复计费。",
                "responsible_department": complaint["assignment"]["department"],
            },
        )
        assert finding.status_code == 200, finding.text
        replied = await intake.post(
            f"/v1/complaints/{complaint_id}/reply",
            json={"content": "已退还多收的挂号费。", "actor": handler},
        )
        assert replied.status_code == 200, replied.text
    for service in SERVICES:  # a request on each service's API
        async with platform.client(service) as client:
            assert (await client.get("/openapi.json")).status_code == 200

    async def replied_counted() -> dict[str, str] | None:
        scraped = await pages(platform)
        reporting = exported(scraped["reporting"])
        done = (
            "huiyin_response_seconds" in reporting and reporting["huiyin_response_seconds"].sampled
        )
        return scraped if done else None

    scraped = await eventually(replied_counted, timeout=30, what="the reply in reporting's metrics")

    problems = [p for service, text in scraped.items() for p in mismatches(text, service, listed)]
    for service, text in scraped.items():
        served = exported(text)
        for entry in listed.values():
            required = service in entry.exporters and entry.appears in ("start", "traffic")
            if required and (entry.name not in served or not served[entry.name].sampled):
                problems.append(f"{service}: {entry.name} ({entry.appears}) is missing")
    assert not problems, "\n".join(problems)


async def test_a_notification_worker_serves_only_listed_metrics(
    platform: Platform, mail: MailSink
) -> None:
    listed = catalogue()
    with celery_processes(platform.infra, names=platform.names) as celery:
        worker = celery.start_worker("notification", settings=platform.settings["notification"])
        await asyncio.to_thread(celery.wait_ready, worker)
        celery.app("notification").send_task(RELEASE)
        url = f"http://127.0.0.1:{worker.metrics_port}/metrics"

        async def task_counted() -> str | None:
            async with httpx.AsyncClient(timeout=5) as client:
                text = (await client.get(url)).text
            return text if "huiyin_worker_tasks_succeeded_total{" in text else None

        text = await eventually(task_counted, timeout=60, what="the worker's task in its metrics")
    assert not mismatches(text, "notification-worker", listed)
    served = exported(text)
    for name in ("huiyin_worker_tasks_started_total", "huiyin_worker_task_seconds"):
        assert served[name].sampled, name
