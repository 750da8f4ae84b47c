"""What the complainant is told at each step, with the tracking code to follow the case.

Every notice needs the complainant's e-mail in the event: intake puts it there only when
the complainant may be contacted (never for anonymous complaints), so no address means no
notice. Staff appear at most as a department, never by name, id or address.
"""

from __future__ import annotations

from services.notification.domain.messages import (
    Message,
    RecipientRole,
    deadline_waits,
    local_time,
)
from shared.contracts import (
    ComplaintAssigned,
    ComplaintExtended,
    ComplaintNotAccepted,
    ComplaintReplied,
    ComplaintTransferred,
    DeadlineSet,
    SupplementRequested,
)


def _tracking(tracking_code: str, tracking_url: str) -> str:
    return f"查询码：{tracking_code}\n查询进度：{tracking_url}{tracking_code}\n"


def _when_we_answer(event: ComplaintAssigned) -> str:
    if event.due_at is not None:
        return f"我们将在{local_time(event.due_at)}前答复您。"
    year = event.deadline_pending_year
    waits = deadline_waits(year) if year else "办理时限待定"
    return f"您的投诉已交承办科室办理，{waits}，届时可凭查询码查询答复期限。"


def receipt_for_complainant(event: ComplaintAssigned, *, tracking_url: str) -> Message | None:
    if event.complainant_email is None:
        return None
    return Message(
        role=RecipientRole.COMPLAINANT,
        to=str(event.complainant_email),
        subject=f"【回音】您的投诉已受理登记 {event.case_number}",
        body=(
            "您好：\n\n"
            f"您的投诉已于{local_time(event.received_at)}登记，案件编号 {event.case_number}。\n"
            f"{_when_we_answer(event)}\n"
            f"{_tracking(event.tracking_code, tracking_url)}\n"
            "感谢您的监督。\n"
        ),
    )


def reply_for_complainant(event: ComplaintReplied) -> Message | None:
    if event.complainant_email is None:
        return None
    what = "复核申请" if event.round else "投诉"
    return Message(
        role=RecipientRole.COMPLAINANT,
        to=str(event.complainant_email),
        subject=f"【回音】您的{what}已答复 {event.case_number}",
        body=(
            "您好：\n\n"
            f"关于您的{what}（案件编号 {event.case_number}），答复如下：\n\n"
            f"{event.reply}\n\n"
            f"如对处理结果有异议，可凭查询码 {event.tracking_code} 申请复核。\n"
        ),
    )


def supplement_request_for_complainant(
    event: SupplementRequested, *, tracking_url: str
) -> Message | None:
    """待补齐所需材料后受理 (某市人民医院《投诉处理制度》3, docs/rules.md#acceptance C2):
    the clock waits for the complainant."""
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
    """不予受理 is explained with the rule, and where to go instead when there is a place."""
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


def deadline_set_for_complainant(event: DeadlineSet, *, tracking_url: str) -> Message | None:
    """The receipt said the deadline waited for the year's holiday arrangement: its date."""
    if event.complainant_email is None:
        return None
    return Message(
        role=RecipientRole.COMPLAINANT,
        to=str(event.complainant_email),
        subject=f"【回音】投诉答复期限告知 {event.case_number}",
        body=(
            "您好：\n\n"
            f"您的投诉（案件编号 {event.case_number}）答复期限已确定：\n"
            f"我们将在{local_time(event.due_at)}前答复您。\n\n"
            f"{_tracking(event.tracking_code, tracking_url)}"
        ),
    )


def extension_for_complainant(event: ComplaintExtended, *, tracking_url: str) -> Message | None:
    """延期须告知理由: the new date and why, never who asked for it."""
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
            f"新的答复期限：{local_time(event.due_at)}\n\n"
            f"{_tracking(event.tracking_code, tracking_url)}"
        ),
    )
