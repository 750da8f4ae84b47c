"""A message to one person, and what every notice shares. Pure: no I/O.

Notices are written per audience (staff_notices, complainant_notices) because what each
audience may learn differs: staff never learn who complained, complainants never learn
more about staff than the department (docs/rules.md#confidentiality Q3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.contracts import CHINA


class RecipientRole(StrEnum):
    HANDLER = "handler"
    COMPLAINANT = "complainant"
    LEADERSHIP = "leadership"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Message:
    role: RecipientRole
    to: str
    subject: str
    body: str
    recipient_key: str = ""  # tells apart several recipients of one role (e.g. leaders)


def local_time(moment: datetime) -> str:
    """People read deadlines in China time, whatever zone the event carried."""
    return moment.astimezone(CHINA).strftime("%Y年%m月%d日 %H:%M")


def deadline_waits(year: int) -> str:
    """What people read while a deadline waits for a year's official holiday arrangement
    (routing never guesses working days)."""
    return f"办理时限待{year}年法定节假日安排载入后确定"


def mask_address(address: str) -> str:
    """Delivery logs keep enough to audit, not enough to identify: z***@example.org."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
