"""Message contracts shared by every service (typed, versioned, JSON-schema exportable)."""

from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    EVENT_TYPES,
    ComplaintAssigned,
    ComplaintOverdue,
    ComplaintReceived,
    ComplaintReplied,
    ComplaintRouted,
    EventPayload,
    NotificationFailed,
    NotificationSent,
    Person,
    json_schemas,
)

__all__ = [
    "EVENT_TYPES",
    "ComplaintAssigned",
    "ComplaintOverdue",
    "ComplaintReceived",
    "ComplaintReplied",
    "ComplaintRouted",
    "Envelope",
    "EventPayload",
    "NotificationFailed",
    "NotificationSent",
    "Person",
    "json_schemas",
]
