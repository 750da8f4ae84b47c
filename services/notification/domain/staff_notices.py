"""What staff are told: the handler's assignment, new deadline and the supervisor's orders,
and each step of the escalation ladder to the people routing chose for it. The case, never
the complainant: the facts given to a staff template hold nothing the complainant wrote and
nothing that identifies them (docs/rules.md#confidentiality Q3, Q6), whatever a hospital's
override of the template says.

A staff member without an e-mail address is still told: another channel of the contact book
may reach them (the e-mail channel skips a notice with no address)."""

from __future__ import annotations

from services.notification.domain.messages import (
    Message,
    RecipientRole,
    deadline_waits,
    local_time,
)
from services.notification.domain.templates import NoticeContext, write
from shared.contracts import (
    ComplaintAssigned,
    ComplaintExtended,
    ComplaintOverdue,
    DeadlineSet,
    EscalationAcknowledged,
    LadderLevel,
    LadderStep,
    Person,
    Priority,
)

HANDLER, HEAD = RecipientRole.HANDLER, RecipientRole.DEPARTMENT_HEAD
OFFICE, LEADERS = RecipientRole.COMPLAINT_OFFICE, RecipientRole.LEADERSHIP
SUPERVISOR = RecipientRole.SUPERVISOR

LEVEL_LABELS = {level.value: level.label for level in LadderLevel}

# Whom each ladder level addresses (routing chose the people: docs/rules.md#escalation). A
# department head among those told that a deadline passed reads the department head's text.
LEVEL_AUDIENCE: dict[str, RecipientRole] = {
    LadderLevel.WARNING: HANDLER,
    LadderLevel.ACCEPTANCE_DUE: OFFICE,  # accepting a case is the complaint office's work
    LadderLevel.ACTION_DUE: HANDLER,
    LadderLevel.REPLY_DUE: HANDLER,
    LadderLevel.COMPLAINT_OFFICE: OFFICE,
    LadderLevel.LEADERSHIP: LEADERS,
    LadderLevel.BUREAU: SUPERVISOR,
}
# The audiences each ladder event has a template for, the first one for a level it does not
# expect (a newer router's level reaches someone rather than nobody).
EVENT_AUDIENCES: dict[str, tuple[RecipientRole, ...]] = {
    "complaint.sla_warning": (HANDLER,),
    "complaint.overdue": (HANDLER, HEAD, OFFICE),
    "complaint.escalated": (SUPERVISOR, OFFICE, LEADERS),
}


def _staff(
    context: NoticeContext,
    event_type: str,
    role: RecipientRole,
    person: Person,
    facts: dict[str, str],
    *,
    several: bool = False,
    level: str | None = None,
) -> Message:
    return write(
        context,
        (event_type, role),
        facts,
        to=str(person.email) if person.email else None,
        greeting=person.name,
        staff_id=person.staff_id,
        recipient_key=person.staff_id if several else "",
        level=level,
    )


def _reply_deadline(event: ComplaintAssigned) -> str:
    if event.due_at is not None:
        return local_time(event.due_at)
    # Routing could not count the working days yet; the case is the handler's all the same.
    year = event.deadline_pending_year
    return f"{deadline_waits(year)}（案件已分派，请即着手办理）" if year else "待定"


def _urgent_note(event: ComplaintAssigned) -> str:
    if event.priority != Priority.URGENT:
        return ""
    # 立即采取积极措施 (《首诉负责制》六, docs/rules.md#routing P5): the action deadline
    # comes before the reply deadline.
    if event.action_due_at:
        return f"紧急：须于{local_time(event.action_due_at)}前采取措施。"
    return "紧急：请立即采取积极措施。"


def assignment_for_handler(
    event: ComplaintAssigned, context: NoticeContext | None = None
) -> Message | None:
    if event.handler is None:
        return None
    context = context or NoticeContext()
    revised = event.revision > 1
    facts = {
        "case_number": event.case_number,
        "category": event.category_label,
        "department": event.department_label,
        "received_at": local_time(event.received_at),
        "due_at": _reply_deadline(event),
        "priority": Priority(event.priority).label,
        "urgent": "【紧急】" if event.priority == Priority.URGENT else "",
        "urgent_note": _urgent_note(event),
        "co_departments": "、".join(d.label for d in event.co_departments),
        "revision_reason": (event.reason or "重新分派") if revised else "",
        "link": context.case_link,
    }
    return _staff(context, event.event_type, HANDLER, event.handler, facts)


def extension_for_handler(
    event: ComplaintExtended, context: NoticeContext | None = None
) -> Message | None:
    if event.handler is None:
        return None
    context = context or NoticeContext()
    facts = {
        "case_number": event.case_number,
        "due_at": local_time(event.due_at),
        "reason": event.reason,
        "link": context.case_link,
    }
    return _staff(context, event.event_type, HANDLER, event.handler, facts)


def deadline_set_for_handler(
    event: DeadlineSet, context: NoticeContext | None = None
) -> Message | None:
    """The deadline the assignment said was waiting for the calendar now has its date."""
    if event.handler is None:
        return None
    context = context or NoticeContext()
    facts = {
        "case_number": event.case_number,
        "due_at": local_time(event.due_at),
        "link": context.case_link,
    }
    return _staff(context, event.event_type, HANDLER, event.handler, facts)


def acknowledgement_for_handler(
    event: EscalationAcknowledged, context: NoticeContext | None = None
) -> Message | None:
    """督办意见: what the supervisor ordered reaches the handler who must act on it. The note
    is the supervisor's own words, never the complainant's."""
    if event.handler is None:
        return None
    context = context or NoticeContext()
    facts = {
        "case_number": event.case_number,
        "level": LEVEL_LABELS.get(event.level, event.level),
        "note": event.note,
        "link": context.case_link,
    }
    return _staff(context, event.event_type, HANDLER, event.handler, facts, level=event.level)


def audience_of(step: LadderStep, person: Person, context: NoticeContext) -> RecipientRole:
    """Which text a person told of `step` reads: the level's audience, except that a head of
    the case's department told that a deadline passed reads the department head's."""
    audiences = EVENT_AUDIENCES[step.event_type]
    role = LEVEL_AUDIENCE.get(step.level, audiences[0])
    if role is HANDLER and isinstance(step, ComplaintOverdue) and context.directory is not None:
        department, roles = context.directory.roles_of(person.staff_id)
        if "department_head" in roles and step.department and department == step.department:
            role = HEAD
    return role if role in audiences else audiences[0]


def step_facts(step: LadderStep, context: NoticeContext) -> dict[str, str]:
    """The facts of a ladder step every audience's template may use."""
    days = step.overdue_working_days
    return {
        "case_number": step.case_number or "（无编号）",
        "department": step.department_label or step.department or "",
        "due_at": local_time(step.due_at) if step.due_at else "",
        "level": LEVEL_LABELS.get(step.level, step.level),
        "reason": step.reason,
        "overdue_days": str(days) if days else "",
        "urgent": "【紧急】" if step.urgent else "",
        "link": context.case_link,
    }


def ladder_notices(step: LadderStep, context: NoticeContext | None = None) -> list[Message]:
    """One notice per person routing chose for this step (sla_warning, overdue, escalated)."""
    context = context or NoticeContext()
    facts = step_facts(step, context)
    people = {person.staff_id: person for person in step.recipients}
    return [
        _staff(
            context,
            step.event_type,
            audience_of(step, person, context),
            person,
            facts,
            several=True,
            level=step.level,
        )
        for person in people.values()
    ]
