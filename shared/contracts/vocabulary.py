"""Words every service uses the same way, defined once: the codes the API, storage and
events carry (stable English) and the Chinese labels people read.

- `LabelledEnum`: a code and its label in one member, for every vocabulary people read.
- `CHINA`: the zone of working days, deadlines and every date shown to people (storage
  is UTC). Asia/Shanghai has had no daylight saving time since 1991.
- `CaseType`: the deadline class of a complaint (docs/rules.md#deadlines D1, where each
  has its Chinese name). The office may state it at registration (intake); routing
  decides it otherwise and owns its working days.
- `Priority`: routing's judgement of how soon a case must be acted on
  (docs/rules.md#routing P5, P6); the handler reads its label.
- `LadderLevel`: the steps of the escalation ladder (docs/rules.md#escalation), in the
  order a case that stays unanswered climbs them; who each reaches is routing's ladder.
- `DeliveryChannel`: how a notice reaches a person or a group (notification).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


class LabelledEnum(StrEnum):
    """A stable English code that people read as a Chinese label, both stated once per
    member: `PHONE = "phone", "电话"` is the code "phone" (what the API, storage and events
    carry) with `.label` "电话". `Channel("phone")` looks a member up by its code."""

    label: str

    def __new__(cls, code: str, label: str = "") -> Self:
        member = str.__new__(cls, code)
        member._value_ = code
        member.label = label
        return member


class CaseType(StrEnum):
    ON_SPOT = "on_spot"
    SIMPLE = "simple"
    INVESTIGATION = "investigation"
    MULTI_DEPARTMENT = "multi_department"
    COMPLEX = "complex"
    TRANSFERRED = "transferred"
    LEADERSHIP_RECEPTION = "leadership_reception"
    ADVERSE_EVENT = "adverse_event"


class Priority(LabelledEnum):
    URGENT = "urgent", "紧急"
    HIGH = "high", "优先"
    NORMAL = "normal", "一般"


class LadderLevel(LabelledEnum):
    """Escalation steps, lowest first. Ordinary cases climb warning → reply_due →
    complaint_office → leadership → bureau as working days pass; urgent, major and group
    cases and twice-reopened ones enter higher at once."""

    WARNING = "warning", "临期预警"
    ACCEPTANCE_DUE = "acceptance_due", "受理期限已到"
    ACTION_DUE = "action_due", "紧急处置期限已到"
    REPLY_DUE = "reply_due", "答复期限已到"
    COMPLAINT_OFFICE = "complaint_office", "投诉管理部门督办"
    LEADERSHIP = "leadership", "院领导督办"
    BUREAU = "bureau", "卫健委督办"


class DeliveryChannel(LabelledEnum):
    EMAIL = "email", "电子邮件"
    SMS = "sms", "短信"
    WECOM = "wecom", "企业微信群机器人"
    DINGTALK = "dingtalk", "钉钉群机器人"
    WEBHOOK = "webhook", "医院系统回调"
