"""What each person is told, in Chinese. Pure: templates in, text out.

The handler's message carries the case, never the complainant's identity; the
complainant's messages carry the tracking code and the reply, never staff data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.contracts import ComplaintAssigned, ComplaintReplied

CHINA = ZoneInfo("Asia/Shanghai")


class RecipientRole(StrEnum):
    HANDLER = "handler"
    COMPLAINANT = "complainant"


@dataclass(frozen=True)
class Message:
    role: RecipientRole
    to: str
    subject: str
    body: str


def _local(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y年%m月%d日 %H:%M")


def assignment_for_handler(event: ComplaintAssigned) -> Message | None:
    if event.handler is None or event.handler.email is None:
        return None
    return Message(
        role=RecipientRole.HANDLER,
        to=str(event.handler.email),
        subject=f"【回音】新投诉待处理 {event.case_number}",
        body=(
            f"{event.handler.name}：\n\n"
            f"您有一件新的投诉需要处理。\n"
            f"案件编号：{event.case_number}\n"
            f"类别：{event.category_label}\n"
            f"承办科室：{event.department_label}\n"
            f"登记时间：{_local(event.received_at)}\n"
            f"答复期限：{_local(event.due_at)}\n"
            f"摘要：{event.summary}\n\n"
            f"请在期限内调查核实并答复。投诉人信息依规保密，请勿向被投诉人透露。\n"
        ),
    )


def receipt_for_complainant(event: ComplaintAssigned, *, tracking_url: str) -> Message | None:
    if event.complainant_email is None:
        return None
    return Message(
        role=RecipientRole.COMPLAINANT,
        to=str(event.complainant_email),
        subject=f"【回音】您的投诉已受理登记 {event.case_number}",
        body=(
            "您好：\n\n"
            f"您的投诉已于{_local(event.received_at)}登记，案件编号 {event.case_number}。\n"
            f"我们将在{_local(event.due_at)}前答复您。\n"
            f"查询码：{event.tracking_code}\n"
            f"查询进度：{tracking_url}{event.tracking_code}\n\n"
            "感谢您的监督。\n"
        ),
    )


def reply_for_complainant(event: ComplaintReplied) -> Message | None:
    if event.complainant_email is None:
        return None
    return Message(
        role=RecipientRole.COMPLAINANT,
        to=str(event.complainant_email),
        subject=f"【回音】您的投诉已答复 {event.case_number}",
        body=(
            "您好：\n\n"
            f"关于您的投诉（案件编号 {event.case_number}），答复如下：\n\n"
            f"{event.reply}\n\n"
            f"如对处理结果有异议，可凭查询码 {event.tracking_code} 申请复核。\n"
        ),
    )


def mask_address(address: str) -> str:
    """Delivery logs keep enough to audit, not enough to identify: z***@example.org."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
