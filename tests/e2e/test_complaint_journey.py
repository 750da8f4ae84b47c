"""One complaint through all four services on real RabbitMQ, the MongoDB-wire server and SMTP."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.mail import MailSink, body_of
from tests.support.platform import Platform
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMPLAINT = {
    "channel": "web",
    "kind": "complaint",
    "complainant": {"name": "李娜", "phone": "13800001111", "email": "lina@patients.example.org"},
    "content": "昨天在住院部，护士给我父亲输液时态度很差，呼叫铃按了半小时没人来。",
    "demand": "希望医院加强护理管理并给出解释。",
    "received_by": "hz-001-complaint_office-1",
    "accepted": True,
}


async def test_complaint_is_routed_mailed_replied_and_counted(
    platform: Platform, mail: MailSink, spans: InMemorySpanExporter
) -> None:
    async with platform.staff_client("intake", "hz-001") as intake:
        created = await intake.post("/v1/complaints", json=COMPLAINT)
        assert created.status_code == 201, created.text
        receipt = created.json()
        assert receipt["case_number"].startswith("HZ-001-")
        assert receipt["status"] == "accepted"

        handler_mail = (await mail.wait_for(lambda m: "新投诉待处理" in m["Subject"]))[0]
        assert handler_mail["To"].startswith("nursing.")  # 护理部 handles nursing complaints
        assert receipt["case_number"] in body_of(handler_mail)
        assert "李娜" not in body_of(handler_mail)  # the handler does not learn who complained
        assert "13800001111" not in body_of(handler_mail)

        receipt_mail = (
            await mail.wait_for(lambda m: m["To"] == COMPLAINT["complainant"]["email"])
        )[0]
        assert receipt["tracking_code"] in body_of(receipt_mail)

        complaint = (await intake.get(f"/v1/complaints/{receipt['id']}")).json()
        assert complaint["status"] == "assigned"
        assert complaint["assignment"]["category"] == "nursing"
        assert complaint["assignment"]["department"] == "nursing"
        handler_id = complaint["assignment"]["handler"]["staff_id"]

        finding = await intake.post(
            f"/v1/complaints/{receipt['id']}/finding",
            json={
                "actor": handler_id,
                "result": "substantiated",
                "summary": "呼叫铃响应超时属实，当班护士服务态度欠佳。",
                "responsible_department": "nursing",
            },
        )
        assert finding.status_code == 200, finding.text
        replied = await intake.post(
            f"/v1/complaints/{receipt['id']}/reply",
            json={
                "content": "经核实，已对当班护士进行批评教育，并加强夜间巡视。",
                "actor": handler_id,
            },
        )
        assert replied.status_code == 200, replied.text
        assert replied.json()["status"] == "replied"

    reply_mail = await mail.wait_for(lambda m: "已答复" in m["Subject"])
    assert "加强夜间巡视" in body_of(reply_mail[0])

    async with platform.client("intake") as public:
        tracked = (await public.get(f"/v1/track/{receipt['tracking_code']}")).json()
    assert tracked["status"] == "replied"
    assert "handler" not in tracked and "assignment" not in tracked

    async with platform.client("reporting", "bureau") as reporting:

        async def counted() -> dict[str, Any] | None:
            summary = (await reporting.get("/v1/reports/summary")).json()
            return summary if summary["by_status"].get("replied") == 1 else None

        summary = await eventually(counted)
        assert summary["by_category"] == {"nursing": 1}
        assert summary["hospitals"][0]["hospital_id"] == "hz-001"
        metrics = (await reporting.get("/metrics")).text
    assert 'huiyin_response_seconds_count{category="nursing",priority="' in metrics
    assert 'huiyin_overdue_open_complaints{hospital_id="hz-001"} 0.0' in metrics
    assert "huiyin_events_consumed_total" in metrics

    # One trace follows the complaint from the POST through the broker into every consumer.
    post_span = next(s for s in spans.get_finished_spans() if s.name == "POST /v1/complaints")
    trace_id = post_span.context.trace_id
    in_trace = {s.name for s in spans.get_finished_spans() if s.context.trace_id == trace_id}
    assert {
        "consume complaint.received",
        "consume complaint.routed",
        "consume complaint.assigned",
    } <= in_trace


async def test_every_service_reports_health_and_metrics(platform: Platform) -> None:
    for service in ("intake", "routing", "notification", "reporting"):
        async with platform.client(service) as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["broker"] == "ok"
            assert (await client.get("/metrics")).status_code == 200
