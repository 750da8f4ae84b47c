"""Case numbers and tracking codes.

The case number follows the ledger habit 年度+月份+流水号 (docs/rules.md#registration G6), per
hospital; the month is the receipt month in China time. The tracking code is what the
complainant keeps: random, unguessable, without look-alike characters.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from shared.contracts import CHINA

TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I


def ledger_month(received_at: datetime) -> str:
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return received_at.astimezone(CHINA).strftime("%Y%m")


def counter_key(hospital_id: str, received_at: datetime) -> str:
    return f"{hospital_id.upper()}:{ledger_month(received_at)}"  # as in the case number


def case_number(hospital_id: str, received_at: datetime, sequence: int) -> str:
    if sequence < 1:
        raise ValueError("sequence starts at 1")
    return f"{hospital_id.upper()}-{ledger_month(received_at)}-{sequence:05d}"


def tracking_code() -> str:
    raw = "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
