"""Issue 9, findings 5 and 8, through routing's real handler table on in-process stores: a
calendar that ends with 2026 never holds a complaint back. The decision is made at once
with its deadline pending; a supplement restart, an extension and a re-review wait the
same way; every such refusal is counted exactly once; loading 2027 counts each waiting
deadline and publishes it, once, however often the recount runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.routing import lifecycle
from services.routing.adapters.calendar_store import StoredYear
from services.routing.calendar_loading import CalendarWatch, UnlawfulYear
from services.routing.domain.calendar import CalendarCorrection, WorkingCalendar
from services.routing.domain.deadline import DeadlineRule, count
from tests.support import events as sample
from tests.support.calendar_years import lawful_stand_in
from tests.unit.routing.test_clock_lifecycle import Routing, china_day, received, reroute

LAST = WorkingCalendar().covered_until().year  # 2026: the package's last year
NEXT = LAST + 1
DEC_20 = datetime(LAST, 12, 20, 2, tzinfo=UTC)  # Sunday 10:00 in China
NEXT_YEAR = CalendarCorrection(year=NEXT, holidays=frozenset(lawful_stand_in(NEXT)[0]))
FULL = WorkingCalendar([NEXT_YEAR])


def short_routing() -> Routing:
    return Routing(calendar=WorkingCalendar())


def load_next_year(routing: Routing) -> list[bool]:
    """The bureau loads next year: the calendar learns it, each waiting clock is recounted."""
    routing.calendar.reload([NEXT_YEAR])
    waiting = asyncio.run(routing.clocks.pending.waiting(NEXT))
    return [
        asyncio.run(
            lifecycle.recount(
                complaint_id,
                year=NEXT,
                calendar=routing.calendar,
                clocks=routing.clocks,
                refused=routing.refusals.append,
            )
        )
        for complaint_id in waiting
    ]


def test_a_complaint_of_20_december_is_routed_at_once_with_its_deadline_pending() -> None:
    routing = short_routing()
    routing.send(received(received_at=DEC_20, case_type="complex"))  # 15 working days
    [routed] = routing.published("complaint.routed")
    assert routed["handler"] is not None and routed["department"] == "finance"
    assert routed["due_at"] is None and routed["deadline_pending_year"] == NEXT
    assert routed["counting_day"] == f"{LAST}-12-21"
    assert routed["acceptance_due_at"] is not None  # 5 working days fit in December
    assert routing.clock["deadline_pending"]["year"] == NEXT
    assert routing.clock["overdue"] is False  # neither overdue nor on time: no date
    assert set(asyncio.run(routing.clocks.pending.waiting(NEXT))) == {routing.complaint_id}
    assert routing.refusals == ["complaint.received"]

    assert load_next_year(routing) == [True]
    [changed] = routing.published("complaint.deadline_changed")
    expected = count(DeadlineRule(reason="", counted_from=DEC_20, working_days=15), FULL).due_at
    assert changed["deadline_pending_year"] is None
    assert datetime.fromisoformat(changed["due_at"]) == expected == routing.clock["due_at"]
    assert changed["working_days"] == 15 and changed["reason"].startswith(f"{NEXT}年法定节假日")
    assert routing.clock["deadline_pending"] is None
    assert asyncio.run(routing.clocks.pending.waiting(NEXT)) == {}
    # Recounting again (a second pass, another replica) changes and publishes nothing.
    routing.calendar.reload([NEXT_YEAR])
    assert (
        asyncio.run(
            lifecycle.recount(
                routing.complaint_id,
                year=NEXT,
                calendar=routing.calendar,
                clocks=routing.clocks,
            )
        )
        is False
    )
    assert len(routing.published("complaint.deadline_changed")) == 1
    assert routing.refusals == ["complaint.received"]


def test_an_extension_across_the_year_end_waits_and_then_gives_the_new_date() -> None:
    routing = short_routing()
    routing.send(received(received_at=datetime(LAST, 12, 1, 2, tzinfo=UTC)))
    known = routing.clock["due_at"]
    routing.send(
        sample.extension_approved(
            at=datetime(LAST, 12, 3, tzinfo=UTC), working_days=30, reason="需鉴定"
        )
    )
    [waiting] = routing.published("complaint.deadline_changed")
    assert waiting["due_at"] is None and waiting["deadline_pending_year"] == NEXT
    assert waiting["reason"] == "需鉴定" and waiting["working_days"] == 30
    assert routing.clock["extended_days"] == 30
    assert routing.refusals == ["complaint.extension_approved"]
    load_next_year(routing)
    [_, dated] = routing.published("complaint.deadline_changed")
    expected = FULL.add_working_days(china_day(known), 30)
    assert china_day(datetime.fromisoformat(dated["due_at"])) == expected
    assert datetime.fromisoformat(dated["previous_due_at"]) == known
    assert "需鉴定" in dated["reason"]


def test_an_extension_approved_while_the_deadline_waits_waits_with_it() -> None:
    routing = short_routing()
    routing.send(received(received_at=DEC_20, case_type="complex"))
    routing.send(sample.extension_approved(at=DEC_20, working_days=10, reason="需调取监控"))
    assert routing.clock["deadline_pending"]["rule"]["extra_working_days"] == 10
    load_next_year(routing)
    dated = routing.published("complaint.deadline_changed")[-1]
    assert dated["working_days"] == 25
    assert china_day(datetime.fromisoformat(dated["due_at"])) == FULL.add_working_days(
        date(LAST, 12, 21), 25
    )
    assert routing.refusals == ["complaint.received", "complaint.extension_approved"]


def test_a_supplement_restart_and_a_re_review_wait_the_same_way() -> None:
    routing = short_routing()
    routing.send(received(received_at=datetime(LAST, 11, 2, 1, tzinfo=UTC)))
    routing.send(sample.supplement_requested(at=datetime(LAST, 11, 3, tzinfo=UTC), missing="发票"))
    arrived = datetime(LAST, 12, 30, 2, tzinfo=UTC)  # 3 working days reach into next year
    routing.send(sample.supplemented(at=arrived))
    [restart] = routing.published("complaint.deadline_changed")
    assert restart["due_at"] is None and restart["deadline_pending_year"] == NEXT
    assert routing.clock["status"] == "open" and routing.clock["counting_day"] == f"{LAST}-12-30"
    assert routing.clock["acceptance_due_at"] is None  # not accepted: it waits too

    other = short_routing()
    other.send(received(received_at=datetime(LAST, 11, 2, 1, tzinfo=UTC)))
    other.send(
        sample.reopened(
            at=datetime(LAST, 12, 29, 2, tzinfo=UTC), reason="不认可", reopen_count=2, flagged=True
        )
    )
    [review] = other.published("complaint.deadline_changed")
    assert review["due_at"] is None and review["deadline_pending_year"] == NEXT
    assert other.published("complaint.escalated")  # the escalation does not wait
    assert (routing.refusals, other.refusals) == (
        ["complaint.supplemented"],
        ["complaint.reopened"],
    )
    load_next_year(routing)
    load_next_year(other)
    assert china_day(routing.clock["due_at"]) == FULL.add_working_days(date(LAST, 12, 30), 3)
    assert china_day(routing.clock["acceptance_due_at"]) == FULL.add_working_days(
        date(LAST, 12, 30), 5
    )
    assert china_day(other.clock["due_at"]) == FULL.add_working_days(date(LAST, 12, 29), 3)


def test_every_refused_deadline_counts_once_whatever_its_path() -> None:
    """Finding 8: six refusals, six counts (the old gauge said 2)."""
    paths: list[Any] = [
        lambda r: r.send(received(received_at=DEC_20, case_type="complex")),
        lambda r: r.send(received(received_at=datetime(NEXT, 1, 4, 2, tzinfo=UTC))),  # a 2027 day
    ]
    total: list[str] = []
    for path in paths:
        routing = short_routing()
        path(routing)
        total += routing.refusals
    routing = short_routing()
    routing.send(received(received_at=datetime(LAST, 11, 2, 1, tzinfo=UTC)))
    routing.send(
        sample.extension_approved(at=datetime(LAST, 12, 3, tzinfo=UTC), working_days=45, reason="a")
    )
    routing.send(sample.supplemented(at=datetime(LAST, 12, 30, 2, tzinfo=UTC)))
    routing.send(
        sample.reopened(at=datetime(LAST, 12, 31, 2, tzinfo=UTC), reason="b", reopen_count=1)
    )
    envelope = routing.send(
        sample.extension_approved(at=datetime(LAST, 12, 31, tzinfo=UTC), working_days=5, reason="c")
    )
    routing.send(
        sample.extension_approved(
            at=datetime(LAST, 12, 31, tzinfo=UTC), working_days=5, reason="c"
        ),
        envelope,
    )
    total += routing.refusals
    assert sorted(total) == sorted(
        [
            "complaint.received",
            "complaint.received",
            "complaint.extension_approved",
            "complaint.supplemented",
            "complaint.reopened",
            "complaint.extension_approved",  # the redelivery is not counted again
        ]
    )


def test_a_receipt_in_a_missing_year_is_routed_with_no_counting_day() -> None:
    routing = short_routing()
    routing.send(received(received_at=datetime(NEXT, 1, 4, 2, tzinfo=UTC)))
    [routed] = routing.published("complaint.routed")
    assert routed["counting_day"] is None and routed["acceptance_due_at"] is None
    assert routed["deadline_pending_year"] == NEXT and routed["handler"] is not None
    routing.send(sample.accepted(at=datetime(NEXT, 1, 20, 3, tzinfo=UTC)))
    assert routing.clock["acceptance_late"] is False  # no target yet: not judged
    load_next_year(routing)
    assert routing.clock["acceptance_late"] is True  # judged once the target is known
    assert routing.clock["counting_day"] == f"{NEXT}-01-04"
    assert routing.clock["acceptance_due_at"] is not None and routing.clock["due_at"] is not None


def test_a_clock_that_stops_while_waiting_leaves_the_index() -> None:
    routing = short_routing()
    routing.send(received(received_at=DEC_20, case_type="complex"))
    routing.send(sample.replied(received_at=DEC_20, replied_at=datetime(LAST, 12, 22, tzinfo=UTC)))
    assert routing.clock["deadline_pending"] is None
    assert asyncio.run(routing.clocks.pending.waiting(NEXT)) == {}
    assert load_next_year(routing) == []


def test_a_delegation_while_waiting_carries_the_pending_year() -> None:
    routing = short_routing()
    routing.send(received(received_at=DEC_20, case_type="complex"))
    routing.send(reroute("nursing"))
    [_, moved] = routing.published("complaint.routed")
    assert moved["revision"] == 2
    assert moved["due_at"] is None and moved["deadline_pending_year"] == NEXT


# --- the calendar watch: loading a year, then counting what waited ------------------------


class FakeCalendarStore:
    def __init__(self) -> None:
        self.stored: dict[int, StoredYear] = {}

    async def save(self, correction: CalendarCorrection, *, by: str) -> int:
        old = self.stored.get(correction.year)
        versions = [*(old.versions if old else []), {"by": by}]
        self.stored[correction.year] = StoredYear(correction, len(versions), versions)
        return len(versions)

    async def year(self, year: int) -> StoredYear | None:
        return self.stored.get(year)

    async def years(self) -> list[StoredYear]:
        return list(self.stored.values())


def watch_of(routing: Routing, store: FakeCalendarStore) -> CalendarWatch:
    return CalendarWatch(
        calendar=routing.calendar,
        store=store,
        clocks=routing.clocks,
        refused=routing.refusals.append,
    )


def test_the_bureau_loads_the_year_and_the_watch_counts_every_waiting_deadline() -> None:
    store = FakeCalendarStore()
    routing = short_routing()
    routing.send(received(received_at=DEC_20, case_type="complex"))
    watch = watch_of(routing, store)
    bogus = CalendarCorrection(year=NEXT, holidays=frozenset({date(NEXT, 1, 2)}))
    with pytest.raises(UnlawfulYear, match="元旦"):
        asyncio.run(watch.load(bogus, by="bureau"))
    assert store.stored == {} and not routing.calendar.covers(date(NEXT, 1, 1))
    assert asyncio.run(watch.load(NEXT_YEAR, by="bureau")) == 1
    done = asyncio.run(watch.run_once())
    assert done["resolved"] == 1 and watch.pending.get(NEXT) == 0
    assert routing.clock["due_at"] is not None
    assert asyncio.run(watch.run_once())["resolved"] == 0  # idempotent


def test_another_replicas_load_is_picked_up_and_counted() -> None:
    store = FakeCalendarStore()
    routing = short_routing()
    routing.send(received(received_at=DEC_20, case_type="complex"))
    asyncio.run(store.save(NEXT_YEAR, by="bureau"))  # stored by another replica
    watch = watch_of(routing, store)
    done = asyncio.run(watch.run_once())
    assert routing.calendar.covers(date(NEXT, 6, 1)) and watch.applied == {NEXT: 1}
    assert done["resolved"] == 1 and routing.clock["due_at"] is not None


def test_a_stale_index_entry_is_dropped() -> None:
    routing = short_routing()
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    left = {"hospital_id": "hz-001", "since": long_ago, "entry": "e1"}  # a crash left it
    routing.clocks.pending.years = {NEXT: {"gone": left}}
    routing.calendar.reload([NEXT_YEAR])
    done = asyncio.run(watch_of(routing, FakeCalendarStore()).run_once())
    assert done["stale"] == 1 and asyncio.run(routing.clocks.pending.waiting(NEXT)) == {}


def test_a_bogus_year_stored_before_the_law_was_checked_is_not_applied() -> None:
    store = FakeCalendarStore()
    bogus = CalendarCorrection(year=NEXT, holidays=frozenset({date(NEXT, 1, 2)}))
    asyncio.run(store.save(bogus, by="tester"))  # the finding's PUT, accepted back then
    routing = short_routing()
    routing.send(received(received_at=DEC_20, case_type="complex"))
    watch = watch_of(routing, store)
    asyncio.run(watch.apply_stored())
    assert asyncio.run(watch.run_once())["resolved"] == 0
    assert not routing.calendar.covers(date(NEXT, 1, 1)) and watch.applied == {}
    assert routing.clock["deadline_pending"]["year"] == NEXT  # still waiting, not guessed
    asyncio.run(watch.load(NEXT_YEAR, by="bureau"))  # the lawful year, version 2
    assert asyncio.run(watch.run_once())["resolved"] == 1 and watch.applied == {NEXT: 2}
    assert routing.refusals == ["complaint.received"]
