"""Sample events of one realistic case, for every test that needs an event: a factory per
event type, named for the event it builds, with the fields its contract requires filled in
and any field changed by keyword (`assigned(priority="urgent", handler=None)`). A test
states only what it is about; the rest is this one case, written here once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared import contracts
from shared.contracts import DepartmentRef, Envelope, EventPayload, Person

HOSPITAL = "hz-001"
COMPLAINT_ID = "c-0001"
CASE_NUMBER = "HZ-001-202611-00001"
TRACKING_CODE = "ABCD-EFGH-JKLM"
RECEIVED_AT = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in China
DUE = datetime(2026, 11, 6, 15, 59, 59, tzinfo=UTC)  # that Friday, 23:59:59 in China
EXTENDED_DUE = DUE + timedelta(days=7)
OFFICE = "hz-001-complaint_office-1"
COMPLAINANT_EMAIL = "lina@patients.example.org"
HANDLER = Person(staff_id="hz-001-finance-1", name="钱会计", email="finance.1@hz1.example.org")
LEADER = Person(staff_id="hz-001-leadership-1", name="郑国华", email="vp@hz1.example.org")
CASE: dict[str, Any] = {"case_number": CASE_NUMBER, "tracking_code": TRACKING_CODE}
# Routing's decision on this case: who handles it (complaint.routed, complaint.assigned).
WORK: dict[str, Any] = {
    "category": "fees",
    "category_label": "收费物价",
    "department": "finance",
    "department_label": "财务科",
    "handler": HANDLER,
}

# The same decision for a complaint about nursing.
NURSING: dict[str, Any] = {
    "category": "nursing",
    "category_label": "护理",
    "department": "nursing",
    "department_label": "护理部",
}


def envelope(
    event: EventPayload, complaint_id: str = COMPLAINT_ID, *, at: datetime | None = None
) -> Envelope:
    """The event as its producer publishes it, for this hospital's complaint."""
    return event.envelope(hospital_id=HOSPITAL, complaint_id=complaint_id, occurred_at=at)


def _step(changes: dict[str, Any]) -> dict[str, Any]:
    """A lifecycle step intake records: which case, when, who (the complaint office)."""
    return CASE | {"at": RECEIVED_AT, "by": OFFICE} | changes


def received(**changes: Any) -> contracts.ComplaintReceived:
    fields = {
        "case_number": CASE_NUMBER,
        "channel": "web",
        "kind": "complaint",
        "anonymous": False,
        "received_at": RECEIVED_AT,
        "content": "出院结算时发现重复收费。",
    }
    return contracts.ComplaintReceived(**(fields | changes))


def routed(**changes: Any) -> contracts.ComplaintRouted:
    days = {"counting_day": RECEIVED_AT.date(), "working_days": 5, "due_at": DUE}
    return contracts.ComplaintRouted(**(WORK | days | changes))


def assigned(**changes: Any) -> contracts.ComplaintAssigned:
    when = {"received_at": RECEIVED_AT, "due_at": DUE}
    return contracts.ComplaintAssigned(**(WORK | CASE | when | changes))


def replied(**changes: Any) -> contracts.ComplaintReplied:
    answer = {
        "received_at": RECEIVED_AT,
        "replied_at": RECEIVED_AT + timedelta(days=2),
        "replied_by": HANDLER.staff_id,
        "reply": "经核实确有重复收费，已办理退费。",
        "response_seconds": 172800.0,
    }
    return contracts.ComplaintReplied(**(CASE | answer | changes))


def accepted(**changes: Any) -> contracts.ComplaintAccepted:
    return contracts.ComplaintAccepted(**_step(changes))


def supplement_requested(**changes: Any) -> contracts.SupplementRequested:
    return contracts.SupplementRequested(**_step({"missing": "收费票据复印件"} | changes))


def supplemented(**changes: Any) -> contracts.ComplaintSupplemented:
    return contracts.ComplaintSupplemented(**_step(changes))


def not_accepted(**changes: Any) -> contracts.ComplaintNotAccepted:
    refusal = {
        "reason": "outside_remit",
        "reason_label": "不属于本院职责范围",
        "explanation": "药品价格由医保部门核定。",
    }
    return contracts.ComplaintNotAccepted(**_step(refusal | changes))


def transferred(**changes: Any) -> contracts.ComplaintTransferred:
    return contracts.ComplaintTransferred(**_step({"to_body": "杭州市市场监督管理局"} | changes))


def resolved_on_spot(**changes: Any) -> contracts.ComplaintResolvedOnSpot:
    return contracts.ComplaintResolvedOnSpot(**_step({"outcome": "当场解释，投诉人满意"} | changes))


def reroute_requested(**changes: Any) -> contracts.RerouteRequested:
    move = {"department": "nursing", "reason": "属护理问题", "content": "输液时态度很差"}
    return contracts.RerouteRequested(**_step(move | changes))


def extension_approved(**changes: Any) -> contracts.ExtensionApproved:
    return contracts.ExtensionApproved(
        **_step({"working_days": 5, "reason": "需调取病历"} | changes)
    )


def deadline_changed(**changes: Any) -> contracts.DeadlineChanged:
    moved = {"due_at": EXTENDED_DUE, "working_days": 5, "reason": "需调取病历"}
    return contracts.DeadlineChanged(**(moved | changes))


def extended(**changes: Any) -> contracts.ComplaintExtended:
    return contracts.ComplaintExtended(
        **_step({"due_at": EXTENDED_DUE, "reason": "需调取病历"} | changes)
    )


def deadline_set(**changes: Any) -> contracts.DeadlineSet:
    return contracts.DeadlineSet(**_step({"due_at": DUE} | changes))


def closed(**changes: Any) -> contracts.ComplaintClosed:
    return contracts.ComplaintClosed(**_step({"satisfaction": "satisfied"} | changes))


def reopened(**changes: Any) -> contracts.ComplaintReopened:
    return contracts.ComplaintReopened(
        **_step({"reason": "对处理结果不满意", "reopen_count": 1} | changes)
    )


def escalated(**changes: Any) -> contracts.ComplaintEscalated:
    why = {"level": "leadership", "reason": "投诉第2次被申请复核", "recipients": [LEADER]}
    return contracts.ComplaintEscalated(**({"case_number": CASE_NUMBER} | why | changes))


def overdue(**changes: Any) -> contracts.ComplaintOverdue:
    step = {"level": "reply_due", "reason": "答复期限已到", "due_at": DUE, "department": "finance"}
    return contracts.ComplaintOverdue(**({"case_number": CASE_NUMBER} | step | changes))


def sla_warning(**changes: Any) -> contracts.ComplaintSlaWarning:
    step = {"level": "warning", "reason": "答复期限将至", "due_at": DUE, "department": "finance"}
    return contracts.ComplaintSlaWarning(**({"case_number": CASE_NUMBER} | step | changes))


def escalation_acknowledged(**changes: Any) -> contracts.EscalationAcknowledged:
    return contracts.EscalationAcknowledged(
        **_step({"level": "leadership", "note": "请医务科三日内书面说明"} | changes)
    )


# One delivery of a notice (notification.sent, notification.failed).
DELIVERY = {"delivery_id": "e-1:handler", "source_event_id": "e-1", "recipient_role": "handler"}


def notification_sent(**changes: Any) -> contracts.NotificationSent:
    return contracts.NotificationSent(**(DELIVERY | {"attempts": 1} | changes))


def notification_failed(**changes: Any) -> contracts.NotificationFailed:
    failure = {"attempts": 5, "error": "550 mailbox unavailable"}
    return contracts.NotificationFailed(**(DELIVERY | failure | changes))


def every_event() -> dict[str, EventPayload]:
    """One instance of every event type, every optional field filled and the complainant's
    address wherever the contract carries it."""
    to_complainant = {"complainant_email": COMPLAINANT_EMAIL}
    moment = RECEIVED_AT.replace(microsecond=123456)  # JSON keeps microseconds
    co_handling = [DepartmentRef(code="insurance_office", label="医保办")]
    events: list[EventPayload] = [
        received(
            received_at=moment,
            demand="退还多收费用",
            target_department="finance",
            target_staff_id="hz-001-finance-2",
            direct=True,
            group=True,
            case_type="simple",
        ),
        routed(
            revision=2,
            reason="改派：涉及退费，转财务科办理",
            co_departments=co_handling,
            recused=["hz-001-finance-2"],
            priority="high",
            case_type="multi_department",
            acceptance_due_at=DUE,
            action_due_at=RECEIVED_AT + timedelta(hours=24),
            matched_keywords=["收费", "重复"],
        ),
        assigned(
            **to_complainant,
            revision=2,
            reason="改派",
            priority="high",
            action_due_at=RECEIVED_AT + timedelta(hours=24),
            co_departments=co_handling,
        ),
        accepted(at=moment),
        supplement_requested(**to_complainant),
        supplemented(),
        not_accepted(**to_complainant, refer_to="杭州市医疗保障局"),
        transferred(**to_complainant, note="价格违法"),
        resolved_on_spot(),
        reroute_requested(target_staff_id="hz-001-nursing-2"),
        extension_approved(),
        deadline_changed(previous_due_at=DUE),
        extended(**to_complainant, handler=HANDLER),
        deadline_set(**to_complainant, handler=HANDLER),
        closed(finding="substantiated", category="fees", department="finance", round=1),
        reopened(reopen_count=2, flagged=True, department="finance"),
        escalated(
            round=1,
            due_at=DUE,
            overdue_working_days=5,
            department="finance",
            department_label="财务科",
            urgent=True,
        ),
        sla_warning(round=1, department_label="财务科", recipients=[HANDLER]),
        escalation_acknowledged(round=1, handler=HANDLER),
        replied(
            **to_complainant,
            replied_at=RECEIVED_AT + timedelta(days=2, seconds=0.5),
            response_seconds=172800.5,
            round=1,
        ),
        overdue(overdue_working_days=0, recipients=[HANDLER], department_label="财务科"),
        notification_sent(
            after_unknown_outcome=True, recipient_staff_id=HANDLER.staff_id, level="warning"
        ),
        notification_failed(reason_code="recipient_rejected", recipient="f***@hz1.example.org"),
    ]
    return {event.event_type: event for event in events}
