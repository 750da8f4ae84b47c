"""Bounds on every date a person or a system submits (issue 9, finding 6).

A date that cannot be right is refused at the edge with a 422 naming its field, instead
of being stored (a complaint "received" in 1970 parks forever; a supplement dated before
its request leaves the clock paused) or crashing the driver (year 1 or 9999 shifted to
UTC overflows). Three rules:

- `Instant` / `Day` (types for API fields): text only, never a bare number (12345 is not
  a date), and inside the years the platform can hold (2000–2099).
- `problem_with`: not in the future beyond a small clock skew, not before what it
  follows (a supplement before its request), not older than a window the bureau sets.

And `stored_utc`: a time read back from MongoDB as an aware UTC datetime, whether or not
the client that read it was tz-aware.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

CLOCK_SKEW = timedelta(minutes=5)
FIRST_YEAR, LAST_YEAR = 2000, 2099


def _text_only(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        raise ValueError(
            "an ISO 8601 date-time with its UTC offset (2026-11-30T09:30:00+08:00), not a number"
        )
    return value


def _in_platform_years(value: date) -> date:
    # Compare the calendar year as written: shifting year 1 or 9999 to UTC overflows.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must lie between {FIRST_YEAR} and {LAST_YEAR}")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(_in_platform_years)]
Day = Annotated[date, BeforeValidator(_text_only), AfterValidator(_in_platform_years)]


def in_platform_years(value: date) -> bool:
    return FIRST_YEAR <= value.year <= LAST_YEAR


def problem_with(
    value: datetime,
    *,
    now: datetime,
    not_before: datetime | None = None,
    not_before_what: str = "",
    max_age: timedelta | None = None,
) -> str | None:
    """Why `value` cannot be right, in words for the person who sent it; None if it can."""
    if not in_platform_years(value):
        return f"must lie between {FIRST_YEAR} and {LAST_YEAR}"
    if value > now + CLOCK_SKEW:
        return f"lies in the future (now is {now.astimezone(UTC).isoformat(timespec='seconds')})"
    if not_before is not None and value < not_before:
        return f"is before {not_before_what} ({not_before.astimezone(UTC).isoformat()})"
    if max_age is not None and value < now - max_age:
        return (
            f"is older than {max_age.days} days, the bureau's window for late registration "
            "(HUIYIN_RECEIVED_AT_MAX_AGE_DAYS)"
        )
    return None


def stored_utc(moment: datetime) -> datetime:
    """A stored time (UTC by the platform's rule) as an aware datetime."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
