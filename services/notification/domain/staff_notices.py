"""What staff are told: the handler's assignment and new deadline, and the leaders' or
supervisors' 督办 notice. The case, never the complainant: these events carry no identity
beyond an optional complainant e-mail, which no staff notice ever reads."""

from __future__ import annotations

from services.notification.domain.messages import (
    Message,
    RecipientRole,
    deadline_waits,
    local_time,
)
from shared.contracts import (
    PRIORITY_LABELS,
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


def _assignment_notes(event: ComplaintAssigned) -> str:
    notes = f"优先级：{PRIORITY_LABELS[event.priority]}\n"
    if event.priority == Priority.URGENT:
        # 立即采取积极措施 (《首诉负责制》六, docs/rules.md#routing P5): the action deadline
        # comes before the reply deadline.
        if event.action_due_at:
            notes += f"紧急：须于{local_time(event.action_due_at)}前采取措施。\n"
        else:
            notes += "紧急：请立即采取积极措施。\n"
    if event.co_departments:
        notes += f"配合科室：{'、'.join(d.label for d in event.co_departments)}\n"
    if event.revision > 1:
        notes += f"改派/委托原因：{event.reason or '重新分派'}\n"
    return notes


def _reply_deadline(event: ComplaintAssigned) -> str:
    if event.due_at is not None:
        return local_time(event.due_at)
    # Routing could not count the working days yet; the case is the handler's all the same.
    year = event.deadline_pending_year
    return f"{deadline_waits(year)}（案件已分派，请即着手办理）" if year else "待定"


def assignment_for_handler(event: ComplaintAssigned) -> Message | None:
    if event.handler is None or event.handler.email is None:
        return None
    urgent = "【紧急】" if event.priority == Priority.URGENT else ""
    return Message(
        role=RecipientRole.HANDLER,
        to=str(event.handler.email),
        subject=f"【回音】{urgent}新投诉待处理 {event.case_number}",
        body=(
            f"{event.handler.name}：\n\n"
            f"您有一件新的投诉需要处理。\n"
            f"案件编号：{event.case_number}\n"
            f"类别：{event.category_label}\n"
            f"承办科室：{event.department_label}\n"
            f"登记时间：{local_time(event.received_at)}\n"
            f"答复期限：{_reply_deadline(event)}\n"
            f"{_assignment_notes(event)}\n"
            f"投诉内容请登录回音平台查阅。请在期限内调查核实并答复。"
            f"投诉人信息依规保密，请勿向被投诉人透露。\n"
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
            f"新的答复期限：{local_time(event.due_at)}\n"
            f"理由：{event.reason}\n"
        ),
    )


def deadline_set_for_handler(event: DeadlineSet) -> Message | None:
    """The deadline the assignment said was waiting for the calendar now has its date."""
    if event.handler is None or event.handler.email is None:
        return None
    return Message(
        role=RecipientRole.HANDLER,
        to=str(event.handler.email),
        subject=f"【回音】答复期限已确定 {event.case_number}",
        body=(
            f"{event.handler.name}：\n\n"
            f"案件 {event.case_number} 的法定节假日安排已载入，答复期限已确定。\n"
            f"答复期限：{local_time(event.due_at)}\n"
        ),
    )


def escalation_for(event: ComplaintEscalated, person: Person) -> Message | None:
    """督办: what a leader or supervisor must look at now, never who complained."""
    if person.email is None:
        return None
    case = event.case_number or "（无编号）"
    role = (
        RecipientRole.LEADERSHIP if event.level in LEADERSHIP_LEVELS else RecipientRole.SUPERVISOR
    )
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
