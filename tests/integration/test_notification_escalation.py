"""Notification alone against the real broker, MongoDB-wire server and an SMTP sink: an
escalation reaches each leader with an address exactly once, even when the broker
delivers it again, and a step with no address to write to sends nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest

from shared.contracts import ComplaintEscalated, Envelope, Person, SupplementRequested
from shared.publisher import to_message
from tests.support.mail import MailSink, body_of
from tests.support.platform import Platform, running_platform

LEADERS = [
    Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org"),
    Person(staff_id="hz-001-leadership-2", name="孙院长", email="president@hz1.example.org"),
    Person(staff_id="hz-001-leadership-3", name="无邮箱"),
]


@pytest.fixture
async def notification_only(infrastructure, mail: MailSink) -> AsyncIterator[Platform]:  # type: ignore[no-untyped-def]
    async with running_platform(
        infrastructure, smtp_port=mail.port, only=("notification",)
    ) as running:
        yield running


async def consumed(platform: Platform, event_type: str) -> float:
    async with platform.client("notification") as client:
        text = (await client.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("huiyin_events_consumed_total{") and f'event_type="{event_type}"' in line
    )


async def wait_consumed(platform: Platform, event_type: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while await consumed(platform, event_type) < count:
        assert time.monotonic() < deadline, f"{event_type} not consumed {count} times"
        await asyncio.sleep(0.05)


async def drain(queue: aio_pika.abc.AbstractQueue) -> list[Envelope]:
    found = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        found.append(Envelope.model_validate_json(message.body))
    return found


async def test_an_escalation_reaches_each_leader_once_despite_redelivery(
    notification_only: Platform, mail: MailSink
) -> None:
    platform = notification_only
    escalated = ComplaintEscalated(
        case_number="HZ-001-202611-00042",
        level="leadership",
        reason="投诉第2次被申请复核：仍不认可退费金额",
        recipients=LEADERS,
    ).envelope(hospital_id="hz-001", complaint_id="c-escalated")
    anonymous = SupplementRequested(
        case_number="HZ-001-202611-00043",
        tracking_code="ABCD-EFGH-JKLM",
        at=datetime.now(UTC),
        missing="就诊记录",
    ).envelope(hospital_id="hz-001", complaint_id="c-anonymous")

    connection = await aio_pika.connect(platform.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(platform.names.exchange)
        outcomes = await channel.declare_queue(exclusive=True)
        await outcomes.bind(exchange, "notification.*")

        for envelope in (escalated, anonymous):
            await exchange.publish(to_message(envelope), routing_key=envelope.type)
        letters = await mail.wait_for(lambda m: "督办" in m["Subject"], count=2)
        await wait_consumed(platform, "complaint.supplement_requested", 1)

        # The broker delivers the escalation again (same event id).
        await exchange.publish(to_message(escalated), routing_key=escalated.type)
        await wait_consumed(platform, "complaint.escalated", 2)
        await asyncio.sleep(0.3)  # a wrongly repeated send would land in the sink by now

        assert sorted(m["To"] for m in mail.messages) == [
            "president@hz1.example.org",
            "vp@hz1.example.org",
        ]
        for letter in letters:
            body = body_of(letter)
            assert "HZ-001-202611-00042" in letter["Subject"]
            assert "原因：投诉第2次被申请复核" in body and "级别：院领导" in body

        sent = await drain(outcomes)
        deadline = time.monotonic() + 10
        while len(sent) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            sent += await drain(outcomes)
        assert [e.type for e in sent] == ["notification.sent", "notification.sent"]
        assert {e.payload["recipient_role"] for e in sent} == {"leadership"}
        assert {e.payload["delivery_id"] for e in sent} == {
            f"{escalated.event_id}:leadership:hz-001-leadership-1",
            f"{escalated.event_id}:leadership:hz-001-leadership-2",
        }

    deliveries = platform.services["notification"].app.state.deliveries
    logged: list[dict[str, Any]] = await deliveries.for_complaint("c-escalated")
    masked = sorted(d["recipient"] for d in logged)
    assert masked == ["p***@hz1.example.org", "v***@hz1.example.org"]
    assert {d["status"] for d in logged} == {"sent"}
    assert await deliveries.for_complaint("c-anonymous") == []
