"""Who is told about each event, in one table. Pure: an event in, messages out, one per
person told; the texts are the templates' (templates.py), the hospital's where it has its
own. A person without an e-mail address still gets a message: another channel of the
contact book may reach them; the complainant, reached by e-mail only, does not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.notification.domain.complainant_notices import (
    deadline_set_for_complainant,
    extension_for_complainant,
    not_accepted_for_complainant,
    receipt_for_complainant,
    reply_for_complainant,
    supplement_request_for_complainant,
    transfer_for_complainant,
)
from services.notification.domain.messages import Message
from services.notification.domain.staff_notices import (
    acknowledgement_for_handler,
    assignment_for_handler,
    deadline_set_for_handler,
    extension_for_handler,
    ladder_notices,
)
from services.notification.domain.templates import (
    DEFAULT_TEMPLATES,
    NoticeContext,
    StaffRoles,
    TemplateBook,
)
from shared.contracts import (
    ComplaintAssigned,
    ComplaintEscalated,
    ComplaintExtended,
    ComplaintNotAccepted,
    ComplaintOverdue,
    ComplaintReplied,
    ComplaintSlaWarning,
    ComplaintTransferred,
    DeadlineSet,
    EscalationAcknowledged,
    EventPayload,
    SupplementRequested,
)

Notices = Callable[[Any, NoticeContext], list[Message | None]]

NOTICES: dict[type[EventPayload], Notices] = {
    ComplaintAssigned: lambda e, c: [
        assignment_for_handler(e, c),
        # Intake sends the address with the first assignment only: one receipt per case.
        receipt_for_complainant(e, c),
    ],
    ComplaintReplied: lambda e, c: [reply_for_complainant(e, c)],
    SupplementRequested: lambda e, c: [supplement_request_for_complainant(e, c)],
    ComplaintNotAccepted: lambda e, c: [not_accepted_for_complainant(e, c)],
    ComplaintTransferred: lambda e, c: [transfer_for_complainant(e, c)],
    ComplaintExtended: lambda e, c: [
        extension_for_complainant(e, c),
        extension_for_handler(e, c),
    ],
    DeadlineSet: lambda e, c: [
        deadline_set_for_handler(e, c),
        deadline_set_for_complainant(e, c),
    ],
    # The ladder (docs/rules.md#escalation): the people routing chose for the step.
    ComplaintSlaWarning: lambda e, c: list(ladder_notices(e, c)),
    ComplaintOverdue: lambda e, c: list(ladder_notices(e, c)),
    ComplaintEscalated: lambda e, c: list(ladder_notices(e, c)),
    # 督办意见: the handler learns what the supervisor ordered.
    EscalationAcknowledged: lambda e, c: [acknowledgement_for_handler(e, c)],
}


def notices_for(
    event: EventPayload,
    *,
    tracking_url: str,
    case_link: str = "",
    templates: TemplateBook = DEFAULT_TEMPLATES,
    directory: StaffRoles | None = None,
) -> list[Message]:
    """Every message this event causes, one per person told. `case_link`: the case in the
    platform, for staff; `templates`: the hospital's; `directory`: who holds which role (a
    department head told that a deadline passed reads the head's text)."""
    try:
        write = NOTICES[type(event)]
    except KeyError:
        raise TypeError(f"no notices for {type(event).__name__}") from None
    context = NoticeContext(
        tracking_url=tracking_url, case_link=case_link, templates=templates, directory=directory
    )
    return [message for message in write(event, context) if message is not None]
