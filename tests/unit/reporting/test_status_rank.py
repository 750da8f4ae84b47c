"""Reporting's status ranks: whatever order events arrive in, `$max` of the ranks shows
the complaint's real lifecycle status, across re-review rounds."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.reporting.domain.status import RUNNING, STAGES, is_running, rank, status_of

# Realistic event histories (status, round) in the order intake produced them.
HISTORIES = [
    [("received", 0), ("accepted", 0), ("assigned", 0), ("replied", 0), ("closed", 0)],
    [("received", 0), ("needs_supplement", 0), ("accepted", 0), ("assigned", 0)],
    [("received", 0), ("not_accepted", 0)],
    [("received", 0), ("transferred", 0)],
    [("received", 0), ("resolved_on_spot", 0)],
    [
        ("received", 0),
        ("accepted", 0),
        ("assigned", 0),
        ("replied", 0),
        ("closed", 0),
        ("reopened", 1),
        ("assigned", 0),  # a re-route during the re-review: no step back
        ("replied", 1),
        ("reopened", 2),
    ],
]


@pytest.mark.parametrize("history", HISTORIES)
def test_any_arrival_order_shows_the_last_status(history: list[tuple[str, int]]) -> None:
    for order in itertools.islice(itertools.permutations(history), 2000):
        assert status_of(max(rank(*step) for step in order)) == history[-1][0]


def test_a_later_round_outranks_every_step_of_an_earlier_one() -> None:
    for status in STAGES:
        assert rank("reopened", 1) > rank(status, 0)
    assert rank("replied", 1) > rank("reopened", 1)
    assert rank("reopened", 2) > rank("closed", 1)


@given(st.sampled_from(STAGES), st.integers(min_value=0, max_value=50))
def test_rank_round_trips_to_its_status(status: str, round_: int) -> None:
    assert status_of(rank(status, round_)) == status
    assert is_running(rank(status, round_)) is (status in RUNNING)


def test_paused_and_finished_complaints_are_never_overdue() -> None:
    assert not is_running(rank("needs_supplement"))
    for done in ("replied", "closed", "not_accepted", "transferred", "resolved_on_spot"):
        assert not is_running(rank(done))
    assert is_running(rank("reopened", 1)) and is_running(None)


def test_negative_rounds_are_refused() -> None:
    with pytest.raises(ValueError, match="round"):
        rank("replied", -1)
