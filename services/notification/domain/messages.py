"""A notice to one person, and what every notice shares: how it reads (`notice`), how the
complainant and the handler are addressed, and dates as people read them. Pure: no I/O.

Notices are written per audience (staff_notices, complainant_notices) from the templates
(templates.py) because what each audience may learn differs: staff never learn who
complained, complainants never learn more about staff than the department
(docs/rules.md#confidentiality Q3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shared.contracts import CHINA, LabelledEnum


class RecipientRole(LabelledEnum):
    """Who a notice is for: its audience, which picks the template and, in the contact book,
    the channels."""

    HANDLER = "handler", "承办人"
    DEPARTMENT_HEAD = "department_head", "科室负责人"
    COMPLAINT_OFFICE = "complaint_office", "投诉管理部门"
    LEADERSHIP = "leadership", "院领导"
    SUPERVISOR = "supervisor", "卫健委督办人员"
    COMPLAINANT = "complainant", "投诉人"


@dataclass(frozen=True)
class SmsText:
    """What an SMS gateway is asked to send: its template code and the variables' values."""

    code: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class Message:
    """What one person is told of one event, in every form a channel needs: the e-mail
    (`subject`, `body`), the markdown a group robot posts (`short`), the SMS template and
    its values, and the facts a hospital's system receives. `to` is the e-mail address; a
    staff member without one may still be reached by another channel (the contact book)."""

    role: RecipientRole
    to: str | None
    subject: str
    body: str
    recipient_key: str = ""  # tells apart several recipients of one role (e.g. leaders)
    staff_id: str | None = None  # the person, for the contact book; None for the complainant
    short: str = ""
    sms: SmsText | None = None
    facts: Mapping[str, str] = field(default_factory=dict)
    event_type: str = ""
    level: str | None = None  # the ladder level (LadderLevel code) of a ladder step's notice


def greeted(greeting: str, lines: tuple[str, ...]) -> str:
    """A notice's body as every notice reads: "<greeting>：", a blank line, the lines."""
    return f"{greeting}：\n\n" + "".join(f"{line}\n" for line in lines)


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


def mask_phone(phone: str) -> str:
    """A phone number as logs may show it: 139****1111."""
    digits = phone.removeprefix("+").removeprefix("86") if len(phone) > 11 else phone
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 8 else "***"
