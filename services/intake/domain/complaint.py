"""The complaint's vocabulary and lifecycle rules (pure: no I/O).

Codes are stable English strings used in the API and storage; labels are the Chinese
words the hospitals' staff see.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    LETTER = "letter"
    ANONYMOUS_LETTER = "anonymous_letter"
    SUGGESTION_BOX = "suggestion_box"
    EMAIL = "email"
    WEB = "web"
    SMS_WECHAT = "sms_wechat"
    TRANSFERRED = "transferred"
    SATISFACTION_CARD = "satisfaction_card"


CHANNEL_LABELS: dict[Channel, str] = {
    Channel.IN_PERSON: "面谈/来访",
    Channel.PHONE: "电话",
    Channel.LETTER: "来信",
    Channel.ANONYMOUS_LETTER: "匿名信",
    Channel.SUGGESTION_BOX: "意见箱",
    Channel.EMAIL: "电子邮件",
    Channel.WEB: "网站/院长信箱",
    Channel.SMS_WECHAT: "短信/微信",
    Channel.TRANSFERRED: "上级转办/12345",
    Channel.SATISFACTION_CARD: "满意度调查卡",
}


class Kind(StrEnum):
    COMPLAINT = "complaint"
    REPORT = "report"
    SUGGESTION = "suggestion"
    CONSULTATION = "consultation"


KIND_LABELS: dict[Kind, str] = {
    Kind.COMPLAINT: "投诉",
    Kind.REPORT: "举报",
    Kind.SUGGESTION: "建议",
    Kind.CONSULTATION: "咨询",
}


class PatientRelation(StrEnum):
    SELF = "self"
    FAMILY = "family"
    GUARDIAN = "guardian"
    FRIEND = "friend"
    OTHER = "other"


RELATION_LABELS: dict[PatientRelation, str] = {
    PatientRelation.SELF: "本人",
    PatientRelation.FAMILY: "家属",
    PatientRelation.GUARDIAN: "监护人",
    PatientRelation.FRIEND: "朋友",
    PatientRelation.OTHER: "其他",
}


class ComplaintStatus(StrEnum):
    RECEIVED = "received"
    NEEDS_SUPPLEMENT = "needs_supplement"
    ACCEPTED = "accepted"
    NOT_ACCEPTED = "not_accepted"
    RESOLVED_ON_SPOT = "resolved_on_spot"
    TRANSFERRED = "transferred"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    REPLIED = "replied"
    CLOSED = "closed"
    REOPENED = "reopened"


STATUS_LABELS: dict[ComplaintStatus, str] = {
    ComplaintStatus.RECEIVED: "已登记",
    ComplaintStatus.NEEDS_SUPPLEMENT: "待补充材料",
    ComplaintStatus.ACCEPTED: "已受理",
    ComplaintStatus.NOT_ACCEPTED: "不予受理",
    ComplaintStatus.RESOLVED_ON_SPOT: "当场解决",
    ComplaintStatus.TRANSFERRED: "已转办",
    ComplaintStatus.ASSIGNED: "已分派",
    ComplaintStatus.IN_PROGRESS: "调查处理中",
    ComplaintStatus.REPLIED: "已答复",
    ComplaintStatus.CLOSED: "已办结",
    ComplaintStatus.REOPENED: "复核中",
}

# Where the case has left the hospital's process for good (不予受理, 当场解决, 转办).
TERMINAL: frozenset[ComplaintStatus] = frozenset(
    {ComplaintStatus.NOT_ACCEPTED, ComplaintStatus.RESOLVED_ON_SPOT, ComplaintStatus.TRANSFERRED}
)


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


ACTION_LABELS: dict[Action, str] = {
    Action.ACCEPT: "受理",
    Action.REQUEST_SUPPLEMENT: "通知补充材料",
    Action.SUPPLEMENT: "补齐材料",
    Action.NOT_ACCEPT: "不予受理",
    Action.TRANSFER: "转交有关部门",
    Action.RESOLVE_ON_SPOT: "当场协调解决",
    Action.HAND_OVER: "首诉移交",
    Action.ASSIGN: "分派承办",
    Action.REROUTE: "改派科室",
    Action.RECORD_NOTE: "记录调查情况",
    Action.RECORD_FINDING: "形成处理意见",
    Action.REQUEST_EXTENSION: "申请延期",
    Action.DECIDE_EXTENSION: "审批延期",
    Action.REPLY: "答复投诉人",
    Action.CLOSE: "回访办结",
    Action.DISPUTE: "申请复核",
}

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
            f"cannot {action} a complaint that is {status} ({STATUS_LABELS[status]}); "
            f"allowed now: {allowed}"
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
