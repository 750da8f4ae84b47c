"""The SLA clock through the lifecycle, driven through routing's real handler table with
in-process stores: pause and restart, acceptance, stops, extensions, re-review with
escalation, re-routing and delegation; each idempotent by event id. Plus properties of
the deadline arithmetic under pause, restart and extension."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing import lifecycle
from services.routing.adapters.clocks import OPEN, PAUSED, STOPPED
from services.routing.consumers import handlers
from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.deadline import counting_day, reply_due_at
from services.routing.domain.region import Role
from services.routing.service import HospitalRulebook
from shared.consumer import PermanentFailure
from shared.contracts import CHINA, Envelope, EventPayload
from tests.support import events as sample
from tests.unit.routing.fakes import (
    FakeRegion,
    FakeRelay,
    documents,
    example_region,
    fake_clocks,
)

CALENDAR = WorkingCalendar()
MONDAY_9AM = sample.RECEIVED_AT  # 09:00 in China, when the sample complaint arrived
HOSPITAL = "hz-001"


class Settings:
    reply_working_days = 5


class Routing:
    """Routing's handler table over fake stores, and what it published."""

    def __init__(
        self, region: FakeRegion | None = None, calendar: WorkingCalendar = CALENDAR
    ) -> None:
        self.relay = FakeRelay()
        self.region = region or FakeRegion()
        self.now = MONDAY_9AM  # the platform's time, as the SLA state is planned
        self.clocks = fake_clocks(
            self.relay, region=self.region, calendar=calendar, now=lambda: self.now
        )
        self.calendar = calendar
        self.refusals: list[str] = []  # one cause per deadline the calendar could not count
        self.table = handlers(
            clocks=self.clocks,
            region=self.region,
            calendar=calendar,
            settings=Settings(),
            refused=self.refusals.append,
        )
        self.complaint_id = str(uuid4())

    def send(self, payload: EventPayload, envelope: Envelope | None = None) -> Envelope:
        envelope = envelope or payload.envelope(
            hospital_id=HOSPITAL, complaint_id=self.complaint_id
        )
        asyncio.run(self.table[payload.event_type](envelope, payload))
        return envelope

    def published(self, event_type: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.relay.notified if e.type == event_type]

    @property
    def clock(self) -> dict[str, Any]:
        return documents(self.clocks)[self.complaint_id]


def received(text: str = "出院结算时发现重复收费。", **extra: Any) -> EventPayload:
    return sample.received(content=text, **extra)


def china_day(moment: Any) -> date:
    return moment.astimezone(CHINA).date()


def routed_case(**extra: Any) -> Routing:
    routing = Routing()
    routing.send(received(**extra))
    return routing


# --- the first decision -------------------------------------------------------------------


def test_received_starts_one_clock_and_publishes_revision_one() -> None:
    routing = Routing()
    envelope = routing.send(received())
    routing.send(received(), envelope)  # a redelivery
    [routed] = routing.published("complaint.routed")
    assert routed["revision"] == 1 and routed["department"] == "finance"
    assert routing.clock["status"] == OPEN and routing.clock["revision"] == 1
    assert china_day(routing.clock["due_at"]) == date(2026, 11, 5)  # hz-001: fees simple, 3


def test_an_event_before_its_clock_is_retried_not_parked() -> None:
    routing = Routing()
    with pytest.raises(lifecycle.ClockNotStarted):
        routing.send(sample.accepted(at=MONDAY_9AM))


# --- acceptance, supplement, stops --------------------------------------------------------


@pytest.mark.parametrize(("days_after", "late"), [(0, False), (4, False), (8, True)])
def test_acceptance_is_recorded_against_its_own_target(days_after: int, late: bool) -> None:
    routing = routed_case()
    routing.send(sample.accepted(at=MONDAY_9AM + timedelta(days=days_after)))
    assert routing.clock["acceptance_late"] is late
    assert routing.clock["status"] == OPEN


def test_a_supplement_request_pauses_and_the_supplement_restarts_counting() -> None:
    routing = routed_case()
    asked = MONDAY_9AM + timedelta(days=1)
    routing.send(sample.supplement_requested(at=asked, missing="缴费发票"))
    assert (routing.clock["status"], routing.clock["paused_at"]) == (PAUSED, asked)
    arrived = datetime(2026, 11, 16, 2, tzinfo=UTC)  # Monday 10:00, two weeks later
    envelope = routing.send(sample.supplemented(at=arrived))
    routing.send(sample.supplemented(at=arrived), envelope)  # redelivered: once
    assert routing.clock["status"] == OPEN
    assert routing.clock["counting_day"] == "2026-11-16"
    assert china_day(routing.clock["due_at"]) == date(2026, 11, 19)  # 3 working days
    assert china_day(routing.clock["acceptance_due_at"]) == date(2026, 11, 23)  # 5, anew
    [changed] = routing.published("complaint.deadline_changed")
    assert changed["working_days"] == 3 and "补齐" in changed["reason"]
    assert china_day(datetime.fromisoformat(changed["previous_due_at"])) == date(2026, 11, 5)


def test_a_supplement_after_acceptance_keeps_the_acceptance() -> None:
    routing = routed_case()
    routing.send(sample.accepted(at=MONDAY_9AM))
    target = routing.clock["acceptance_due_at"]
    routing.send(sample.supplement_requested(at=MONDAY_9AM, missing="病历"))
    routing.send(sample.supplemented(at=MONDAY_9AM + timedelta(days=7)))
    assert routing.clock["acceptance_due_at"] == target


def test_a_backdated_supplement_consumed_before_its_request_keeps_the_clock_running() -> None:
    """A hospital recording its backlog: the request is entered on Thursday, the supplement
    that came in on Tuesday right after it. Consumed out of order, the request must not
    pause the clock for good (issue 9, finding 6): intake's order of recording decides."""
    routing = routed_case()
    entered = MONDAY_9AM + timedelta(days=3)
    request = sample.supplement_requested(at=entered, missing="票据")
    supplement = sample.supplemented(at=MONDAY_9AM + timedelta(days=1))
    later = timedelta(minutes=1)

    def envelope(payload: EventPayload, occurred_at: datetime) -> Envelope:
        return payload.envelope(
            hospital_id=HOSPITAL, complaint_id=routing.complaint_id, occurred_at=occurred_at
        )

    routing.send(supplement, envelope(supplement, entered + later))
    routing.send(request, envelope(request, entered))
    assert routing.clock["status"] == OPEN
    assert routing.clock["counting_day"] == "2026-11-03"  # counting from Tuesday's supplement


def test_a_stale_pause_consumed_after_the_supplement_changes_nothing() -> None:
    routing = routed_case()
    request = sample.supplement_requested(at=MONDAY_9AM + timedelta(days=1), missing="票据")
    recorded = request.envelope(hospital_id=HOSPITAL, complaint_id=routing.complaint_id)
    routing.send(sample.supplemented(at=MONDAY_9AM + timedelta(days=2)))
    routing.send(request, recorded)  # recorded first by intake, consumed last
    assert routing.clock["status"] == OPEN


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        (sample.transferred(at=MONDAY_9AM, to_body="市医保局"), "transferred"),
        (
            sample.replied(received_at=MONDAY_9AM, replied_at=MONDAY_9AM + timedelta(days=2)),
            "replied",
        ),
    ],
)
def test_the_clock_stops_once(payload: EventPayload, outcome: str) -> None:
    routing = routed_case()
    routing.send(payload)
    stopped = copy.deepcopy(routing.clock)
    routing.send(payload)  # another event of the same kind: already stopped
    routing.send(sample.extension_approved(at=MONDAY_9AM, working_days=5, reason="迟到的批准"))
    assert stopped["status"] == STOPPED and stopped["outcome"] == outcome
    assert routing.clock["due_at"] == stopped["due_at"]
    assert routing.published("complaint.deadline_changed") == []


# --- extension ----------------------------------------------------------------------------


def test_an_extension_adds_working_days_to_the_current_deadline() -> None:
    routing = routed_case()
    before = routing.clock["due_at"]
    envelope = routing.send(
        sample.extension_approved(at=MONDAY_9AM, working_days=5, reason="需鉴定")
    )
    routing.send(
        sample.extension_approved(at=MONDAY_9AM, working_days=5, reason="需鉴定"), envelope
    )
    assert china_day(routing.clock["due_at"]) == date(2026, 11, 12)  # 5 Nov + 5 working days
    [changed] = routing.published("complaint.deadline_changed")
    assert changed["reason"] == "需鉴定" and changed["working_days"] == 5
    assert datetime.fromisoformat(changed["previous_due_at"]) == before


# --- re-review and escalation -------------------------------------------------------------


def reopen(routing: Routing, count: int, at: datetime) -> None:
    routing.send(sample.reopened(at=at, reason="不认可", reopen_count=count, flagged=count >= 2))


def test_a_dispute_restarts_the_clock_and_a_second_goes_to_leadership() -> None:
    routing = routed_case()
    routing.send(sample.transferred(at=MONDAY_9AM, to_body="x"))  # any stop
    reopen(routing, 1, datetime(2026, 11, 9, 2, tzinfo=UTC))
    assert routing.clock["status"] == OPEN
    assert china_day(routing.clock["due_at"]) == date(2026, 11, 12)  # simple: 3 days again
    assert routing.published("complaint.escalated") == []
    reopen(routing, 2, datetime(2026, 11, 16, 2, tzinfo=UTC))
    [escalated] = routing.published("complaint.escalated")
    assert escalated["level"] == "leadership"
    assert escalated["reason"] == "投诉第2次被申请复核"
    assert [p["staff_id"] for p in escalated["recipients"]] == ["hz-001-leadership-1"]
    reasons = [c["reason"] for c in routing.published("complaint.deadline_changed")]
    assert reasons == ["投诉人对处理结果有异议，重新核实"] * 2


def test_without_hospital_leaders_the_bureaus_supervisors_are_told() -> None:
    region = example_region()
    hz1 = region.hospitals[0]
    hz1.staff = [m for m in hz1.staff if Role.LEADERSHIP not in m.roles]
    routing = Routing(FakeRegion(region))
    routing.send(received())
    reopen(routing, 3, MONDAY_9AM + timedelta(days=3))
    [escalated] = routing.published("complaint.escalated")
    assert [p["staff_id"] for p in escalated["recipients"]] == ["bureau-sup-1"]


# --- re-routing and delegation ------------------------------------------------------------


def reroute(department: str, **extra: Any) -> EventPayload:
    return sample.reroute_requested(
        at=MONDAY_9AM,
        department=department,
        reason=extra.pop("reason", "实为护理问题"),
        content="护士扎针五次",
        **extra,
    )


def test_rerouting_is_a_new_revision_in_the_new_department() -> None:
    routing = routed_case()
    envelope = routing.send(reroute("nursing", target_staff_id="hz-001-nursing-2"))
    routing.send(reroute("nursing"), envelope)  # redelivered: once
    [first, second] = routing.published("complaint.routed")
    assert (second["revision"], second["reason"]) == (2, "实为护理问题")
    assert second["department"] == "nursing" and second["department_label"] == "护理部"
    assert second["handler"]["staff_id"] != "hz-001-nursing-2"  # complained about
    assert second["recused"] == ["hz-001-nursing-2"]
    assert second["due_at"] == first["due_at"]  # the deadline stays
    assert routing.clock["department"] == "nursing" and routing.clock["revision"] == 2


def test_rerouting_to_a_department_the_hospital_lacks_is_parked_with_the_reason() -> None:
    routing = routed_case()
    with pytest.raises(PermanentFailure, match="department cardiology_x is not in hospital"):
        routing.send(reroute("cardiology_x"))


def delegate(routing: Routing, to: str) -> bool:
    return asyncio.run(
        lifecycle.delegate(
            routing.clock,
            delegate_to=to,
            reason="委托：请假",
            clocks=routing.clocks,
            rulebook=HospitalRulebook(routing.region),
        )
    )


def test_delegation_hands_the_case_to_the_delegate_as_a_new_revision() -> None:
    routing = routed_case()
    absent = routing.clock["handler_id"]
    delegate_to = "hz-001-finance-1" if absent != "hz-001-finance-1" else "hz-001-finance-3"
    assert delegate(routing, delegate_to)
    assert not delegate(routing, delegate_to)  # asked again: nothing more
    [_, routed] = routing.published("complaint.routed")
    assert routed["handler"]["staff_id"] == delegate_to and routed["revision"] == 2
    [record] = routing.clock["delegations"]
    assert (record["from"], record["to"]) == (absent, delegate_to)


def test_a_delegate_who_is_complained_about_is_recused() -> None:
    routing = routed_case(target_staff_id="hz-001-finance-2")
    assert routing.clock["handler_id"] == "hz-001-finance-1"  # least loaded, first by id
    hz1 = routing.region.region.hospitals[0]
    hz1.staff = [  # marked absent first, as the absence endpoint does
        m.model_copy(update={"absent": True}) if m.id == "hz-001-finance-1" else m
        for m in hz1.staff
    ]
    assert delegate(routing, "hz-001-finance-2")
    [_, routed] = routing.published("complaint.routed")
    assert routed["handler"]["staff_id"] == "hz-001-finance-3"  # the only one left
    assert "hz-001-finance-2" in routed["recused"]
    [record] = routing.clock["delegations"]
    assert (record["asked"], record["to"]) == ("hz-001-finance-2", "hz-001-finance-3")


# --- properties of the deadline arithmetic ------------------------------------------------

receipts = st.datetimes(
    min_value=datetime(2010, 1, 1), max_value=datetime(2026, 9, 30), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(receipts, st.integers(0, 40), st.integers(0, 40))
def test_after_a_pause_counting_starts_from_the_supplement_day(
    at: datetime, pause_hours: int, wait_days: int
) -> None:
    routing = routed_case(received_at=at)
    asked = at + timedelta(hours=pause_hours)
    arrived = asked + timedelta(days=wait_days)
    routing.send(sample.supplement_requested(at=asked, missing="材料"))
    routing.send(sample.supplemented(at=arrived))
    due = routing.clock["due_at"]
    assert due == reply_due_at(arrived, 3, CALENDAR)
    assert CALENDAR.is_working_day(china_day(due))  # always a working day
    assert china_day(due) > counting_day(arrived, CALENDAR)  # never before counting starts
    first_due = datetime.fromisoformat(routing.published("complaint.routed")[0]["due_at"])
    assert due >= first_due  # a pause never shortens the time to answer


@settings(max_examples=60, deadline=None)
@given(receipts, st.integers(1, 15), st.integers(1, 15))
def test_two_extensions_equal_one_of_their_sum(at: datetime, n: int, m: int) -> None:
    twice, once = routed_case(received_at=at), Routing()
    once.complaint_id = twice.complaint_id
    once.send(received(received_at=at))
    twice.send(sample.extension_approved(at=at, working_days=n, reason="a"))
    twice.send(sample.extension_approved(at=at, working_days=m, reason="b"))
    once.send(sample.extension_approved(at=at, working_days=n + m, reason="a+b"))
    assert twice.clock["due_at"] == once.clock["due_at"]
    assert CALENDAR.is_working_day(china_day(twice.clock["due_at"]))
    first_due = datetime.fromisoformat(twice.published("complaint.routed")[0]["due_at"])
    assert CALENDAR.working_days_between(china_day(first_due), china_day(once.clock["due_at"])) == (
        n + m
    )
