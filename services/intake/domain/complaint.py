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
    ASSIGNED = "assigned"
    REPLIED = "replied"


STATUS_LABELS: dict[ComplaintStatus, str] = {
    ComplaintStatus.RECEIVED: "已登记",
    ComplaintStatus.ASSIGNED: "已分派",
    ComplaintStatus.REPLIED: "已答复",
}


class Action(StrEnum):
    ASSIGN = "assign"
    REPLY = "reply"


# Which actions each status allows, and where they lead. Later lifecycle states
# (supplement, acceptance, extension, closure, reopening) extend this one table.
TRANSITIONS: dict[ComplaintStatus, dict[Action, ComplaintStatus]] = {
    ComplaintStatus.RECEIVED: {Action.ASSIGN: ComplaintStatus.ASSIGNED},
    ComplaintStatus.ASSIGNED: {
        Action.ASSIGN: ComplaintStatus.ASSIGNED,
        Action.REPLY: ComplaintStatus.REPLIED,
    },
    ComplaintStatus.REPLIED: {},
}


class IllegalTransition(Exception):
    def __init__(self, status: ComplaintStatus, action: Action) -> None:
        self.status = status
        self.action = action
        self.allowed = sorted(TRANSITIONS[status])
        allowed = ", ".join(self.allowed) or "none"
        super().__init__(
            f"cannot {action} a complaint that is {status} ({STATUS_LABELS[status]}); "
            f"allowed now: {allowed}"
        )


def next_status(status: ComplaintStatus, action: Action) -> ComplaintStatus:
    try:
        return TRANSITIONS[status][action]
    except KeyError:
        raise IllegalTransition(status, action) from None


def is_contactable(*, anonymous: bool, email: str | None, phone: str | None) -> bool:
    """An anonymous complainant is never contacted; others only through what they gave."""
    return not anonymous and bool(email or phone)
