"""A clock's points on the escalation ladder (services/routing/domain/sla_points.py): in
working time on the official calendar, across holidays, make-up days (调休) and the year
the calendar does not cover yet; moved by pauses and extensions; none after a stop."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.deadline import OFFICE_HOURS, end_of
from services.routing.domain.escalation_ladder import DEFAULT_LADDER, EscalationLadder
from services.routing.domain.sla_points import (
    ClockFacts,
    ReplyWindow,
    SlaPoint,
    reason,
    schedule,
    to_tell,
    warning_at,
)
from shared.contracts import CHINA, LadderLevel

CALENDAR = WorkingCalendar()
L = LadderLevel


def china(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=CHINA).astimezone(UTC)


def due_after(day: date, working_days: int) -> datetime:
    return end_of(CALENDAR.add_working_days(day, working_days))


def facts(after: date, working_days: int, **changes: object) -> ClockFacts:
    base = ClockFacts(
        running=True,
        accepted=True,
        due_at=due_after(after, working_days),
        window=ReplyWindow(after=after),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def levels(points: tuple[SlaPoint, ...]) -> list[str]:
    return [p.level.value for p in points]


def at(points: tuple[SlaPoint, ...], level: LadderLevel) -> datetime:
    return next(p.at for p in points if p.level is level)


# --- examples -----------------------------------------------------------------------------


def test_an_ordinary_case_climbs_warning_reply_due_office_leadership_bureau() -> None:
    planned = schedule(facts(date(2026, 11, 2), 5), DEFAULT_LADDER, CALENDAR).points
    assert levels(planned) == ["warning", "reply_due", "complaint_office", "leadership", "bureau"]
    # 3, 4, 5, 6, 9 November: 80% is four working days, the close of Friday the 6th.
    assert at(planned, L.WARNING) == china(date(2026, 11, 6), time(17, 30))
    assert at(planned, L.REPLY_DUE) == china(date(2026, 11, 9), time(23, 59, 59))
    assert at(planned, L.COMPLAINT_OFFICE) == china(date(2026, 11, 11), time(23, 59, 59))
    assert at(planned, L.LEADERSHIP) == china(date(2026, 11, 16), time(23, 59, 59))
    assert at(planned, L.BUREAU) == china(date(2026, 11, 23), time(23, 59, 59))
    assert [p.overdue_working_days for p in planned] == [0, 0, 2, 5, 10]


def test_the_warning_of_a_short_deadline_falls_in_office_hours_on_a_make_up_saturday() -> None:
    # Counted from 30 September 2026: 8, 9 and 10 October (a make-up Saturday, 调休) are
    # the three working days after the National Day holiday; 80% is 2.4 days: 10 October,
    # 0.4 of its office hours (08:00-17:30) gone, 11:48.
    window = ReplyWindow(after=date(2026, 9, 30))
    due = due_after(date(2026, 9, 30), 3)
    assert due.astimezone(CHINA).date() == date(2026, 10, 10)
    assert warning_at(window, due, 80, CALENDAR) == china(date(2026, 10, 10), time(11, 48))


def test_a_one_day_deadline_warns_during_that_day_and_a_same_day_one_never() -> None:
    window = ReplyWindow(after=date(2026, 11, 2))
    one_day = due_after(date(2026, 11, 2), 1)
    assert warning_at(window, one_day, 80, CALENDAR) == china(date(2026, 11, 3), time(15, 36))
    same_day = due_after(date(2026, 11, 2), 0)
    assert warning_at(window, same_day, 80, CALENDAR) is None


def test_a_deadline_in_hours_warns_in_clock_hours() -> None:
    received = datetime(2026, 11, 7, 14, tzinfo=UTC)  # a Saturday night in China
    due = received + timedelta(hours=48)
    clock = ClockFacts(running=True, accepted=True, due_at=due, window=ReplyWindow(since=received))
    planned = schedule(clock, DEFAULT_LADDER, CALENDAR).points
    assert at(planned, L.WARNING) == received + timedelta(hours=38, minutes=24)
    assert at(planned, L.REPLY_DUE) == due


def test_overdue_steps_skip_holidays() -> None:
    # Due Wednesday 30 September 2026; the working days after it are 8, 9, 10 (make-up
    # Saturday), 12, 13 October ...
    due = end_of(date(2026, 9, 30))
    clock = ClockFacts(running=True, accepted=True, due_at=due)
    planned = schedule(clock, DEFAULT_LADDER, CALENDAR).points
    assert at(planned, L.COMPLAINT_OFFICE) == end_of(date(2026, 10, 9))
    assert at(planned, L.LEADERSHIP) == end_of(date(2026, 10, 13))


def test_a_step_in_a_year_not_loaded_is_not_guessed() -> None:
    due = end_of(date(2026, 12, 28))
    clock = ClockFacts(running=True, accepted=True, due_at=due)
    planned = schedule(clock, DEFAULT_LADDER, CALENDAR)
    assert levels(planned.points) == ["reply_due", "complaint_office"]
    assert planned.waits_for == 2027


def test_acceptance_and_the_urgent_climb_by_hours() -> None:
    received = datetime(2026, 11, 2, 1, tzinfo=UTC)
    action = received + timedelta(hours=24)
    clock = facts(
        date(2026, 11, 2),
        5,
        accepted=False,
        acceptance_due_at=due_after(date(2026, 11, 2), 5),
        urgent=True,
        action_due_at=action,
        floor=L.LEADERSHIP,  # entered at leadership at once
    )
    planned = schedule(clock, DEFAULT_LADDER, CALENDAR).points
    assert levels(planned) == ["action_due", "bureau", "warning", "acceptance_due", "reply_due"]
    bureau = next(p for p in planned if p.level is L.BUREAU)
    assert bureau.at == action + timedelta(hours=24) and bureau.by_hours
    assert reason(bureau).endswith("已过24小时")


def test_what_was_reached_is_not_planned_again_and_moots_what_it_supersedes() -> None:
    base = facts(date(2026, 11, 2), 5)
    assert levels(
        schedule(replace(base, reached=frozenset({L.WARNING})), DEFAULT_LADDER, CALENDAR).points
    ) == [
        "reply_due",
        "complaint_office",
        "leadership",
        "bureau",
    ]
    late = replace(base, reached=frozenset({L.REPLY_DUE, L.LEADERSHIP}))
    assert levels(schedule(late, DEFAULT_LADDER, CALENDAR).points) == ["bureau"]
    entered = replace(base, floor=L.BUREAU)
    assert levels(schedule(entered, DEFAULT_LADDER, CALENDAR).points) == ["warning", "reply_due"]


def test_a_told_acceptance_deadline_and_urgent_climb_are_not_told_again() -> None:
    acceptance = due_after(date(2026, 11, 2), 5)
    clock = facts(
        date(2026, 11, 2),
        5,
        accepted=False,
        acceptance_due_at=acceptance,
        acceptance_told=acceptance,
        urgent=True,
        action_due_at=datetime(2026, 11, 3, tzinfo=UTC),
        action_told=frozenset({L.ACTION_DUE, L.BUREAU}),
    )
    planned = schedule(clock, DEFAULT_LADDER, CALENDAR).points
    assert "acceptance_due" not in levels(planned) and "action_due" not in levels(planned)


def test_paused_stopped_and_waiting_clocks() -> None:
    assert (
        schedule(facts(date(2026, 11, 2), 5, running=False), DEFAULT_LADDER, CALENDAR).points == ()
    )
    waiting = facts(
        date(2026, 11, 2),
        5,
        due_at=None,
        accepted=False,
        acceptance_due_at=due_after(date(2026, 11, 2), 5),
    )
    assert levels(schedule(waiting, DEFAULT_LADDER, CALENDAR).points) == ["acceptance_due"]


def test_only_the_highest_of_what_passed_together_is_told() -> None:
    planned = schedule(facts(date(2026, 11, 2), 5), DEFAULT_LADDER, CALENDAR).points
    after_a_month = datetime(2026, 12, 31, tzinfo=UTC)
    assert levels(to_tell(planned, after_a_month)) == ["reply_due", "bureau"]
    assert levels(to_tell(planned, at(planned, L.WARNING))) == ["warning"]
    assert to_tell(planned, at(planned, L.WARNING) - timedelta(seconds=1)) == ()


def test_reasons_name_the_deadline_not_the_complaint() -> None:
    planned = schedule(facts(date(2026, 11, 2), 5), DEFAULT_LADDER, CALENDAR).points
    assert [reason(p) for p in planned] == [
        "答复期限2026年11月9日将至，请抓紧办理",
        "答复期限2026年11月9日已到，尚未答复",
        "答复期限2026年11月9日已过2个工作日，尚未答复",
        "答复期限2026年11月9日已过5个工作日，尚未答复",
        "答复期限2026年11月9日已过10个工作日，尚未答复",
    ]


# --- properties ---------------------------------------------------------------------------

counting_days = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 10, 31)).filter(
    CALENDAR.is_working_day
)
ladders = st.builds(
    lambda percent, co, lead, bureau, hours: EscalationLadder(
        warning_percent=percent,
        complaint_office_after_working_days=co,
        leadership_after_working_days=co + lead,
        bureau_after_working_days=co + lead + bureau,
        urgent_bureau_after_hours=hours,
    ),
    st.integers(1, 99),
    st.integers(1, 10),
    st.integers(1, 10),
    st.integers(1, 10),
    st.integers(1, 72),
)
reached_sets = st.frozensets(st.sampled_from(list(LadderLevel)))


def clock_of(day: date, days: int, reached: frozenset[LadderLevel], urgent: bool) -> ClockFacts:
    due = due_after(day, days)
    received = china(day, time(9))
    return ClockFacts(
        running=True,
        urgent=urgent,
        accepted=False,
        acceptance_due_at=due_after(day, min(days, 5)),
        due_at=due,
        action_due_at=received + timedelta(hours=24) if urgent else None,
        window=ReplyWindow(after=day),
        reached=reached,
    )


@settings(max_examples=300, deadline=None)
@given(counting_days, st.integers(0, 30), ladders, reached_sets, st.booleans())
def test_points_are_strictly_ordered_and_each_level_comes_once(
    day: date, days: int, ladder: EscalationLadder, reached: frozenset[LadderLevel], urgent: bool
) -> None:
    planned = schedule(clock_of(day, days, reached, urgent), ladder, CALENDAR)
    points = planned.points
    assert all(a < b for a, b in zip(points, points[1:], strict=False))
    assert len({p.level for p in points}) == len(points)
    assert not {p.level for p in points} & reached
    if L.WARNING in levels_set(points) and L.REPLY_DUE in levels_set(points):
        assert at(points, L.WARNING) < at(points, L.REPLY_DUE)
    escalations = [p for p in points if p.level in (L.COMPLAINT_OFFICE, L.LEADERSHIP)]
    assert escalations == sorted(escalations)


def levels_set(points: tuple[SlaPoint, ...]) -> set[LadderLevel]:
    return {p.level for p in points}


@settings(max_examples=300, deadline=None)
@given(counting_days, st.integers(1, 30))
def test_working_time_points_fall_on_working_days_and_the_warning_at_work(
    day: date, days: int
) -> None:
    planned = schedule(clock_of(day, days, frozenset(), False), DEFAULT_LADDER, CALENDAR)
    for point in planned.points:
        local = point.at.astimezone(CHINA)
        assert CALENDAR.is_working_day(local.date()), point
        if point.level is L.WARNING:
            assert OFFICE_HOURS.opens <= local.time() <= OFFICE_HOURS.closes


@settings(max_examples=300, deadline=None)
@given(counting_days, st.integers(0, 30), ladders, st.data())
def test_a_tightened_hospital_ladder_is_never_later_than_the_bureaus(
    day: date, days: int, bureau: EscalationLadder, data: st.DataObject
) -> None:
    co = data.draw(st.integers(1, bureau.complaint_office_after_working_days))
    lead = data.draw(st.integers(co + 1, max(co + 1, bureau.leadership_after_working_days)))
    top = data.draw(st.integers(lead + 1, max(lead + 1, bureau.bureau_after_working_days)))
    assume(lead <= bureau.leadership_after_working_days)
    assume(top <= bureau.bureau_after_working_days)
    hospital = EscalationLadder(
        warning_percent=data.draw(st.integers(1, bureau.warning_percent)),
        complaint_office_after_working_days=co,
        leadership_after_working_days=lead,
        bureau_after_working_days=top,
        urgent_bureau_after_hours=data.draw(st.integers(1, bureau.urgent_bureau_after_hours)),
    )
    clock = clock_of(day, days, frozenset(), data.draw(st.booleans()))
    theirs = {p.level: p.at for p in schedule(clock, bureau, CALENDAR).points}
    ours = {p.level: p.at for p in schedule(clock, hospital, CALENDAR).points}
    for level, when in ours.items():
        if level in theirs:
            assert when <= theirs[level], level


@settings(max_examples=200, deadline=None)
@given(counting_days, st.integers(0, 20), st.integers(1, 30), reached_sets)
def test_an_extension_never_brings_a_point_earlier(
    day: date, days: int, extra: int, reached: frozenset[LadderLevel]
) -> None:
    before = clock_of(day, days, frozenset(), False)
    assert before.due_at is not None
    due_day = before.due_at.astimezone(CHINA).date()
    try:
        later = end_of(CALENDAR.add_working_days(due_day, extra))
    except Exception:
        assume(False)
        return
    # A new round: the window is the extension's own working days after the old due day.
    extended = replace(before, due_at=later, window=ReplyWindow(after=due_day))
    old = {p.level: p.at for p in schedule(before, DEFAULT_LADDER, CALENDAR).points}
    new = {p.level: p.at for p in schedule(extended, DEFAULT_LADDER, CALENDAR).points}
    for level in (L.REPLY_DUE, L.COMPLAINT_OFFICE, L.LEADERSHIP, L.BUREAU):
        if level in old and level in new:
            assert new[level] > old[level]
    if L.WARNING in new:
        assert new[L.WARNING] > before.due_at - timedelta(days=1)


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2026, 11, 1), max_value=date(2026, 12, 31)), st.integers(0, 40))
def test_at_the_year_end_nothing_is_guessed_in_the_year_not_loaded(day: date, days: int) -> None:
    assume(CALENDAR.is_working_day(day))
    try:
        clock = clock_of(day, days, frozenset(), False)
    except Exception:  # the deadline itself needs 2027: it waits (deadline.py), no points
        return
    planned = schedule(clock, DEFAULT_LADDER, CALENDAR)
    for point in planned.points:
        assert point.at.astimezone(CHINA).year == 2026
    if planned.waits_for is not None:
        assert planned.waits_for == 2027


@settings(max_examples=100, deadline=None)
@given(counting_days, st.integers(0, 30), reached_sets, st.booleans())
def test_nothing_after_a_stop_or_during_a_pause(
    day: date, days: int, reached: frozenset[LadderLevel], urgent: bool
) -> None:
    stopped = replace(clock_of(day, days, reached, urgent), running=False)
    assert schedule(stopped, DEFAULT_LADDER, CALENDAR).points == ()


@pytest.mark.parametrize("percent", [1, 50, 80, 99])
def test_the_warning_is_before_the_deadline_whatever_the_share(percent: int) -> None:
    window = ReplyWindow(after=date(2026, 11, 2))
    due = due_after(date(2026, 11, 2), 1)
    warning = warning_at(window, due, percent, CALENDAR)
    assert warning is not None and warning < due
