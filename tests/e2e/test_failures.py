"""What must not break the platform: poison messages and a broker that goes away."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from shared.contracts import Envelope
from tests.support.bus import listening, publish
from tests.support.mail import MailSink
from tests.support.parked import wait_for_parked
from tests.support.platform import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

VALID = {
    "channel": "letter",
    "content": "药房发错药，药品名称与处方不符。",
    "received_by": "hz-001-complaint_office-1",
    "accepted": True,  # the office accepts at registration, so the handler is told at once
}


async def test_unparseable_messages_are_parked_and_the_consumer_keeps_going(
    platform: Platform, mail: MailSink
) -> None:
    connection = await aio_pika.connect(platform.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(platform.names.exchange)
        await exchange.publish(aio_pika.Message(b"{not json"), routing_key="complaint.received")
        broken_payload = Envelope(
            type="complaint.received", hospital_id="hz-001", complaint_id="c-1", payload={"x": 1}
        )
        await exchange.publish(
            aio_pika.Message(broken_payload.model_dump_json().encode()),
            routing_key="complaint.received",
        )

    parked = await wait_for_parked(platform, "routing", 2)  # routing's admin API
    reasons = sorted(item["reason"] for item in parked)
    assert reasons[0].startswith("invalid envelope")
    assert reasons[1].startswith("invalid payload")

    async with platform.staff_client("intake", "hz-001") as intake:
        assert (await intake.post("/v1/complaints", json=VALID)).status_code == 201
    handler_mail = await mail.wait_for(lambda m: "新投诉待处理" in m["Subject"])
    assert handler_mail[0]["To"].startswith("pharmacy.")


async def test_a_broker_outage_loses_no_complaint(platform: Platform, mail: MailSink) -> None:
    broker = platform.infra.broker
    if broker is None:
        pytest.skip("the broker is external; this test needs to stop and start it")
    async with platform.staff_client("intake", "hz-002") as intake:
        broker.stop()
        try:
            for n in range(5):
                body = VALID | {
                    "content": f"第{n}次：药房发错药，药品与处方不符。",
                    "received_by": "hz-002-complaint_office-1",
                }
                response = await intake.post("/v1/complaints", json=body)
                assert response.status_code == 201, response.text
        finally:
            await asyncio.to_thread(broker.start)
        await mail.wait_for(lambda m: "新投诉待处理" in m["Subject"], count=5, timeout=60)
        page = (await intake.get("/v1/complaints", params={"status": "assigned"})).json()
        assert len(page["items"]) == 5


async def test_a_redelivered_event_has_its_effect_once(platform: Platform, mail: MailSink) -> None:
    """At-least-once delivery means duplicates: every consumer must apply an event once."""
    async with listening(platform, "complaint.*") as tap:
        async with platform.staff_client("intake", "hz-001") as intake:
            body = VALID | {"complainant": {"name": "周", "email": "zhou@patients.example.org"}}
            assert (await intake.post("/v1/complaints", json=body)).status_code == 201
        await mail.wait_for(lambda m: m["To"] == "zhou@patients.example.org")
        await mail.wait_for(lambda m: "新投诉待处理" in m["Subject"])

        seen = (await tap.heard(3))[:3]  # received, routed, assigned
        await publish(platform, *seen)  # the broker delivers every event a second time

        await asyncio.sleep(2)
        assert len(mail.messages) == 2, [m["Subject"] for m in mail.messages]
        async with platform.staff_client("intake", "hz-001") as intake:
            page = (await intake.get("/v1/complaints")).json()
            assert len(page["items"]) == 1
            complaint = (await intake.get(f"/v1/complaints/{page['items'][0]['id']}")).json()
            assert [e["type"] for e in complaint["timeline"]].count("assigned") == 1
        async with platform.client("reporting", "bureau") as reporting:
            summary = (await reporting.get("/v1/reports/summary")).json()
            assert summary["by_status"] == {"assigned": 1}
