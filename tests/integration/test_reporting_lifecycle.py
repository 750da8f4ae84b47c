"""Reporting alone against the real broker and MongoDB-wire server: lifecycle events
published as the other services would (scrambled and partly twice) end in the right
summary, read model and Prometheus metrics."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest

from shared.contracts import (
    CHINA,
    ComplaintAccepted,
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintExtended,
    ComplaintNotAccepted,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintReplied,
    ComplaintResolvedOnSpot,
    ComplaintTransferred,
    DeadlineChanged,
    Envelope,
    EventPayload,
    Person,
    SupplementRequested,
)
from shared.publisher import to_message
from tests.support.platform import Platform, free_port, running_platform

NOW = datetime.now(UTC).replace(microsecond=0)
RECEIVED_AT = NOW - timedelta(hours=2)
PAST_DUE = NOW - timedelta(days=1)
EXTENDED_DUE = NOW + timedelta(days=10)
REVIEW_DUE = NOW + timedelta(days=20)


@pytest.fixture
async def reporting_only(infrastructure) -> AsyncIterator[Platform]:  # type: ignore[no-untyped-def]
    async with running_platform(
        infrastructure, smtp_port=free_port(), only=("reporting",)
    ) as running:
        yield running


def step(n: int) -> dict[str, Any]:
    return {
        "case_number": f"HZ-001-202611-{n:05d}",
        "tracking_code": "ABCD-EFGH-JKLM",
        "at": RECEIVED_AT + timedelta(minutes=n),
    }


def received(n: int) -> ComplaintReceived:
    return ComplaintReceived(
        case_number=step(n)["case_number"],
        channel="web",
        kind="complaint",
        anonymous=False,
        received_at=RECEIVED_AT,
        content="重复收费",
    )


def assigned(n: int, due: datetime) -> ComplaintAssigned:
    return ComplaintAssigned(
        case_number=step(n)["case_number"],
        tracking_code="ABCD-EFGH-JKLM",
        category="fees",
        category_label="收费",
        department="finance",
        department_label="财务科",
        handler=None,
        received_at=RECEIVED_AT,
        due_at=due,
        summary="重复收费",
    )


def replied(n: int, round_: int = 0) -> ComplaintReplied:
    return ComplaintReplied(
        case_number=step(n)["case_number"],
        tracking_code="ABCD-EFGH-JKLM",
        received_at=RECEIVED_AT,
        replied_at=NOW,
        replied_by="hz-001-finance-2",
        reply="已退费",
        response_seconds=3600.0,
        round=round_,
    )


# Each complaint's history in the order it happened.
HISTORIES: dict[str, list[EventPayload]] = {
    # Extended, replied, closed unhappy, disputed, re-reviewed, closed happy, escalated once.
    "c-full": [
        received(1),
        ComplaintAccepted(**step(1)),
        assigned(1, PAST_DUE),
        DeadlineChanged(due_at=EXTENDED_DUE, previous_due_at=PAST_DUE, working_days=5, reason="x"),
        ComplaintExtended(**step(1), due_at=EXTENDED_DUE, reason="需调取结算日志"),
        replied(1),
        ComplaintClosed(**step(1), satisfaction="dissatisfied", finding="partly_substantiated"),
        ComplaintReopened(**step(1), reason="不认可", reopen_count=1),
        DeadlineChanged(due_at=REVIEW_DUE, working_days=5, reason="重新核实"),
        ComplaintEscalated(
            case_number=step(1)["case_number"],
            level="leadership",
            reason="督办",
            recipients=[Person(staff_id="hz-001-leadership-1", name="郑国华")],
        ),
        replied(1, round_=1),
        ComplaintClosed(**step(1), satisfaction="satisfied", finding="substantiated", round=1),
    ],
    "c-refused": [
        received(2),
        ComplaintNotAccepted(
            **step(2),
            reason="in_court_or_mediation",
            reason_label="已向人民法院起诉或已申请第三方调解",
            explanation="已起诉",
        ),
    ],
    "c-transferred": [received(3), ComplaintTransferred(**step(3), to_body="市场监督管理局")],
    "c-on-spot": [received(4), ComplaintResolvedOnSpot(**step(4), outcome="当场退费")],
    "c-waiting": [received(5), SupplementRequested(**step(5), missing="票据")],
    # Past its deadline and still being handled: the one overdue complaint.
    "c-late": [received(6), ComplaintAccepted(**step(6)), assigned(6, PAST_DUE)],
    # Past its deadline but answered and closed: not overdue.
    "c-done": [
        received(7),
        ComplaintAccepted(**step(7)),
        assigned(7, PAST_DUE),
        replied(7),
        ComplaintClosed(**step(7), satisfaction="basically_satisfied"),
    ],
}


def envelopes() -> list[Envelope]:
    out = []
    for complaint_id, history in HISTORIES.items():
        for n, event in enumerate(history):
            out.append(
                event.envelope(
                    hospital_id="hz-001",
                    complaint_id=complaint_id,
                    occurred_at=RECEIVED_AT + timedelta(seconds=n),
                )
            )
    return out


async def consumed(reporting: Any) -> int:
    text = (await reporting.get("/metrics")).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("huiyin_events_consumed_total{") and 'service="reporting"' in line
        )
    )


async def test_scrambled_and_redelivered_lifecycles_end_in_the_right_report(
    reporting_only: Platform,
) -> None:
    platform = reporting_only
    published = envelopes()
    scrambled = random.Random(3).sample(published, len(published))
    # Redeliveries, placed after the events that superseded them.
    again = [e for e in published if e.type in ("complaint.assigned", "complaint.closed")]
    connection = await aio_pika.connect(platform.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(platform.names.exchange)
        for envelope in [*scrambled, *again]:
            await exchange.publish(to_message(envelope), routing_key=envelope.type)

    total = len(published) + len(again)
    async with platform.client("reporting", "bureau") as reporting:
        deadline = time.monotonic() + 30
        while await consumed(reporting) < total:
            assert time.monotonic() < deadline, "reporting did not consume every event"
            await asyncio.sleep(0.1)

        today = NOW.astimezone(CHINA).date()
        window = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
        response = await reporting.get("/v1/reports/summary", params=window)
        assert response.status_code == 200, response.text
        summary = response.json()
        assert summary["total"] == len(HISTORIES)
        assert summary["by_status"] == {
            "closed": 2,
            "not_accepted": 1,
            "transferred": 1,
            "resolved_on_spot": 1,
            "needs_supplement": 1,
            "assigned": 1,
        }
        # The re-reviewed complaint counts with its latest return visit only.
        assert summary["by_satisfaction"] == {"satisfied": 1, "basically_satisfied": 1}
        assert summary["not_accepted_reasons"] == {"in_court_or_mediation": 1}
        assert summary["extensions"] == 1 and summary["escalations"] == 1
        assert summary["by_category"] == {"fees": 3, "unrouted": 4}
        [hospital] = summary["hospitals"]
        assert hospital["hospital_id"] == "hz-001" and hospital["total"] == len(HISTORIES)

        async def overdue_gauge() -> str:
            return (await reporting.get("/metrics")).text

        deadline = time.monotonic() + 10
        while 'huiyin_overdue_open_complaints{hospital_id="hz-001"} 1.0' not in (
            metrics := await overdue_gauge()
        ):
            assert time.monotonic() < deadline, [
                line for line in metrics.splitlines() if line.startswith("huiyin_overdue")
            ]
            await asyncio.sleep(0.1)

    # Counters moved once per event, never for a redelivery.
    for line in (
        'huiyin_complaints_reopened_total{hospital_id="hz-001"} 1.0',
        'huiyin_complaints_closed_total{hospital_id="hz-001",satisfaction="dissatisfied"} 1.0',
        'huiyin_complaints_closed_total{hospital_id="hz-001",satisfaction="satisfied"} 1.0',
        'huiyin_complaints_closed_total{hospital_id="hz-001",satisfaction="basically_satisfied"} 1.0',  # noqa: E501
        'huiyin_escalations_total{hospital_id="hz-001",level="leadership"} 1.0',
        'huiyin_complaints_received_total{channel="web",hospital_id="hz-001"} 7.0',
        'huiyin_response_seconds_count{hospital_id="hz-001"} 2.0',
    ):
        assert line in metrics, line

    facts = platform.services["reporting"].app.state.facts
    full = await facts.get("c-full")
    assert full["due_at"] == REVIEW_DUE  # not the assignment's, though it came last
    assert full["satisfaction"] == "satisfied" and full["finding"] == "substantiated"
    assert full["reopen_count"] == 1 and full["extensions"] == 1 and full["escalations"] == 1
    refused = await facts.get("c-refused")
    assert refused["not_accepted_reason"] == "in_court_or_mediation"
    assert (await facts.get("c-transferred"))["transferred_to"] == "市场监督管理局"
