"""The bureau's calendar file adds a year the package does not know yet."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.routing.adapters.calendar_file import read_corrections
from services.routing.domain.calendar import WorkingCalendar


def test_a_year_from_the_file_is_covered(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("years:\n  2027:\n    holidays: [2027-01-01]\n    workdays: [2027-01-02]\n")
    calendar = WorkingCalendar(read_corrections(path))
    assert calendar.covered_until() == date(2027, 12, 31)
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert calendar.is_working_day(date(2027, 1, 2))


def test_a_bad_date_names_its_place(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("years:\n  2027:\n    holidays: [2027-02-30]\n")
    with pytest.raises(ValidationError, match="holidays"):
        read_corrections(path)
