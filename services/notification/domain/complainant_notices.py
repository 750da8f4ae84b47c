"""What the complainant is told at each step, with the tracking code to follow the case.

Every notice needs the complainant's e-mail in the event: intake puts it there only when
the complainant may be contacted (never for anonymous complaints), so no address means no
notice. Staff appear at most as a department, never by name, id or address.
"""

from __future__ import annotations

from services.notification.domain.messages import (
    Message,
    deadline_waits,
    local_time,
    to_complainant,
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
    return f"查询码：{tracking_code}\n查询进度：{tracking_url}{tracking_code}"


def _when_we_answer(event: ComplaintAssigned) -> str:
    if event.due_at is not None:
        return f"我们将在{local_time(event.due_at)}前答复您。"
    year = event.deadline_pending_year
    waits = deadline_waits(year) if year else "办理时限待定"
    return f"您的投诉已交承办科室办理，{waits}，届时可凭查询码查询答复期限。"


def receipt_for_complainant(event: ComplaintAssigned, *, tracking_url: str) -> Message | None:
    return to_complainant(
        event,
        "您的投诉已受理登记",
        f"您的投诉已于{local_time(event.received_at)}登记，案件编号 {event.case_number}。",
        _when_we_answer(event),
        _tracking(event.tracking_code, tracking_url),
        "",
        "感谢您的监督。",
    )


def reply_for_complainant(event: ComplaintReplied) -> Message | None:
    what = "复核申请" if event.round else "投诉"
    return to_complainant(
        event,
        f"您的{what}已答复",
        f"关于您的{what}（案件编号 {event.case_number}），答复如下：",
        "",
        event.reply,
        "",
        f"如对处理结果有异议，可凭查询码 {event.tracking_code} 申请复核。",
    )


def supplement_request_for_complainant(
    event: SupplementRequested, *, tracking_url: str
) -> Message | None:
    """待补齐所需材料后受理 (某市人民医院《投诉处理制度》3, docs/rules.md#acceptance C2):
    the clock waits for the complainant."""
    return to_complainant(
        event,
        "请补充投诉材料",
        f"您的投诉（案件编号 {event.case_number}）需要补充以下材料或情况：",
        "",
        event.missing,
        "",
        "材料补齐后我们即予受理，处理期限自补齐之日起计算。",
        _tracking(event.tracking_code, tracking_url),
    )


def not_accepted_for_complainant(event: ComplaintNotAccepted) -> Message | None:
    """不予受理 is explained with the rule, and where to go instead when there is a place."""
    referral = [f"您可以向{event.refer_to}反映。"] if event.refer_to else []
    return to_complainant(
        event,
        "投诉不予受理告知",
        f"经审查，您的投诉（案件编号 {event.case_number}）不予受理。",
        f"依据：{event.reason_label}",
        f"说明：{event.explanation}",
        *referral,
        "",
        "如有疑问，请与医院投诉管理部门联系。",
    )


def transfer_for_complainant(event: ComplaintTransferred) -> Message | None:
    note = [f"说明：{event.note}"] if event.note else []
    return to_complainant(
        event,
        "您的投诉已转交有关部门",
        f"您的投诉（案件编号 {event.case_number}）不属于本院职责范围，已转交{event.to_body}处理。",
        *note,
        "",
        "感谢您的监督。",
    )


def deadline_set_for_complainant(event: DeadlineSet, *, tracking_url: str) -> Message | None:
    """The receipt said the deadline waited for the year's holiday arrangement: its date."""
    return to_complainant(
        event,
        "投诉答复期限告知",
        f"您的投诉（案件编号 {event.case_number}）答复期限已确定：",
        f"我们将在{local_time(event.due_at)}前答复您。",
        "",
        _tracking(event.tracking_code, tracking_url),
    )


def extension_for_complainant(event: ComplaintExtended, *, tracking_url: str) -> Message | None:
    """延期须告知理由: the new date and why, never who asked for it."""
    return to_complainant(
        event,
        "投诉处理期限延期告知",
        f"您的投诉（案件编号 {event.case_number}）经院领导批准延期办理。",
        f"延期理由：{event.reason}",
        f"新的答复期限：{local_time(event.due_at)}",
        "",
        _tracking(event.tracking_code, tracking_url),
    )
