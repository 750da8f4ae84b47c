"""A point as routing stores it on the clock and in the scan's slots
(services/routing/sla_state.py `point_document`, `point_of`): read back as it was planned,
to BSON's millisecond, from the compact string and from the small document earlier
versions stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.routing.domain.sla_points import SlaPoint
from services.routing.sla_state import aware, point_document, point_of
from shared.contracts import CHINA, LadderLevel

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
points = st.builds(
    SlaPoint,
    at=moments,
    level=st.sampled_from(list(LadderLevel)),
    about=moments,
    overdue_working_days=st.integers(0, 30),
    by_hours=st.booleans(),
)


def same(left: SlaPoint, right: SlaPoint) -> bool:
    fields = ("at", "level", "about", "overdue_working_days", "by_hours")
    return all(getattr(left, name) == getattr(right, name) for name in fields)


@given(points)
def test_a_stored_point_reads_back_as_planned_to_the_millisecond(point: SlaPoint) -> None:
    stored = point_document(point)
    assert isinstance(stored, str)  # one string, not a document: cheaper for FerretDB
    expected = SlaPoint(
        at=aware(point.at) or point.at,
        level=point.level,
        about=aware(point.about) or point.about,
        overdue_working_days=point.overdue_working_days,
        by_hours=point.by_hours,
    )
    assert same(point_of(stored), expected)
    assert point_document(point_of(stored)) == stored  # a plan made again compares equal


def test_a_point_stored_as_a_document_by_an_earlier_version_still_reads() -> None:
    at = datetime(2026, 12, 8, 23, 59, 59, 999000, tzinfo=CHINA).astimezone(UTC)
    stored = {
        "l": "complaint_office",
        "at": at.replace(tzinfo=None),  # as PyMongo returns it without tz_aware
        "ab": at - timedelta(days=4),
        "d": 2,
        "h": False,
    }
    point = point_of(stored)
    assert (point.level, point.at, point.overdue_working_days, point.by_hours) == (
        LadderLevel.COMPLAINT_OFFICE,
        at,
        2,
        False,
    )
    assert point_of(point_document(point)).about == at - timedelta(days=4)
