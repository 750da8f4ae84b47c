"""Case numbers per hospital and China month; unguessable tracking codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from services.intake.domain.numbering import (
    TRACKING_ALPHABET,
    case_number,
    counter_key,
    tracking_code,
)


def test_case_number_uses_the_china_month() -> None:
    # 17:00 UTC on 31 January is 01:00 on 1 February in Beijing.
    at = datetime(2026, 1, 31, 17, 0, tzinfo=UTC)
    assert case_number("hz-001", at, 7) == "HZ-001-202602-00007"
    assert counter_key("hz-001", at) == "HZ-001:202602"
    assert counter_key("hz-001", datetime(2026, 1, 31, 15, 0, tzinfo=UTC)) == "HZ-001:202601"


def test_case_number_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="sequence"):
        case_number("hz-001", datetime(2026, 1, 1, tzinfo=UTC), 0)
    with pytest.raises(ValueError, match="timezone"):
        case_number("hz-001", datetime(2026, 1, 1), 1)


def test_tracking_codes_are_readable_and_unique() -> None:
    codes = {tracking_code() for _ in range(5_000)}
    assert len(codes) == 5_000
    for code in list(codes)[:500]:
        assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code)
        assert set(code.replace("-", "")) <= set(TRACKING_ALPHABET)
    assert not set("01IO") & set(TRACKING_ALPHABET)
