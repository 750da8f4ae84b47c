"""The bounds on submitted dates (shared/dates.py), without servers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.dates import CLOCK_SKEW, Day, Instant, problem_with

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Form(BaseModel):
    at: Instant | None = None
    day: Day | None = None


@pytest.mark.parametrize(
    "value",
    [
        12345,
        1.5,
        True,
        "0001-01-01T00:00:00+08:00",
        "9999-12-31T23:59:59-05:00",
        "1999-12-31T23:59:59+00:00",
    ],
)
def test_numbers_and_years_outside_the_platform_are_refused(value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        Form.model_validate({"at": value})
    assert raised.value.errors()[0]["loc"] == ("at",)


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", 20261130])
def test_days_outside_the_platform_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        Form.model_validate({"day": value})


def test_an_iso_date_time_with_offset_is_taken() -> None:
    form = Form.model_validate({"at": "2026-11-30T09:30:00+08:00", "day": "2026-11-30"})
    assert form.at == datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
    assert form.day == date(2026, 11, 30)


def test_the_future_is_refused_beyond_the_clock_skew_only() -> None:
    assert problem_with(NOW + CLOCK_SKEW, now=NOW) is None
    assert "future" in (problem_with(NOW + CLOCK_SKEW + timedelta(seconds=1), now=NOW) or "")


def test_before_what_it_follows_is_refused_with_what_that_is() -> None:
    asked = NOW - timedelta(days=1)
    problem = problem_with(
        asked - timedelta(minutes=1), now=NOW, not_before=asked, not_before_what="the request"
    )
    assert problem is not None and "the request" in problem
    assert problem_with(asked, now=NOW, not_before=asked) is None


@given(
    age=st.integers(min_value=0, max_value=2000), window=st.integers(min_value=1, max_value=1000)
)
def test_the_window_refuses_exactly_what_is_older(age: int, window: int) -> None:
    value = NOW - timedelta(days=age)
    problem = problem_with(value, now=NOW, max_age=timedelta(days=window))
    if value.year < 2000:
        assert problem is not None
    else:
        assert (problem is not None) == (age > window)
