"""What the complainant is told at each step, with the tracking code to follow the case.

Every notice needs the complainant's e-mail in the event: intake puts it there only when
the complainant may be contacted (never for anonymous complaints), so no address means no
notice, and e-mail is the complainant's only channel. Staff appear at most as a department,
never by name, id or address.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

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
    ComplaintNotAccepted,
    ComplaintReplied,
    ComplaintTransferred,
    DeadlineSet,
    SupplementRequested,
)


class ToComplainant(Protocol):
    """An event that may carry the complainant's address."""

    @property
    def complainant_email(self) -> str | None: ...

    @property
    def event_type(self) -> str: ...


def _to_complainant(
    event: ToComplainant, context: NoticeContext | None, facts: Mapping[str, str]
) -> Message | None:
    """Intake gives the address only where the complainant may be contacted."""
    if event.complainant_email is None:
        return None
    return write(
        context or NoticeContext(),
        (event.event_type, RecipientRole.COMPLAINANT),
        facts,
        to=str(event.complainant_email),
        greeting="您好",
    )


def _tracking(tracking_code: str, context: NoticeContext | None) -> dict[str, str]:
    url = context.tracking_url if context else ""
    return {"tracking_code": tracking_code, "tracking_link": f"{url}{tracking_code}"}


def _when_we_answer(event: ComplaintAssigned) -> str:
    if event.due_at is not None:
        return f"我们将在{local_time(event.due_at)}前答复您。"
    year = event.deadline_pending_year
    waits = deadline_waits(year) if year else "办理时限待定"
    return f"您的投诉已交承办科室办理，{waits}，届时可凭查询码查询答复期限。"


def receipt_for_complainant(
    event: ComplaintAssigned, context: NoticeContext | None = None
) -> Message | None:
    facts = {
        "case_number": event.case_number,
        "received_at": local_time(event.received_at),
        "when_we_answer": _when_we_answer(event),
    } | _tracking(event.tracking_code, context)
    return _to_complainant(event, context, facts)


def reply_for_complainant(
    event: ComplaintReplied, context: NoticeContext | None = None
) -> Message | None:
    facts = {
        "case_number": event.case_number,
        "what": "复核申请" if event.round else "投诉",
        "reply": event.reply,
        "tracking_code": event.tracking_code,
    }
    return _to_complainant(event, context, facts)


def supplement_request_for_complainant(
    event: SupplementRequested, context: NoticeContext | None = None
) -> Message | None:
    """待补齐所需材料后受理 (某市人民医院《投诉处理制度》3, docs/rules.md#acceptance C2):
    the clock waits for the complainant."""
    facts = {"case_number": event.case_number, "missing": event.missing}
    return _to_complainant(event, context, facts | _tracking(event.tracking_code, context))


def not_accepted_for_complainant(
    event: ComplaintNotAccepted, context: NoticeContext | None = None
) -> Message | None:
    """不予受理 is explained with the rule, and where to go instead when there is a place."""
    facts = {
        "case_number": event.case_number,
        "reason": event.reason_label,
        "explanation": event.explanation,
        "refer_to": event.refer_to or "",
    }
    return _to_complainant(event, context, facts)


def transfer_for_complainant(
    event: ComplaintTransferred, context: NoticeContext | None = None
) -> Message | None:
    facts = {"case_number": event.case_number, "to_body": event.to_body, "note": event.note or ""}
    return _to_complainant(event, context, facts)


def deadline_set_for_complainant(
    event: DeadlineSet, context: NoticeContext | None = None
) -> Message | None:
    """The receipt said the deadline waited for the year's holiday arrangement: its date."""
    facts = {"case_number": event.case_number, "due_at": local_time(event.due_at)}
    return _to_complainant(event, context, facts | _tracking(event.tracking_code, context))


def extension_for_complainant(
    event: ComplaintExtended, context: NoticeContext | None = None
) -> Message | None:
    """延期须告知理由: the new date and why, never who asked for it."""
    facts = {
        "case_number": event.case_number,
        "reason": event.reason,
        "due_at": local_time(event.due_at),
    }
    return _to_complainant(event, context, facts | _tracking(event.tracking_code, context))
