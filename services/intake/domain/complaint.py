"""The complaint's vocabulary and lifecycle rules (pure: no I/O).

Codes are stable English strings used in the API and storage; labels are the Chinese
words the hospitals' staff see.
"""

from __future__ import annotations

from enum import StrEnum

from shared.contracts import LabelledEnum


class Channel(LabelledEnum):
    IN_PERSON = "in_person", "面谈/来访"
    PHONE = "phone", "电话"
    LETTER = "letter", "来信"
    ANONYMOUS_LETTER = "anonymous_letter", "匿名信"
    SUGGESTION_BOX = "suggestion_box", "意见箱"
    EMAIL = "email", "电子邮件"
    WEB = "web", "网站/院长信箱"
    SMS_WECHAT = "sms_wechat", "短信/微信"
    TRANSFERRED = "transferred", "上级转办/12345"
    SATISFACTION_CARD = "satisfaction_card", "满意度调查卡"


class Kind(StrEnum):  # 投诉, 举报, 建议, 咨询 (docs/rules.md#registration G2)
    COMPLAINT = "complaint"
    REPORT = "report"
    SUGGESTION = "suggestion"
    CONSULTATION = "consultation"


class PatientRelation(StrEnum):
    SELF = "self"
    FAMILY = "family"
    GUARDIAN = "guardian"
    FRIEND = "friend"
    OTHER = "other"


class ComplaintStatus(LabelledEnum):
    RECEIVED = "received", "已登记"
    NEEDS_SUPPLEMENT = "needs_supplement", "待补充材料"
    ACCEPTED = "accepted", "已受理"
    NOT_ACCEPTED = "not_accepted", "不予受理"
    RESOLVED_ON_SPOT = "resolved_on_spot", "当场解决"
    TRANSFERRED = "transferred", "已转办"
    ASSIGNED = "assigned", "已分派"
    IN_PROGRESS = "in_progress", "调查处理中"
    REPLIED = "replied", "已答复"
    CLOSED = "closed", "已办结"
    REOPENED = "reopened", "复核中"


class Action(StrEnum):
    ACCEPT = "accept"
    REQUEST_SUPPLEMENT = "request_supplement"
    SUPPLEMENT = "supplement"
    NOT_ACCEPT = "not_accept"
    TRANSFER = "transfer"
    RESOLVE_ON_SPOT = "resolve_on_spot"
    HAND_OVER = "hand_over"
    ASSIGN = "assign"  # routing's decision; no person takes this action
    REROUTE = "reroute"
    RECORD_NOTE = "record_note"
    RECORD_FINDING = "record_finding"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    REPLY = "reply"
    CLOSE = "close"
    DISPUTE = "dispute"


S, A = ComplaintStatus, Action

# The whole lifecycle in one table: which actions each status allows, and where they lead.
# Acceptance review (受理审查) comes first: accept, ask for a supplement (the clock waits),
# refuse with a regulation's reason, transfer out of the hospital's remit, or settle on the
# spot. Routing's decision (ASSIGN) may arrive before acceptance; it is recorded and takes
# effect when the office accepts. Handling: notes and a finding, extension, reply. After
# the reply: closure with a return visit, or a dispute that reopens the case for re-review
# (重新核实), which works like handling and ends in a new reply.
_HANDLING = {
    A.ASSIGN: S.ASSIGNED,
    A.REROUTE: None,  # stays where it is; the new department's ASSIGN follows
    A.RECORD_NOTE: S.IN_PROGRESS,
    A.RECORD_FINDING: S.IN_PROGRESS,
    A.REQUEST_EXTENSION: None,
    A.DECIDE_EXTENSION: None,
    A.REPLY: S.REPLIED,
}
_REVIEW = {**_HANDLING, A.ASSIGN: S.REOPENED, A.RECORD_NOTE: None, A.RECORD_FINDING: None}


def _table() -> dict[ComplaintStatus, dict[Action, ComplaintStatus]]:
    rows: dict[ComplaintStatus, dict[Action, ComplaintStatus | None]] = {
        S.RECEIVED: {
            A.ACCEPT: S.ACCEPTED,
            A.REQUEST_SUPPLEMENT: S.NEEDS_SUPPLEMENT,
            A.NOT_ACCEPT: S.NOT_ACCEPTED,
            A.TRANSFER: S.TRANSFERRED,
            A.RESOLVE_ON_SPOT: S.RESOLVED_ON_SPOT,
            A.HAND_OVER: None,
            A.ASSIGN: None,
            A.REROUTE: None,
        },
        S.NEEDS_SUPPLEMENT: {
            A.SUPPLEMENT: S.ACCEPTED,
            A.NOT_ACCEPT: S.NOT_ACCEPTED,
            A.TRANSFER: S.TRANSFERRED,
            A.HAND_OVER: None,
            A.ASSIGN: None,
            A.REROUTE: None,
        },
        S.ACCEPTED: {A.ASSIGN: S.ASSIGNED, A.REROUTE: None, A.TRANSFER: S.TRANSFERRED},
        S.ASSIGNED: dict(_HANDLING),
        S.IN_PROGRESS: dict(_HANDLING),
        S.REPLIED: {A.CLOSE: S.CLOSED, A.DISPUTE: S.REOPENED},
        S.CLOSED: {A.DISPUTE: S.REOPENED},
        S.REOPENED: dict(_REVIEW),
        # The case has left the hospital's process for good (不予受理, 当场解决, 转办).
        S.NOT_ACCEPTED: {},
        S.RESOLVED_ON_SPOT: {},
        S.TRANSFERRED: {},
    }
    return {
        status: {action: target or status for action, target in row.items()}
        for status, row in rows.items()
    }


TRANSITIONS: dict[ComplaintStatus, dict[Action, ComplaintStatus]] = _table()


class IllegalTransition(Exception):
    def __init__(self, status: ComplaintStatus, action: Action) -> None:
        self.status = status
        self.action = action
        self.allowed = allowed_actions(status)
        allowed = ", ".join(self.allowed) or "none"
        super().__init__(
            f"cannot {action} a complaint that is {status} ({status.label}); allowed now: {allowed}"
        )


def allowed_actions(status: ComplaintStatus) -> list[Action]:
    """What people may do now (routing's ASSIGN is not theirs to take)."""
    return sorted(a for a in TRANSITIONS[status] if a is not Action.ASSIGN)


def next_status(status: ComplaintStatus, action: Action) -> ComplaintStatus:
    try:
        return TRANSITIONS[status][action]
    except KeyError:
        raise IllegalTransition(status, action) from None


def is_contactable(*, anonymous: bool, email: str | None, phone: str | None) -> bool:
    """An anonymous complainant is never contacted; others only through what they gave."""
    return not anonymous and bool(email or phone)
