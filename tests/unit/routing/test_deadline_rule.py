"""Deadlines that wait for the calendar: whatever waits, counted once the year is loaded,
gives exactly the dates a calendar that knew the year all along would have given."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.calendar import CalendarCorrection, WorkingCalendar
from services.routing.domain.deadline import Counted, DeadlineRule, count, reply_due_at
from shared.contracts import CHINA
from tests.support.calendar_years import lawful_stand_in

SHORT = WorkingCalendar()  # ends with the package's last year (2026)
LAST = SHORT.covered_until().year
FULL = WorkingCalendar(
    [CalendarCorrection(year=y, holidays=lawful_stand_in(y)[0]) for y in (LAST + 1, LAST + 2)]
)
late_in_the_year = st.datetimes(
    min_value=datetime(LAST, 11, 1),
    max_value=datetime(LAST, 12, 31, 23, 59),
    timezones=st.just(UTC),
)


def then_loaded(rule: DeadlineRule) -> Counted:
    """Count on the short calendar, then what waited once the year is loaded, merged."""
    now = count(rule, SHORT)
    if now.rule is None:
        return now
    assert now.waits_for == LAST + 1
    later = count(now.rule, FULL)
    assert later.rule is None
    return Counted(
        later.counting_day or now.counting_day,
        now.acceptance_due_at or later.acceptance_due_at,
        now.due_at or later.due_at,
    )


@settings(max_examples=300, deadline=None)
@given(late_in_the_year, st.integers(0, 30), st.integers(0, 5), st.integers(0, 30))
def test_a_deadline_counted_late_is_the_one_counted_at_once(
    at: datetime, working_days: int, acceptance: int, extra: int
) -> None:
    rule = DeadlineRule(
        reason="x",
        counted_from=at,
        working_days=working_days,
        acceptance_working_days=acceptance,
        extra_working_days=extra,
    )
    direct = count(rule, FULL)
    assert direct.rule is None
    assert then_loaded(rule) == direct
    if not extra:
        assert direct.due_at == reply_due_at(at, working_days, FULL)


@settings(max_examples=200, deadline=None)
@given(late_in_the_year, st.integers(1, 15), st.integers(1, 30), st.integers(1, 30))
def test_extensions_approved_while_waiting_add_up(
    at: datetime, working_days: int, n: int, m: int
) -> None:
    rule = DeadlineRule(reason="x", counted_from=at, working_days=working_days)
    waited = rule.extended(n, reason="a").extended(m, reason="b")
    assert waited.reply_working_days == working_days + n + m and waited.reason == "b"
    assert (
        then_loaded(waited).due_at
        == count(replace(rule, working_days=working_days + n + m), FULL).due_at
    )
    # The same as extending the date once it is known, n then m working days.
    known = count(rule, FULL).due_at
    assert known is not None
    day = known.astimezone(CHINA).date()
    once = count(DeadlineRule(reason="a", after=day, extra_working_days=n), FULL).due_at
    assert once is not None
    twice = DeadlineRule(reason="b", after=once.astimezone(CHINA).date(), extra_working_days=m)
    assert count(twice, FULL).due_at == then_loaded(waited).due_at


def test_a_fifteen_day_deadline_from_20_december_waits_for_next_year() -> None:
    at = datetime(LAST, 12, 20, 2, tzinfo=UTC)  # Sunday 10:00 in China
    counted = count(
        DeadlineRule(reason="x", counted_from=at, working_days=15, acceptance_working_days=5),
        SHORT,
    )
    assert counted.counting_day == date(LAST, 12, 21)
    assert counted.acceptance_due_at is not None  # five working days fit in December
    assert counted.due_at is None and counted.waits_for == LAST + 1
    assert counted.reply_pending_year == LAST + 1
    assert counted.rule is not None and counted.rule.acceptance_working_days is None


def test_a_receipt_in_a_missing_year_waits_whole() -> None:
    counted = count(
        DeadlineRule(
            reason="x",
            counted_from=datetime(LAST + 1, 1, 4, 2, tzinfo=UTC),
            working_days=5,
            acceptance_working_days=5,
        ),
        SHORT,
    )
    assert (counted.counting_day, counted.acceptance_due_at, counted.due_at) == (None, None, None)
    assert counted.waits_for == LAST + 1


def test_an_hours_deadline_never_waits_only_its_acceptance_may() -> None:
    at = datetime(LAST + 1, 1, 4, 2, tzinfo=UTC)
    rule = DeadlineRule(reason="x", counted_from=at, reply_hours=48, acceptance_working_days=1)
    counted = count(rule, SHORT)
    assert counted.due_at == at + timedelta(hours=48)
    assert counted.reply_pending_year is None  # the reply deadline is a date
    assert counted.rule is not None and not counted.rule.reply
    later = count(counted.rule, FULL)
    assert later.acceptance_due_at is not None and later.due_at is None


def test_a_rule_needing_a_year_after_the_loaded_one_waits_for_that_one() -> None:
    after = date(LAST + 2, 12, 20)  # FULL ends with LAST + 2
    counted = count(DeadlineRule(reason="x", after=after, extra_working_days=30), FULL)
    assert counted.due_at is None and counted.waits_for == LAST + 3


def test_a_waiting_rule_is_stored_and_read_back_unchanged() -> None:
    rule = DeadlineRule(
        reason="延期",
        counted_from=datetime(LAST, 12, 20, 2, tzinfo=UTC),
        working_days=15,
        reply_hours=None,
        after=date(LAST, 12, 31),
        extra_working_days=30,
        acceptance_working_days=5,
        reply=True,
        previous_due_at=datetime(LAST, 12, 31, 15, 59, 59, tzinfo=UTC),
    )
    assert DeadlineRule.from_document(rule.to_document()) == rule
    naive = rule.to_document() | {"counted_from": datetime(LAST, 12, 20, 2)}  # as BSON may
    assert DeadlineRule.from_document(naive).counted_from == rule.counted_from
