"""What each event records in a complaint's facts, and that the facts come out the same
whatever order (and however often) the events arrive. The document is folded in memory
with the same operators the adapter sends to MongoDB ($set, $max, $addToSet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.reporting.consumers import handlers
from services.reporting.domain.facts import (
    FactChange,
    apply_fact_update,
    change_for,
    fact_update,
    new_facts,
    newer_groups,
    version_of,
)
from services.reporting.domain.status import is_running, status_of
from services.reporting.service import record
from shared.contracts import EVENT_TYPES, Envelope, EventPayload
from shared.topology import subscriptions
from tests.support import events as sample
from tests.support.events import DUE, EXTENDED_DUE, RECEIVED_AT, every_event

T0 = RECEIVED_AT
REVIEW_DUE = datetime(2026, 11, 27, 15, 59, 59, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def assigned(hours: float, *, department: str = "finance", due: datetime = DUE) -> EventPayload:
    return sample.assigned(department=department, handler=None, due_at=due, priority="high")


def replied(hours: float, round_: int = 0) -> EventPayload:
    return sample.replied(replied_at=at(hours), response_seconds=hours * 3600, round=round_)


def closed(hours: float, satisfaction: str, round_: int = 0) -> EventPayload:
    return sample.closed(
        at=at(hours), satisfaction=satisfaction, finding="substantiated", round=round_
    )


# One realistic history, as (hours after receipt when it occurred, event), in order:
# received, accepted and assigned; extended once; replied and closed dissatisfied;
# disputed twice (the second time escalated), replied again, closed satisfied.
HISTORY: list[tuple[float, EventPayload]] = [
    (0, sample.received()),
    (1, sample.accepted(at=at(1))),
    (2, assigned(2)),
    (30, sample.deadline_changed(due_at=EXTENDED_DUE, previous_due_at=DUE, reason="调查")),
    (31, sample.extended(at=at(31), due_at=EXTENDED_DUE, reason="调查")),
    (50, replied(50)),
    (60, closed(60, "dissatisfied")),
    (70, sample.reopened(at=at(70), reason="不认可", reopen_count=1)),
    (71, sample.deadline_changed(due_at=REVIEW_DUE, reason="重新核实")),
    (80, replied(80, round_=1)),
    (90, sample.reopened(at=at(90), reason="仍不认可", reopen_count=2, flagged=True)),
    (91, sample.escalated()),
    (100, replied(100, round_=2)),
    (110, closed(110, "satisfied", round_=2)),
]


def envelope(hours: float, event: EventPayload, n: int) -> Envelope:
    return Envelope(
        event_id=f"00000000-0000-4000-8000-{n:012d}",
        type=event.event_type,
        occurred_at=at(hours),
        hospital_id="hz-001",
        complaint_id="c-1",
        payload=event.model_dump(mode="json"),
    )


def fold(document: dict[str, Any], envelope: Envelope, event: EventPayload) -> None:
    """What ComplaintFacts.apply does, against an in-memory document."""
    event_id = str(envelope.event_id)
    if event_id in document.get("applied", []):
        return
    if not document:
        document.update(new_facts(envelope.complaint_id, envelope.hospital_id))
    update = fact_update(
        change_for(event, occurred_at=envelope.occurred_at),
        hospital_id=envelope.hospital_id,
        event_id=event_id,
        version=version_of(envelope.occurred_at),
        current=document,
    )
    apply_fact_update(document, update)


def facts_of(
    order: list[int], history: list[tuple[float, EventPayload]] = HISTORY
) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for n in order:
        hours, event = history[n]
        fold(document, envelope(hours, event, n), event)
    return document


IN_ORDER = facts_of(list(range(len(HISTORY))))


def test_the_history_in_order_shows_the_whole_lifecycle() -> None:
    facts = IN_ORDER
    assert status_of(facts["status_rank"]) == "closed"
    assert facts["satisfaction"] == "satisfied" and facts["closed_round"] == 2
    assert facts["due_at"] == REVIEW_DUE
    assert facts["reopen_count"] == 2 and facts["flagged"] is True
    assert facts["extensions"] == 1 and facts["escalations"] == 1
    assert facts["escalation_levels"] == ["leadership"]
    assert facts["response_seconds"] == 50 * 3600  # the first answer only
    assert facts["last_replied_at"] == at(100) and facts["reply_round"] == 2
    assert facts["category"] == "fees" and facts["priority"] == "high"
    assert facts["accepted_at"] == at(1) and facts["received_at"] == T0


@settings(max_examples=200, deadline=None)
@given(
    st.permutations(range(len(HISTORY))),
    st.lists(st.integers(0, len(HISTORY) - 1), max_size=8),
)
def test_any_order_and_any_redelivery_gives_the_same_facts(
    order: list[int], again: list[int]
) -> None:
    facts = facts_of([*order, *again])
    for key in (
        "status_rank",
        "satisfaction",
        "finding",
        "closed_round",
        "due_at",
        "reopen_count",
        "flagged",
        "extensions",
        "escalations",
        "response_seconds",
        "last_replied_at",
        "reply_round",
        "category",
        "department",
        "priority",
    ):
        assert facts.get(key) == IN_ORDER.get(key), key
    assert sorted(facts["applied"]) == sorted(IN_ORDER["applied"])


def test_a_late_assignment_does_not_undo_the_extended_deadline() -> None:
    # The extension (hour 30/31) is applied first, then the assignment (hour 2) arrives.
    facts = facts_of([0, 3, 4, 2])
    assert facts["due_at"] == EXTENDED_DUE and status_of(facts["status_rank"]) == "assigned"


def test_a_late_first_closure_does_not_overwrite_the_second() -> None:
    facts = facts_of([13, 6])
    assert facts["satisfaction"] == "satisfied" and status_of(facts["status_rank"]) == "closed"


def test_a_reroute_moves_the_department_and_an_older_assignment_cannot_move_it_back() -> None:
    history = [(2, assigned(2)), (40, assigned(40, department="nursing"))]
    assert facts_of([0, 1], history)["department"] == "nursing"
    assert facts_of([1, 0], history)["department"] == "nursing"


def test_a_closed_complaint_reopened_is_running_again_and_loses_no_count() -> None:
    facts = facts_of(list(range(8)))  # up to the first dispute
    assert status_of(facts["status_rank"]) == "reopened" and is_running(facts["status_rank"])
    assert facts["satisfaction"] == "dissatisfied"  # the old return visit stays on record
    assert facts["reopen_count"] == 1 and facts.get("flagged") is False


# --- single events ------------------------------------------------------------------------


ACCEPTANCE_REVIEW: list[tuple[EventPayload, str, dict[str, Any]]] = [
    (sample.accepted(), "accepted", {"accepted_at": T0}),
    (sample.supplement_requested(), "needs_supplement", {"supplement_requested_at": T0}),
    (sample.supplemented(), "accepted", {"supplemented_at": T0}),
    (
        sample.not_accepted(),
        "not_accepted",
        {"not_accepted_reason": "outside_remit", "ended_at": T0},
    ),
    (
        sample.transferred(to_body="市场监督管理局"),
        "transferred",
        {"transferred_to": "市场监督管理局", "ended_at": T0},
    ),
    (sample.resolved_on_spot(), "resolved_on_spot", {"ended_at": T0}),
]


@pytest.mark.parametrize(
    ("event", "status", "fields"), ACCEPTANCE_REVIEW, ids=lambda v: getattr(v, "event_type", None)
)
def test_acceptance_review_steps(event: EventPayload, status: str, fields: dict[str, Any]) -> None:
    change = change_for(event, occurred_at=T0)
    assert change.status == status and change.round == 0
    assert fields.items() <= change.fields.items()


def test_routing_records_the_category_and_case_type_but_not_a_deadline() -> None:
    routed = sample.routed(priority="urgent", case_type="simple", working_days=3)
    change = change_for(routed, occurred_at=T0)
    assert change.status is None and "deadline" not in change.latest
    assert change.latest["assignment"]["case_type"] == "simple"
    assert change.latest["assignment"]["priority"] == "urgent"


def test_requests_whose_outcome_is_another_event_change_nothing() -> None:
    reroute = sample.reroute_requested(department="nursing", reason="改派")
    assert change_for(reroute, occurred_at=T0) == FactChange()


def test_newer_groups_takes_only_strictly_later_decisions() -> None:
    change = FactChange(latest={"deadline": {"due_at": DUE}, "closure": {"satisfaction": "x"}})
    early, late = version_of(at(1)), version_of(at(2))
    assert newer_groups(change, version=late, known=None) == change.latest
    assert newer_groups(change, version=late, known={"deadline": early}) == change.latest
    assert newer_groups(change, version=early, known={"deadline": late}) == {
        "closure": {"satisfaction": "x"}
    }
    assert newer_groups(change, version=late, known={"deadline": late, "closure": late}) == {}


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_versions_sort_as_the_moments_they_stamp(a: datetime, b: datetime) -> None:
    assert (version_of(a) < version_of(b)) is (a < b)


def test_an_update_never_touches_one_field_with_two_operators() -> None:
    for hours, event in HISTORY:
        update = fact_update(
            change_for(event, occurred_at=at(hours)),
            hospital_id="hz-001",
            event_id="e",
            version=version_of(at(hours)),
            current=new_facts("c-1", "hz-001"),
        )
        keys = [k for op in update.values() for k in op]
        assert len(keys) == len(set(keys)), event.event_type


# --- the handler table --------------------------------------------------------------------


# Events whose outcome arrives as another event (routed, deadline_changed), and deliveries:
# reporting counts them and records no facts.
ONLY_COUNTED: list[EventPayload] = [
    sample.reroute_requested(),
    sample.extension_approved(),
    sample.deadline_set(),
    sample.notification_sent(),
    sample.notification_failed(),
    sample.sla_warning(),
    sample.escalation_acknowledged(),
]


def test_the_table_takes_every_event_of_the_contracts() -> None:
    # Reporting counts everything: a contract type it did not receive would be missing
    # from the reports without a trace.
    stub: Any = object()
    assert set(handlers(facts=stub, counters=stub, metrics=stub)) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(subscriptions("reporting")))
def test_every_event_records_facts_unless_it_is_only_counted(event_type: str) -> None:
    event = every_event()[event_type]
    only_counted = any(type(e) is type(event) for e in ONLY_COUNTED)
    assert change_for(event, occurred_at=T0).records_nothing is only_counted


class Untouchable:
    """Facts and metrics that fail the test when used."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"{name} used")


@pytest.mark.parametrize("event", ONLY_COUNTED, ids=lambda e: e.event_type)
async def test_an_only_counted_event_writes_no_facts_and_moves_no_counter(
    event: EventPayload,
) -> None:
    untouchable: Any = Untouchable()
    await record(
        sample.envelope(event), event, facts=untouchable, counters=untouchable, metrics=untouchable
    )
