"""Intake applies a routing decision whose deadline waits for the calendar (no date shown,
the year recorded), then the date routing sends once the year is loaded; a re-routing
decision made before that date but consumed after it does not undo it. Real broker and
MongoDB-wire server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.contracts import ComplaintRouted, Envelope, EventPayload, Person
from tests.support import events as sample
from tests.support.bus import publish
from tests.support.complaints import complaint_when
from tests.support.platform import Platform

BASE = {"channel": "phone", "content": "挂号排队等了两个小时，导诊台无人指引。"}
RECEIVED = datetime(2026, 12, 20, 2, tzinfo=UTC)
DUE = datetime(2027, 1, 12, 15, 59, 59, tzinfo=UTC)


def decision(revision: int, handler: str) -> ComplaintRouted:
    return sample.routed(
        revision=revision,
        reason=None if revision == 1 else "委托：休假",
        handler=Person(staff_id=handler, name=handler),
        counting_day=RECEIVED.date() + timedelta(days=1),
        working_days=15,
        due_at=None,
        deadline_pending_year=2027,
    )


async def test_a_waiting_deadline_then_its_date_survive_a_late_re_routing(
    intake_only: Platform,
) -> None:
    platform = intake_only
    async with platform.client("intake", "hz-001") as intake:
        created = (await intake.post("/v1/complaints", json=BASE)).json()
        complaint = created["id"]

        def envelope(payload: EventPayload, at: datetime) -> Envelope:
            return sample.envelope(payload, complaint, at=at)

        await publish(platform, envelope(decision(1, "hz-001-finance-1"), RECEIVED))
        first = await complaint_when(intake, complaint, lambda a: a["revision"] == 1)
        assert first["assignment"]["due_at"] is None
        assert first["assignment"]["deadline_pending_year"] == 2027
        [assigned] = [e for e in first["timeline"] if e["type"] == "assigned"]
        assert "办理时限待2027年法定节假日安排载入后确定" in assigned["note"]

        loaded = RECEIVED + timedelta(days=3)
        dated = sample.deadline_changed(
            due_at=DUE, working_days=15, reason="2027年法定节假日安排已载入，自登记之日起计算"
        )
        await publish(platform, envelope(dated, loaded))
        await complaint_when(intake, complaint, lambda a: a["due_at"] is not None)

        # Delegated before the year was loaded (still waiting then), consumed after it.
        await publish(
            platform,
            envelope(decision(2, "hz-001-finance-2"), loaded - timedelta(hours=1)),
        )
        moved = await complaint_when(intake, complaint, lambda a: a["revision"] == 2)
    assignment = moved["assignment"]
    assert assignment["handler"]["staff_id"] == "hz-001-finance-2"
    assert datetime.fromisoformat(assignment["due_at"]) == DUE
    assert assignment["deadline_pending_year"] is None
