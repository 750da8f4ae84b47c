"""Event payloads, past tense, versioned.

Payloads carry only what their receivers need: complaint.received has no complainant
identity (routing does not need it); the complainant's e-mail appears only in the two
events notification needs to write to them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

from shared.contracts.envelope import Envelope


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1

    def envelope(
        self,
        *,
        hospital_id: str,
        complaint_id: str,
        trace_context: dict[str, str] | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope:
        extra: dict[str, Any] = {"occurred_at": occurred_at} if occurred_at else {}
        return Envelope(
            type=self.event_type,
            schema_version=self.schema_version,
            hospital_id=hospital_id,
            complaint_id=complaint_id,
            trace_context=trace_context or {},
            payload=self.model_dump(mode="json"),
            **extra,
        )


class Person(BaseModel):
    """A staff member as a receiver of work: enough to address them, nothing more."""

    model_config = ConfigDict(frozen=True)
    staff_id: str
    name: str
    email: EmailStr | None = None


class ComplaintReceived(EventPayload):
    event_type: ClassVar[str] = "complaint.received"
    case_number: str
    channel: str
    kind: str
    anonymous: bool
    received_at: AwareDatetime
    content: str
    demand: str | None = None
    target_department: str | None = None
    target_staff_id: str | None = None


class ComplaintRouted(EventPayload):
    event_type: ClassVar[str] = "complaint.routed"
    category: str
    category_label: str
    matched_keywords: list[str] = Field(default_factory=list)
    department: str
    department_label: str
    handler: Person | None
    counting_day: date
    working_days: int
    due_at: AwareDatetime


class ComplaintAssigned(EventPayload):
    event_type: ClassVar[str] = "complaint.assigned"
    case_number: str
    tracking_code: str
    category: str
    category_label: str
    department: str
    department_label: str
    handler: Person | None
    received_at: AwareDatetime
    due_at: AwareDatetime
    summary: str
    complainant_email: EmailStr | None = None


class ComplaintReplied(EventPayload):
    event_type: ClassVar[str] = "complaint.replied"
    case_number: str
    tracking_code: str
    received_at: AwareDatetime
    replied_at: AwareDatetime
    replied_by: str
    reply: str
    response_seconds: float
    complainant_email: EmailStr | None = None


class ComplaintOverdue(EventPayload):
    event_type: ClassVar[str] = "complaint.overdue"
    due_at: AwareDatetime
    department: str
    handler_id: str | None = None


class NotificationSent(EventPayload):
    event_type: ClassVar[str] = "notification.sent"
    delivery_id: str
    source_event_id: str
    recipient_role: str
    channel: str = "email"
    attempts: int


class NotificationFailed(EventPayload):
    event_type: ClassVar[str] = "notification.failed"
    delivery_id: str
    source_event_id: str
    recipient_role: str
    channel: str = "email"
    attempts: int
    error: str


EVENT_TYPES: dict[str, type[EventPayload]] = {
    model.event_type: model
    for model in (
        ComplaintReceived,
        ComplaintRouted,
        ComplaintAssigned,
        ComplaintReplied,
        ComplaintOverdue,
        NotificationSent,
        NotificationFailed,
    )
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Published contract: the envelope plus one schema per event type and version."""
    schemas = {"envelope": Envelope.model_json_schema()}
    for name, model in EVENT_TYPES.items():
        schemas[f"{name}.v{model.schema_version}"] = model.model_json_schema()
    return schemas
