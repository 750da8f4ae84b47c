"""Who is told about each event, in one table. Pure: an event in, messages out; a person
without an address simply gets nothing."""

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
    assignment_for_handler,
    deadline_set_for_handler,
    escalation_for,
    extension_for_handler,
)
from shared.contracts import (
    ComplaintAssigned,
    ComplaintEscalated,
    ComplaintExtended,
    ComplaintNotAccepted,
    ComplaintReplied,
    ComplaintTransferred,
    DeadlineSet,
    EventPayload,
    SupplementRequested,
)

Notices = Callable[[Any, str], list[Message | None]]

NOTICES: dict[type[EventPayload], Notices] = {
    ComplaintAssigned: lambda e, url: [
        assignment_for_handler(e),
        # Intake sends the address with the first assignment only: one receipt per case.
        receipt_for_complainant(e, tracking_url=url),
    ],
    ComplaintReplied: lambda e, url: [reply_for_complainant(e)],
    SupplementRequested: lambda e, url: [supplement_request_for_complainant(e, tracking_url=url)],
    ComplaintNotAccepted: lambda e, url: [not_accepted_for_complainant(e)],
    ComplaintTransferred: lambda e, url: [transfer_for_complainant(e)],
    ComplaintExtended: lambda e, url: [
        extension_for_complainant(e, tracking_url=url),
        extension_for_handler(e),
    ],
    DeadlineSet: lambda e, url: [
        deadline_set_for_handler(e),
        deadline_set_for_complainant(e, tracking_url=url),
    ],
    ComplaintEscalated: lambda e, url: [escalation_for(e, person) for person in e.recipients],
}


def notices_for(event: EventPayload, *, tracking_url: str) -> list[Message]:
    """Every message this event causes, one per person with an address."""
    try:
        write = NOTICES[type(event)]
    except KeyError:
        raise TypeError(f"no notices for {type(event).__name__}") from None
    return [message for message in write(event, tracking_url) if message is not None]
