"""Intake applies a routing decision whose deadline waits for the calendar (no date shown,
the year recorded), then the date routing sends once the year is loaded; a re-routing
decision made before that date but consumed after it does not undo it. Real broker and
MongoDB-wire server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx

from shared.contracts import ComplaintRouted, DeadlineChanged, Envelope, Person
from tests.support.platform import Platform

BASE = {"channel": "phone", "content": "挂号排队等了两个小时，导诊台无人指引。"}
RECEIVED = datetime(2026, 12, 20, 2, tzinfo=UTC)
DUE = datetime(2027, 1, 12, 15, 59, 59, tzinfo=UTC)


def decision(revision: int, handler: str) -> ComplaintRouted:
    return ComplaintRouted(
        revision=revision,
        reason=None if revision == 1 else "委托：休假",
        category="outpatient",
        category_label="门诊流程",
        department="outpatient_office",
        department_label="门诊部",
        handler=Person(staff_id=handler, name=handler),
        counting_day=RECEIVED.date() + timedelta(days=1),
        working_days=15,
        deadline_pending_year=2027,
    )


async def publish(platform: Platform, envelope: Envelope) -> None:
    connection = await aio_pika.connect(platform.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(platform.names.exchange)
        await exchange.publish(
            aio_pika.Message(envelope.model_dump_json().encode()), routing_key=envelope.type
        )


async def assignment_when(
    intake: httpx.AsyncClient, complaint_id: str, ready: Any
) -> dict[str, Any]:
    for _ in range(200):
        document = (await intake.get(f"/v1/complaints/{complaint_id}")).json()
        if document["assignment"] and ready(document["assignment"]):
            return document
        await asyncio.sleep(0.1)
    raise AssertionError(f"not applied: {document['assignment']}")


async def test_a_waiting_deadline_then_its_date_survive_a_late_re_routing(
    intake_only: Platform,
) -> None:
    platform = intake_only
    async with platform.client("intake", "hz-001") as intake:
        created = (await intake.post("/v1/complaints", json=BASE)).json()
        complaint = created["id"]

        def envelope(payload: Any, at: datetime) -> Envelope:
            return payload.envelope(hospital_id="hz-001", complaint_id=complaint, occurred_at=at)

        await publish(platform, envelope(decision(1, "hz-001-outpatient_office-1"), RECEIVED))
        first = await assignment_when(intake, complaint, lambda a: a["revision"] == 1)
        assert first["assignment"]["due_at"] is None
        assert first["assignment"]["deadline_pending_year"] == 2027
        [assigned] = [e for e in first["timeline"] if e["type"] == "assigned"]
        assert "办理时限待2027年法定节假日安排载入后确定" in assigned["note"]

        loaded = RECEIVED + timedelta(days=3)
        dated = DeadlineChanged(
            due_at=DUE, working_days=15, reason="2027年法定节假日安排已载入，自登记之日起计算"
        )
        await publish(platform, envelope(dated, loaded))
        await assignment_when(intake, complaint, lambda a: a["due_at"] is not None)

        # Delegated before the year was loaded (still waiting then), consumed after it.
        await publish(
            platform,
            envelope(decision(2, "hz-001-outpatient_office-2"), loaded - timedelta(hours=1)),
        )
        moved = await assignment_when(intake, complaint, lambda a: a["revision"] == 2)
    assignment = moved["assignment"]
    assert assignment["handler"]["staff_id"] == "hz-001-outpatient_office-2"
    assert datetime.fromisoformat(assignment["due_at"]) == DUE
    assert assignment["deadline_pending_year"] is None
