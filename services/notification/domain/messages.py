"""What each person is told, in Chinese. Pure: templates in, text out.

The handler's message carries the case, never the complainant's identity; the
complainant's messages carry the tracking code and the reply, never staff data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.contracts import (
    ComplaintAssigned,
    ComplaintEscalated,
    ComplaintExtended,
    ComplaintNotAccepted,
    ComplaintReplied,
    ComplaintTransferred,
    Person,
    SupplementRequested,
)

CHINA = ZoneInfo("Asia/Shanghai")


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


def _local(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y年%m月%d日 %H:%M")


def assignment_for_handler(event: ComplaintAssigned) -> Message | None:
    if event.handler is None or event.handler.email is None:
        return None
    urgent = event.priority == "urgent"
    extra = ""
    if urgent and event.action_due_at:
        extra += f"紧急：须于{_local(event.action_due_at)}前采取措施。\n"
    if event.co_departments:
        extra += f"配合科室：{'、'.join(d.label for d in event.co_departments)}\n"
    if event.revision > 1 and event.reason:
        extra += f"改派/委托原因：{event.reason}\n"
    return Message(
        role=RecipientRole.HANDLER,
        to=str(event.handler.email),
        subject=f"【回音】{'【紧急】' if urgent else ''}新投诉待处理 {event.case_number}",
        body=(
            f"{event.handler.name}：\n\n"
            f"您有一件新的投诉需要处理。\n"
            f"案件编号：{event.case_number}\n"
            f"类别：{event.category_label}\n"
            f"承办科室：{event.department_label}\n"
            f"登记时间：{_local(event.received_at)}\n"
            f"答复期限：{_local(event.due_at)}\n"
            f"摘要：{event.summary}\n"
            f"{extra}\n"
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


# --- lifecycle messages (issue 3) ---------------------------------------------------------


def _tracking(tracking_code: str, tracking_url: str) -> str:
    return f"查询码：{tracking_code}\n查询进度：{tracking_url}{tracking_code}\n"


def supplement_request_for_complainant(
    event: SupplementRequested, *, tracking_url: str
) -> Message | None:
    if event.complainant_email is None:
        return None
    return Message(
        role=RecipientRole.COMPLAINANT,
        to=str(event.complainant_email),
        subject=f"【回音】请补充投诉材料 {event.case_number}",
        body=(
            "您好：\n\n"
            f"您的投诉（案件编号 {event.case_number}）需要补充以下材料或情况：\n\n"
            f"{event.missing}\n\n"
            "材料补齐后我们即予受理，处理期限自补齐之日起计算。\n"
            f"{_tracking(event.tracking_code, tracking_url)}"
        ),
    )


def not_accepted_for_complainant(event: ComplaintNotAccepted) -> Message | None:
    if event.complainant_email is None:
        return None
    referral = f"您可以向{event.refer_to}反映。\n" if event.refer_to else ""
    return Message(
        role=RecipientRole.COMPLAINANT,
        to=str(event.complainant_email),
        subject=f"【回音】投诉不予受理告知 {event.case_number}",
        body=(
            "您好：\n\n"
            f"经审查，您的投诉（案件编号 {event.case_number}）不予受理。\n"
            f"依据：{event.reason_label}\n"
            f"说明：{event.explanation}\n"
            f"{referral}\n"
            "如有疑问，请与医院投诉管理部门联系。\n"
        ),
    )


def transfer_for_complainant(event: ComplaintTransferred) -> Message | None:
    if event.complainant_email is None:
        return None
    note = f"说明：{event.note}\n" if event.note else ""
    return Message(
        role=RecipientRole.COMPLAINANT,
        to=str(event.complainant_email),
        subject=f"【回音】您的投诉已转交有关部门 {event.case_number}",
        body=(
            "您好：\n\n"
            f"您的投诉（案件编号 {event.case_number}）不属于本院职责范围，"
            f"已转交{event.to_body}处理。\n{note}\n"
            "感谢您的监督。\n"
        ),
    )


def extension_for_complainant(event: ComplaintExtended, *, tracking_url: str) -> Message | None:
    if event.complainant_email is None:
        return None
    return Message(
        role=RecipientRole.COMPLAINANT,
        to=str(event.complainant_email),
        subject=f"【回音】投诉处理期限延期告知 {event.case_number}",
        body=(
            "您好：\n\n"
            f"您的投诉（案件编号 {event.case_number}）经院领导批准延期办理。\n"
            f"延期理由：{event.reason}\n"
            f"新的答复期限：{_local(event.due_at)}\n\n"
            f"{_tracking(event.tracking_code, tracking_url)}"
        ),
    )


def extension_for_handler(event: ComplaintExtended) -> Message | None:
    if event.handler is None or event.handler.email is None:
        return None
    return Message(
        role=RecipientRole.HANDLER,
        to=str(event.handler.email),
        subject=f"【回音】延期已批准 {event.case_number}",
        body=(
            f"{event.handler.name}：\n\n"
            f"案件 {event.case_number} 的延期申请已获批准。\n"
            f"新的答复期限：{_local(event.due_at)}\n"
            f"理由：{event.reason}\n"
        ),
    )


def escalation_for(event: ComplaintEscalated, person: Person) -> Message | None:
    """督办: what a leader or supervisor must look at now, never who complained."""
    if person.email is None:
        return None
    case = event.case_number or "（无编号）"
    role = RecipientRole.LEADERSHIP if event.level == "leadership" else RecipientRole.SUPERVISOR
    return Message(
        role=role,
        recipient_key=person.staff_id,
        to=str(person.email),
        subject=f"【回音】督办提醒 {case}",
        body=(
            f"{person.name}：\n\n"
            f"案件 {case} 需要您关注并督办。\n"
            f"原因：{event.reason}\n"
            f"级别：{ESCALATION_LEVELS.get(event.level, event.level)}\n\n"
            "请登录投诉管理平台查看办理情况。\n"
        ),
    )


ESCALATION_LEVELS = {
    "handler": "承办人",
    "department_head": "科室负责人",
    "complaint_office": "投诉管理部门",
    "leadership": "院领导",
    "bureau": "卫健委督办",
}
