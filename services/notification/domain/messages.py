"""A message to one person, and what every notice shares: how it reads (`notice`), how the
complainant and the handler are addressed, and dates as people read them. Pure: no I/O.

Notices are written per audience (staff_notices, complainant_notices) because what each
audience may learn differs: staff never learn who complained, complainants never learn
more about staff than the department (docs/rules.md#confidentiality Q3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.contracts import CHINA, Person


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


class CaseEvent(Protocol):
    """An event about one case: what every notice's subject names."""

    @property
    def case_number(self) -> str: ...


def notice(
    role: RecipientRole,
    to: str | None,
    *,
    subject: str,
    case: str,
    greeting: str,
    lines: Iterable[str],
    recipient_key: str = "",
) -> Message | None:
    """A notice as every notice reads: "【回音】<subject> <case>", then "<greeting>：", a
    blank line and the lines. No address, no notice: a person without one is not told."""
    if to is None:
        return None
    return Message(
        role=role,
        to=str(to),
        subject=f"【回音】{subject} {case}",
        body=f"{greeting}：\n\n" + "".join(f"{line}\n" for line in lines),
        recipient_key=recipient_key,
    )


class ToComplainant(CaseEvent, Protocol):
    """An event that may carry the complainant's address."""

    @property
    def complainant_email(self) -> str | None: ...


def to_complainant(event: ToComplainant, subject: str, *lines: str) -> Message | None:
    """Intake gives the address only where the complainant may be contacted."""
    return notice(
        RecipientRole.COMPLAINANT,
        event.complainant_email,
        subject=subject,
        case=event.case_number,
        greeting="您好",
        lines=lines,
    )


class ToHandler(CaseEvent, Protocol):
    """An event that names the case's handler, if it has one."""

    @property
    def handler(self) -> Person | None: ...


def to_handler(event: ToHandler, subject: str, *lines: str) -> Message | None:
    """The handler by name; a case without one yet, or a handler without an address, has
    nobody to tell."""
    handler = event.handler
    if handler is None:
        return None
    return notice(
        RecipientRole.HANDLER,
        handler.email,
        subject=subject,
        case=event.case_number,
        greeting=handler.name,
        lines=lines,
    )


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
