"""Notification alone against the real broker, MongoDB-wire server and an SMTP sink: an
escalation reaches each leader with an address exactly once, even when the broker
delivers it again, and a step with no address to write to sends nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.contracts import Person
from tests.support import events as sample
from tests.support.bus import listening, publish
from tests.support.mail import MailSink, body_of
from tests.support.metrics import consumed
from tests.support.platform import Platform
from tests.support.polling import eventually

LEADERS = [
    Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org"),
    Person(staff_id="hz-001-leadership-2", name="孙院长", email="president@hz1.example.org"),
    Person(staff_id="hz-001-leadership-3", name="无邮箱"),
]


async def wait_consumed(platform: Platform, event_type: str, count: int) -> None:
    async def done() -> bool:
        return await consumed(platform, "notification", event_type=event_type) >= count

    await eventually(done, what=f"{event_type} consumed {count} times")


async def test_an_escalation_reaches_each_leader_once_despite_redelivery(
    notification_only: Platform, mail: MailSink
) -> None:
    platform = notification_only
    escalated = sample.envelope(
        sample.escalated(reason="投诉第2次被申请复核：仍不认可退费金额", recipients=LEADERS),
        "c-escalated",
    )
    anonymous = sample.envelope(sample.supplement_requested(complainant_email=None), "c-anonymous")

    async with listening(platform, "notification.*") as outcomes:
        await publish(platform, escalated, anonymous)
        letters = await mail.wait_for(lambda m: "督办" in m["Subject"], count=2)
        await wait_consumed(platform, "complaint.supplement_requested", 1)

        # The broker delivers the escalation again (same event id).
        await publish(platform, escalated)
        await wait_consumed(platform, "complaint.escalated", 2)
        await asyncio.sleep(0.3)  # a wrongly repeated send would land in the sink by now

        assert sorted(m["To"] for m in mail.messages) == [
            "president@hz1.example.org",
            "vp@hz1.example.org",
        ]
        for letter in letters:
            body = body_of(letter)
            assert sample.CASE_NUMBER in letter["Subject"]
            assert "原因：投诉第2次被申请复核" in body and "级别：院领导" in body

        sent = await outcomes.heard(2, timeout=10)
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
