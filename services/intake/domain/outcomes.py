"""The regulated outcomes of a case: why it is not accepted, what the investigation found,
how the complainant was answered and how satisfied they were (docs/rules.md#acceptance,
#handling, #closure-and-dispute)."""

from __future__ import annotations

from enum import StrEnum

from services.intake.domain.complaint import Channel
from shared.contracts import LabelledEnum


class NotAcceptedReason(LabelledEnum):
    """不予受理 reasons (docs/rules.md#acceptance C3)."""

    IN_COURT_OR_MEDIATION = "in_court_or_mediation", "已向人民法院起诉或已申请第三方调解"
    HANDLED_BY_AUTHORITY = (
        "handled_by_authority_or_petition",
        "已由卫生健康行政部门或信访部门受理处理",
    )
    NO_CLEAR_TARGET_OR_FACTS = "no_clear_target_or_facts", "无明确被投诉对象或具体事实"
    POLICE_OR_CRIMINAL = "police_or_criminal", "属于公安机关管辖或涉嫌违法犯罪"
    OUTSIDE_REMIT = "outside_remit", "不属于本院职责范围"


# A reason that sends the complainant elsewhere must say where (docs/rules.md#acceptance C4:
# 转送有管辖权部门…并告知投诉举报人, 食品药品《投诉举报管理制度》七).
NEEDS_REFERRAL: frozenset[NotAcceptedReason] = frozenset(
    {NotAcceptedReason.OUTSIDE_REMIT, NotAcceptedReason.POLICE_OR_CRIMINAL}
)


class FindingResult(LabelledEnum):
    SUBSTANTIATED = "substantiated", "属实"
    PARTLY = "partly_substantiated", "部分属实"
    UNSUBSTANTIATED = "unsubstantiated", "不属实"


class LegalChannel(StrEnum):
    """What a complainant is told when mediation fails (docs/rules.md#handling H5)."""

    ACCIDENT_APPRAISAL = "medical_accident_appraisal"
    PEOPLES_MEDIATION = "peoples_mediation"
    LAWSUIT = "lawsuit"


class ReplyForm(LabelledEnum):
    WRITTEN = "written", "书面答复"
    PHONE = "phone", "电话答复"
    IN_PERSON = "in_person", "当面答复"


# Complaints that arrived in writing are answered in writing (docs/rules.md#handling H4).
WRITTEN_CHANNELS: frozenset[Channel] = frozenset(
    {
        Channel.LETTER,
        Channel.ANONYMOUS_LETTER,
        Channel.SUGGESTION_BOX,
        Channel.EMAIL,
        Channel.WEB,
        Channel.TRANSFERRED,
    }
)


def reply_form_problem(channel: Channel, form: ReplyForm) -> str | None:
    """Why `form` is not an acceptable answer to a complaint that came by `channel`."""
    if channel in WRITTEN_CHANNELS and form is not ReplyForm.WRITTEN:
        return f"form: a complaint received by {channel} (written) must get a written reply"
    return None


class Satisfaction(LabelledEnum):
    SATISFIED = "satisfied", "满意"
    BASICALLY = "basically_satisfied", "基本满意"
    DISSATISFIED = "dissatisfied", "不满意"


class VisitMethod(StrEnum):
    PHONE = "phone"
    IN_PERSON = "in_person"
    LETTER = "letter"
    MESSAGE = "message"
    NOT_REACHABLE = "not_reachable"  # anonymous, or no answer: recorded, not skipped


# Reopened this many times: the case goes to leadership (issue 3; docs/rules.md#escalation E2).
FLAG_AFTER_REOPENINGS = 2


def flagged_for_leadership(reopen_count: int) -> bool:
    return reopen_count >= FLAG_AFTER_REOPENINGS
