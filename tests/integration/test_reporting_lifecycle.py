"""Reporting alone against the real broker and MongoDB-wire server: lifecycle events
published as the other services would (scrambled and partly twice) end in the right
summary, read model and Prometheus metrics."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.contracts import CHINA, Envelope, EventPayload
from tests.support import events as sample
from tests.support.bus import publish
from tests.support.metrics import consumed, sample_sum
from tests.support.platform import Platform
from tests.support.polling import eventually

NOW = datetime.now(UTC).replace(microsecond=0)
RECEIVED_AT = NOW - timedelta(hours=2)
PAST_DUE = NOW - timedelta(days=1)
EXTENDED_DUE = NOW + timedelta(days=10)
REVIEW_DUE = NOW + timedelta(days=20)


def step(n: int) -> dict[str, Any]:
    """The n-th complaint's case, and when its lifecycle step happened."""
    return {"case_number": f"HZ-001-202611-{n:05d}", "at": RECEIVED_AT + timedelta(minutes=n)}


def received(n: int) -> EventPayload:
    return sample.received(case_number=step(n)["case_number"], received_at=RECEIVED_AT)


def assigned(n: int, due: datetime) -> EventPayload:
    case_number = step(n)["case_number"]
    return sample.assigned(case_number=case_number, received_at=RECEIVED_AT, due_at=due)


def replied(n: int, round_: int = 0) -> EventPayload:
    case_number = step(n)["case_number"]
    return sample.replied(
        case_number=case_number, received_at=RECEIVED_AT, replied_at=NOW, round=round_
    )


# Each complaint's history in the order it happened.
HISTORIES: dict[str, list[EventPayload]] = {
    # Extended, replied, closed unhappy, disputed, re-reviewed, closed happy, escalated once.
    "c-full": [
        received(1),
        sample.accepted(**step(1)),
        assigned(1, PAST_DUE),
        sample.deadline_changed(due_at=EXTENDED_DUE, previous_due_at=PAST_DUE),
        sample.extended(**step(1), due_at=EXTENDED_DUE, reason="需调取结算日志"),
        replied(1),
        sample.closed(**step(1), satisfaction="dissatisfied", finding="partly_substantiated"),
        sample.reopened(**step(1), reason="不认可", reopen_count=1),
        sample.deadline_changed(due_at=REVIEW_DUE, reason="重新核实"),
        sample.escalated(case_number=step(1)["case_number"], reason="督办"),
        replied(1, round_=1),
        sample.closed(**step(1), satisfaction="satisfied", finding="substantiated", round=1),
    ],
    "c-refused": [
        received(2),
        sample.not_accepted(
            **step(2),
            reason="in_court_or_mediation",
            reason_label="已向人民法院起诉或已申请第三方调解",
            explanation="已起诉",
        ),
    ],
    "c-transferred": [received(3), sample.transferred(**step(3), to_body="市场监督管理局")],
    "c-on-spot": [received(4), sample.resolved_on_spot(**step(4))],
    "c-waiting": [received(5), sample.supplement_requested(**step(5))],
    # Past its deadline and still being handled: the one overdue complaint.
    "c-late": [
        received(6),
        sample.accepted(**step(6)),
        assigned(6, PAST_DUE),
        sample.overdue(case_number=step(6)["case_number"], due_at=PAST_DUE),  # the SLA scan's
    ],
    # Past its deadline but answered and closed: not overdue.
    "c-done": [
        received(7),
        sample.accepted(**step(7)),
        assigned(7, PAST_DUE),
        replied(7),
        sample.closed(**step(7), satisfaction="basically_satisfied"),
    ],
}


def envelopes() -> list[Envelope]:
    return [
        sample.envelope(event, complaint_id, at=RECEIVED_AT + timedelta(seconds=n))
        for complaint_id, history in HISTORIES.items()
        for n, event in enumerate(history)
    ]


async def test_scrambled_and_redelivered_lifecycles_end_in_the_right_report(
    reporting_only: Platform,
) -> None:
    platform = reporting_only
    published = envelopes()
    scrambled = random.Random(3).sample(published, len(published))
    # Redeliveries, placed after the events that superseded them.
    again = [e for e in published if e.type in ("complaint.assigned", "complaint.closed")]
    await publish(platform, *scrambled, *again)

    total = len(published) + len(again)

    async def consumed_all() -> bool:
        return await consumed(platform, "reporting", service="reporting") >= total

    await eventually(consumed_all, timeout=30, interval=0.1, what="every event consumed")
    async with platform.client("reporting", "bureau") as reporting:
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

        overdue = 'huiyin_overdue_open_complaints{hospital_id="hz-001"} 1.0'

        async def overdue_counted() -> str | None:
            text = (await reporting.get("/metrics")).text
            return text if overdue in text else None

        metrics = await eventually(overdue_counted, timeout=10, interval=0.1, what=overdue)

    # Counters moved once per event, never for a redelivery.
    for line in (
        'huiyin_complaints_reopened_total{hospital_id="hz-001"} 1.0',
        'huiyin_complaints_closed_total{hospital_id="hz-001",satisfaction="dissatisfied"} 1.0',
        'huiyin_complaints_closed_total{hospital_id="hz-001",satisfaction="satisfied"} 1.0',
        'huiyin_complaints_closed_total{hospital_id="hz-001",satisfaction="basically_satisfied"} 1.0',  # noqa: E501
        'huiyin_escalations_total{hospital_id="hz-001",level="leadership"} 1.0',
        'huiyin_complaints_received_total{channel="web",hospital_id="hz-001"} 7.0',
    ):
        assert line in metrics, line
    # Labelled by the case's category and priority as known at the reply (order decides).
    assert sample_sum(metrics, "huiyin_response_seconds_count") == 2.0

    facts = platform.services["reporting"].app.state.facts
    full = await facts.get("c-full")
    assert full["due_at"] == REVIEW_DUE  # not the assignment's, though it came last
    assert full["satisfaction"] == "satisfied" and full["finding"] == "substantiated"
    assert full["reopen_count"] == 1 and full["extensions"] == 1 and full["escalations"] == 1
    refused = await facts.get("c-refused")
    assert refused["not_accepted_reason"] == "in_court_or_mediation"
    assert (await facts.get("c-transferred"))["transferred_to"] == "市场监督管理局"
