"""What staff are told: the handler's assignment and new deadline, and the leaders' or
supervisors' 督办 notice. The case, never the complainant: these events carry no identity
beyond an optional complainant e-mail, which no staff notice ever reads."""

from __future__ import annotations

from services.notification.domain.messages import (
    Message,
    RecipientRole,
    deadline_waits,
    local_time,
    notice,
    to_handler,
)
from shared.contracts import (
    ComplaintAssigned,
    ComplaintEscalated,
    ComplaintExtended,
    DeadlineSet,
    Person,
    Priority,
)

ESCALATION_LEVELS = {
    "handler": "承办人",
    "department_head": "科室负责人",
    "complaint_office": "投诉管理部门",
    "leadership": "院领导",
    "bureau": "卫健委督办",
}

# Who reads an escalation: the hospital's leaders at "leadership", otherwise those who
# supervise the handler (department head, office, bureau).
LEADERSHIP_LEVELS = frozenset({"leadership"})


def _assignment_notes(event: ComplaintAssigned) -> list[str]:
    notes = [f"优先级：{Priority(event.priority).label}"]
    if event.priority == Priority.URGENT:
        # 立即采取积极措施 (《首诉负责制》六, docs/rules.md#routing P5): the action deadline
        # comes before the reply deadline.
        if event.action_due_at:
            notes.append(f"紧急：须于{local_time(event.action_due_at)}前采取措施。")
        else:
            notes.append("紧急：请立即采取积极措施。")
    if event.co_departments:
        notes.append(f"配合科室：{'、'.join(d.label for d in event.co_departments)}")
    if event.revision > 1:
        notes.append(f"改派/委托原因：{event.reason or '重新分派'}")
    return notes


def _reply_deadline(event: ComplaintAssigned) -> str:
    if event.due_at is not None:
        return local_time(event.due_at)
    # Routing could not count the working days yet; the case is the handler's all the same.
    year = event.deadline_pending_year
    return f"{deadline_waits(year)}（案件已分派，请即着手办理）" if year else "待定"


def assignment_for_handler(event: ComplaintAssigned) -> Message | None:
    urgent = "【紧急】" if event.priority == Priority.URGENT else ""
    return to_handler(
        event,
        f"{urgent}新投诉待处理",
        "您有一件新的投诉需要处理。",
        f"案件编号：{event.case_number}",
        f"类别：{event.category_label}",
        f"承办科室：{event.department_label}",
        f"登记时间：{local_time(event.received_at)}",
        f"答复期限：{_reply_deadline(event)}",
        *_assignment_notes(event),
        "",
        "投诉内容请登录回音平台查阅。请在期限内调查核实并答复。"
        "投诉人信息依规保密，请勿向被投诉人透露。",
    )


def extension_for_handler(event: ComplaintExtended) -> Message | None:
    return to_handler(
        event,
        "延期已批准",
        f"案件 {event.case_number} 的延期申请已获批准。",
        f"新的答复期限：{local_time(event.due_at)}",
        f"理由：{event.reason}",
    )


def deadline_set_for_handler(event: DeadlineSet) -> Message | None:
    """The deadline the assignment said was waiting for the calendar now has its date."""
    return to_handler(
        event,
        "答复期限已确定",
        f"案件 {event.case_number} 的法定节假日安排已载入，答复期限已确定。",
        f"答复期限：{local_time(event.due_at)}",
    )


def escalation_for(event: ComplaintEscalated, person: Person) -> Message | None:
    """督办: what a leader or supervisor must look at now, never who complained."""
    case = event.case_number or "（无编号）"
    leaders = event.level in LEADERSHIP_LEVELS
    return notice(
        RecipientRole.LEADERSHIP if leaders else RecipientRole.SUPERVISOR,
        person.email,
        subject="督办提醒",
        case=case,
        greeting=person.name,
        lines=[
            f"案件 {case} 需要您关注并督办。",
            f"原因：{event.reason}",
            f"级别：{ESCALATION_LEVELS.get(event.level, event.level)}",
            "",
            "请登录投诉管理平台查看办理情况。",
        ],
        recipient_key=person.staff_id,
    )
