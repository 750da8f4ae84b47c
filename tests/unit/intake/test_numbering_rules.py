"""Case numbers (年度+月份+流水号 per hospital, month in China time) and tracking codes."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain import numbering
from services.intake.domain.numbering import (
    TRACKING_ALPHABET,
    case_number,
    counter_key,
    ledger_month,
    tracking_code,
)
from shared.contracts import CHINA

CST = timezone(timedelta(hours=8))
CASE_NUMBER = re.compile(r"(?P<hospital>[A-Z0-9-]+)-(?P<month>\d{6})-(?P<sequence>\d{5,})")
TRACKING_CODE = re.compile(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}")


# --- the ledger month ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        # 17:00Z on 31 January is 01:00 on 1 February in Shanghai.
        (datetime(2026, 1, 31, 17, 0, tzinfo=UTC), "202602"),
        (datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC), "202601"),
        (datetime(2026, 1, 31, 16, 0, tzinfo=UTC), "202602"),  # midnight in Shanghai
        # New Year's Eve: the year rolls over eight hours before it does in UTC.
        (datetime(2026, 12, 31, 16, 0, tzinfo=UTC), "202701"),
        (datetime(2026, 12, 31, 15, 59, 59, 999999, tzinfo=UTC), "202612"),
        # Leap day.
        (datetime(2028, 2, 29, 15, 59, tzinfo=UTC), "202802"),
        (datetime(2028, 2, 29, 16, 0, tzinfo=UTC), "202803"),
        # Already in China time, or in another zone: the instant decides, not the wall clock.
        (datetime(2026, 3, 1, 0, 30, tzinfo=CST), "202603"),
        (datetime(2026, 3, 1, 0, 30, tzinfo=CHINA), "202603"),
        (datetime(2026, 2, 28, 12, 0, tzinfo=timezone(timedelta(hours=-5))), "202603"),
    ],
)
def test_the_month_is_the_receipt_month_in_china(moment: datetime, month: str) -> None:
    assert ledger_month(moment) == month
    assert counter_key("hz-001", moment) == f"HZ-001:{month}"
    assert case_number("hz-001", moment, 1) == f"HZ-001-{month}-00001"


@settings(max_examples=40, deadline=None)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 30)))
def test_the_month_always_agrees_with_the_shanghai_calendar(naive_utc: datetime) -> None:
    moment = naive_utc.replace(tzinfo=UTC)
    local = moment.astimezone(CHINA)
    assert ledger_month(moment) == f"{local.year:04d}{local.month:02d}"
    # The same instant written in another offset gives the same month.
    assert ledger_month(moment.astimezone(timezone(timedelta(hours=-11)))) == ledger_month(moment)


@pytest.mark.parametrize("function", [ledger_month, lambda at: counter_key("h", at)])
def test_naive_times_are_refused_rather_than_guessed(function: Callable[[datetime], str]) -> None:
    with pytest.raises(ValueError, match="timezone"):
        function(datetime(2026, 1, 31, 17, 0))


# --- case numbers -------------------------------------------------------------------------

AT = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sequence", "suffix"),
    [(1, "00001"), (7, "00007"), (42, "00042"), (99_999, "99999"), (100_000, "100000")],
)
def test_the_sequence_is_zero_padded_to_five_digits(sequence: int, suffix: str) -> None:
    number = case_number("hz-001", AT, sequence)
    assert number == f"HZ-001-202611-{suffix}"
    match = CASE_NUMBER.fullmatch(number)
    assert match and int(match["sequence"]) == sequence


@pytest.mark.parametrize("sequence", [0, -1, -99_999])
def test_the_sequence_starts_at_one(sequence: int) -> None:
    with pytest.raises(ValueError, match="sequence"):
        case_number("hz-001", AT, sequence)


def test_the_hospital_is_upper_cased_in_the_number_and_the_counter() -> None:
    assert case_number("hz-001", AT, 3).startswith("HZ-001-")
    assert counter_key("hz-001", AT) == "HZ-001:202611"


@pytest.mark.parametrize("other", ["HZ-001", "Hz-001", "hZ-001"])
def test_two_counters_never_print_the_same_case_number(other: str) -> None:
    # Whatever the fix (fold the counter key, or stop folding the number), the invariant
    # is: separate counters must give separate numbers.
    same_counter = counter_key("hz-001", AT) == counter_key(other, AT)
    same_number = case_number("hz-001", AT, 1) == case_number(other, AT, 1)
    assert same_counter == same_number


def test_numbers_restart_per_hospital_and_per_month() -> None:
    feb = datetime(2026, 2, 10, tzinfo=UTC)
    mar = datetime(2026, 3, 10, tzinfo=UTC)
    keys = {
        counter_key("hz-001", feb),
        counter_key("hz-001", mar),
        counter_key("hz-002", feb),
        counter_key("hz-002", mar),
    }
    assert len(keys) == 4
    assert counter_key("hz-001", feb) == counter_key("hz-001", feb + timedelta(days=10))


@settings(max_examples=40, deadline=None)
@given(
    hospital=st.builds(
        "{}-{:03d}".format,
        st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=2),
        st.integers(0, 999),
    ),
    naive_utc=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 30)),
    sequence=st.integers(min_value=1, max_value=10**7),
)
def test_a_case_number_reads_back_as_hospital_month_and_sequence(
    hospital: str, naive_utc: datetime, sequence: int
) -> None:
    moment = naive_utc.replace(tzinfo=UTC)
    match = CASE_NUMBER.fullmatch(case_number(hospital, moment, sequence))
    assert match is not None
    assert match["hospital"] == hospital.upper()
    assert match["month"] == ledger_month(moment)
    assert int(match["sequence"]) == sequence
    assert counter_key(hospital, moment).endswith(":" + match["month"])


# --- tracking codes -----------------------------------------------------------------------


def test_the_alphabet_has_no_look_alike_characters() -> None:
    assert len(TRACKING_ALPHABET) == len(set(TRACKING_ALPHABET)) == 32
    assert not set("0O1I") & set(TRACKING_ALPHABET)
    assert set(TRACKING_ALPHABET) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def test_tracking_codes_have_the_printed_format() -> None:
    for _ in range(1_000):
        code = tracking_code()
        assert TRACKING_CODE.fullmatch(code), code
        assert set(code.replace("-", "")) <= set(TRACKING_ALPHABET)


def test_tracking_codes_do_not_repeat_and_use_the_whole_alphabet() -> None:
    codes = [tracking_code() for _ in range(5_000)]
    assert len(set(codes)) == len(codes)
    counts = Counter("".join(codes).replace("-", ""))
    assert set(counts) == set(TRACKING_ALPHABET)
    # 60,000 draws over 32 symbols: 1,875 each, give or take 43; bias would stand out.
    assert min(counts.values()) > 1_600 and max(counts.values()) < 2_150


def test_tracking_codes_carry_sixty_bits() -> None:
    # 12 symbols from 32: 2**60 codes, so guessing a live case is hopeless.
    assert len(TRACKING_ALPHABET) ** 12 == 2**60


def test_tracking_codes_do_not_follow_the_seeded_random_module() -> None:
    # Codes must come from a CSPRNG: reseeding `random` must not reproduce them.
    random.seed(1234)
    first = [tracking_code() for _ in range(5)]
    random.seed(1234)
    second = [tracking_code() for _ in range(5)]
    assert first != second


def test_tracking_codes_draw_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[str] = []

    def choice(alphabet: str) -> str:
        drawn.append(alphabet)
        return alphabet[len(drawn) % len(alphabet)]

    monkeypatch.setattr(numbering.secrets, "choice", choice)
    code = tracking_code()
    assert drawn == [TRACKING_ALPHABET] * 12
    assert code == "3456-789A-BCDE"
