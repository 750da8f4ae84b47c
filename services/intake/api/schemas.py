"""Request and response bodies of the intake API. Every text has a size limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from services.intake.domain.complaint import Channel, ComplaintStatus, Kind, PatientRelation

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Complainant(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str | None = Field(default=None, max_length=50, description="投诉人姓名")
    phone: str | None = Field(default=None, max_length=20, pattern=r"^\+?[0-9][0-9 -]{4,19}$")
    email: EmailStr | None = Field(default=None, max_length=254)
    relation: PatientRelation = Field(default=PatientRelation.SELF, description="与患者关系")


class ComplaintCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    hospital_id: Code | None = Field(
        default=None, description="Required for the bureau; a hospital key implies its own"
    )
    channel: Channel
    kind: Kind = Kind.COMPLAINT
    anonymous: bool = False
    complainant: Complainant | None = None
    target_department: Code | None = Field(default=None, description="被投诉科室 code")
    target_staff_id: Code | None = Field(default=None, description="被投诉人员 id")
    summary: str | None = Field(default=None, max_length=200, description="摘要")
    content: str = Field(min_length=1, max_length=5000, description="事由")
    demand: str | None = Field(default=None, max_length=2000, description="诉求")
    received_at: AwareDatetime | None = Field(default=None, description="Defaults to now")
    received_by: Code | None = Field(default=None, description="首诉负责人 staff id")

    @model_validator(mode="after")
    def _identity_rules(self) -> ComplaintCreate:
        if self.channel is Channel.ANONYMOUS_LETTER and not self.anonymous:
            raise ValueError("anonymous: an anonymous letter must have anonymous=true")
        identity = self.complainant
        if self.anonymous and identity and (identity.name or identity.phone or identity.email):
            raise ValueError("complainant: an anonymous complaint carries no name, phone or email")
        if self.received_at and self.received_at > datetime.now(UTC) + timedelta(minutes=5):
            raise ValueError("received_at: lies in the future")
        return self


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    content: str = Field(min_length=1, max_length=5000, description="答复内容")
    replied_by: Code = Field(description="staff id of the handler who replies")


class Handler(BaseModel):
    staff_id: str
    name: str


class Assignment(BaseModel):
    category: str
    category_label: str
    department: str
    department_label: str
    handler: Handler | None
    due_at: datetime
    matched_keywords: list[str] = []


class Reply(BaseModel):
    content: str
    replied_by: str
    replied_at: datetime


class TimelineEntry(BaseModel):
    at: datetime
    type: str
    by: str | None = None
    note: str | None = None


class ComplaintReceipt(BaseModel):
    id: str
    hospital_id: str
    case_number: str
    tracking_code: str
    status: ComplaintStatus
    status_label: str


class ComplaintRead(ComplaintReceipt):
    channel: Channel
    channel_label: str
    kind: Kind
    anonymous: bool
    contactable: bool
    complainant: Complainant | None
    target_department: str | None
    target_staff_id: str | None
    summary: str | None
    content: str
    demand: str | None
    received_at: datetime
    received_by: str | None
    assignment: Assignment | None
    reply: Reply | None
    timeline: list[TimelineEntry]
    version: int


class ComplaintListItem(ComplaintReceipt):
    channel: Channel
    kind: Kind
    received_at: datetime
    category: str | None = None
    department: str | None = None
    due_at: datetime | None = None


class ComplaintPage(BaseModel):
    items: list[ComplaintListItem]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class TrackingRead(BaseModel):
    """What a complainant sees with their tracking code: progress, never staff data."""

    case_number: str
    status: ComplaintStatus
    status_label: str
    received_at: datetime
    due_at: datetime | None
    replied_at: datetime | None
