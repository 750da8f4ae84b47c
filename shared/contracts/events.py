"""Event payloads, past tense, versioned.

Payloads carry only what their receivers need: complaint.received has no complainant
identity (routing does not need it); the complainant's e-mail appears only in the events
notification uses to write to them (assigned, replied, supplement requested, not accepted,
transferred, extended), and intake fills it only when the complainant may be contacted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, model_validator

from shared.contracts.envelope import Envelope
from shared.contracts.vocabulary import CaseType, Priority


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
    # Priority signals the receiver knows (docs/rules.md#routing P6): a direct complaint that
    # skipped the hospital (to leadership, or transferred from the bureau) and a group one.
    direct: bool = False
    group: bool = False
    case_type: CaseType | None = None  # the office's own judgement; routing decides otherwise
    # The complainant's keyed hash (shared/matching.py), never the identity: reporting counts
    # recurring complainants by it. Optional, so v1 stays v1: older messages have none.
    complainant_key: str | None = Field(default=None, max_length=64)


class DepartmentRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    label: str


class WaitsForCalendar(BaseModel):
    """A reply deadline is either a date or waits for a year's official holiday arrangement
    (`deadline_pending_year`): routing never guesses working days, and never holds a
    complaint back for want of them. v2 of the events that carry a deadline."""

    due_at: AwareDatetime | None = None
    deadline_pending_year: int | None = Field(
        default=None,
        description="the reply deadline waits for this year's holiday arrangement; routing "
        "sends the date (complaint.deadline_changed) once the bureau loads it",
    )

    @model_validator(mode="after")
    def _a_date_or_the_year_it_waits_for(self) -> Self:
        if (self.due_at is None) == (self.deadline_pending_year is None):
            raise ValueError("due_at: give the deadline, or the year it waits for, not both")
        return self


class AssignedWork(WaitsForCalendar):
    """Who handles a complaint, how urgently and by when: the part of routing's decision
    the handler's notice carries (complaint.assigned)."""

    revision: int = 1
    reason: str | None = None  # why a later revision was made (re-route, delegation, ...)
    category: str
    category_label: str
    department: str
    department_label: str
    co_departments: list[DepartmentRef] = Field(default_factory=list)
    handler: Person | None
    priority: Priority = Priority.NORMAL
    action_due_at: AwareDatetime | None = None  # urgent cases: act within hours


class RoutingDecision(AssignedWork):
    """Routing's whole decision on one complaint, defined once: complaint.routed carries
    it, intake keeps it as the complaint's `assignment` and shows it in its API, reporting
    counts from it. `revision` grows with each new decision for one complaint (re-routing,
    delegation, re-review), so only the newest applies."""

    matched_keywords: list[str] = Field(default_factory=list)
    recused: list[str] = Field(default_factory=list)
    case_type: CaseType = CaseType.INVESTIGATION
    counting_day: date | None = None  # None while the receipt's own year is not loaded
    working_days: int
    acceptance_due_at: AwareDatetime | None = None


class ComplaintRouted(RoutingDecision, EventPayload):
    """Routing's decision. A decision is never held back by the calendar: a deadline it
    cannot count yet is pending."""

    event_type: ClassVar[str] = "complaint.routed"
    schema_version: ClassVar[int] = 2  # v2: due_at, counting_day may wait for the calendar


class ComplaintAssigned(AssignedWork, EventPayload):
    """The handler's work. No text the complainant wrote (content, demand, the summary the
    office typed from it): identity can be typed into free text, so staff notices carry
    the case's facts and the handler reads the text in the platform (docs/rules.md
    #confidentiality Q6)."""

    event_type: ClassVar[str] = "complaint.assigned"
    schema_version: ClassVar[int] = 3  # v2: due_at may wait for the calendar; v3: no summary
    case_number: str
    tracking_code: str
    received_at: AwareDatetime
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
    round: int = Field(default=0, ge=0, description="0 first answer, n after the n-th dispute")


class LifecycleEvent(EventPayload):
    """A lifecycle step recorded by intake: which case, when, and who did it (a staff id)."""

    case_number: str
    tracking_code: str
    at: AwareDatetime
    by: str | None = None


class ComplaintAccepted(LifecycleEvent):
    event_type: ClassVar[str] = "complaint.accepted"


class SupplementRequested(LifecycleEvent):
    """The clock pauses until the supplement arrives (docs/rules.md#deadlines D5)."""

    event_type: ClassVar[str] = "complaint.supplement_requested"
    missing: str
    complainant_email: EmailStr | None = None


class ComplaintSupplemented(LifecycleEvent):
    """Counting starts again from the day the supplement arrived."""

    event_type: ClassVar[str] = "complaint.supplemented"


class ComplaintNotAccepted(LifecycleEvent):
    event_type: ClassVar[str] = "complaint.not_accepted"
    reason: str
    reason_label: str
    explanation: str
    refer_to: str | None = None
    complainant_email: EmailStr | None = None


class ComplaintTransferred(LifecycleEvent):
    event_type: ClassVar[str] = "complaint.transferred"
    to_body: str
    note: str | None = None
    complainant_email: EmailStr | None = None


class ComplaintResolvedOnSpot(LifecycleEvent):
    event_type: ClassVar[str] = "complaint.resolved_on_spot"
    outcome: str


class RerouteRequested(LifecycleEvent):
    """The office moves a case to another department; routing picks the handler."""

    event_type: ClassVar[str] = "complaint.reroute_requested"
    department: str
    reason: str
    content: str
    target_staff_id: str | None = None


class ExtensionApproved(LifecycleEvent):
    """Leadership approved more working days; routing moves the deadline."""

    event_type: ClassVar[str] = "complaint.extension_approved"
    working_days: int = Field(ge=1)
    reason: str


class DeadlineChanged(WaitsForCalendar, EventPayload):
    """Routing's new reply deadline: supplement arrived, extension approved, re-review; or
    the deadline now waits for a year's calendar, or the bureau loaded that year."""

    event_type: ClassVar[str] = "complaint.deadline_changed"
    schema_version: ClassVar[int] = 2  # v2: due_at may wait for the calendar
    previous_due_at: AwareDatetime | None = None
    working_days: int
    reason: str


class ComplaintExtended(LifecycleEvent):
    """The complainant is told the new date and why (docs/rules.md#deadlines D6)."""

    event_type: ClassVar[str] = "complaint.extended"
    due_at: AwareDatetime
    reason: str
    handler: Person | None = None
    complainant_email: EmailStr | None = None


class DeadlineSet(LifecycleEvent):
    """A deadline that waited for a year's calendar now has its date: the handler, told at
    assignment that it was pending, and the complainant, told so with the receipt, learn
    it. (An extension that waited is told as complaint.extended instead.)"""

    event_type: ClassVar[str] = "complaint.deadline_set"
    due_at: AwareDatetime
    handler: Person | None = None
    complainant_email: EmailStr | None = None


class ComplaintClosed(LifecycleEvent):
    event_type: ClassVar[str] = "complaint.closed"
    satisfaction: str
    finding: str | None = None
    category: str | None = None
    department: str | None = None
    round: int = Field(default=0, ge=0, description="re-reviews before this closure")


class ComplaintReopened(LifecycleEvent):
    """A dispute: re-review with a fresh reply deadline; `flagged` when reopened twice or
    more, which routing escalates to the hospital's leadership."""

    event_type: ClassVar[str] = "complaint.reopened"
    reason: str
    reopen_count: int
    flagged: bool = False
    department: str | None = None


class LadderStep(EventPayload):
    """A case reached a step of the escalation ladder (docs/rules.md#escalation): who must
    be told now, and about what. Never the complainant's identity or words: the facts of
    the case only (docs/rules.md#confidentiality Q6).

    `round` counts the reply deadlines of one case (a new one after an extension, a
    supplement restart or a re-review): each level of each round is reached once."""

    case_number: str | None = None
    level: str  # LadderLevel code
    reason: str  # why, in Chinese, for the people told (never the complainant's text)
    round: int = Field(default=0, ge=0)
    due_at: AwareDatetime | None = None  # the deadline this step is about
    overdue_working_days: int = Field(default=0, ge=0)
    department: str | None = None
    department_label: str | None = None
    recipients: list[Person] = Field(default_factory=list)
    urgent: bool = False  # told at once, even at night or on a holiday


class ComplaintSlaWarning(LadderStep):
    """The reply deadline is near (default: 80% of the allowed working time has passed)."""

    event_type: ClassVar[str] = "complaint.sla_warning"


class ComplaintOverdue(LadderStep):
    """A deadline passed unanswered: the reply (or acceptance, or an urgent case's action)
    deadline; told to the handler and the department head."""

    event_type: ClassVar[str] = "complaint.overdue"
    schema_version: ClassVar[int] = 2  # v2: a ladder step (v1 carried due_at, department)


class ComplaintEscalated(LadderStep):
    """Somebody above the handler must look at this case now (督办): the complaint office,
    the hospital's leadership or the bureau's supervisors."""

    event_type: ClassVar[str] = "complaint.escalated"
    schema_version: ClassVar[int] = 2  # v2: a ladder step with round, deadline, department


class EscalationAcknowledged(LifecycleEvent):
    """A supervisor read an escalation and noted what they ordered (督办意见)."""

    event_type: ClassVar[str] = "complaint.escalation_acknowledged"
    level: str
    round: int = Field(default=0, ge=0)
    note: str
    handler: Person | None = None  # told what was ordered (notification), if the case has one


class DeliveryOutcome(EventPayload):
    """What became of one delivery of a notice: which, for which event, to whom, how."""

    delivery_id: str
    source_event_id: str
    recipient_role: str
    channel: str = "email"  # DeliveryChannel code
    attempts: int
    recipient_staff_id: str | None = None
    level: str | None = None  # the ladder level, for a ladder step's notice


class NotificationSent(DeliveryOutcome):
    event_type: ClassVar[str] = "notification.sent"
    # An earlier attempt's outcome was unknown: the recipient may have this mail twice
    # (same Message-ID).
    after_unknown_outcome: bool = False


class NotificationFailed(DeliveryOutcome):
    event_type: ClassVar[str] = "notification.failed"
    error: str  # the reason, for people; addresses in it are masked
    reason_code: str = "unexpected"  # services/notification/delivery_policy.py REASON_LABELS
    recipient: str | None = None  # masked (z***@example.org)


EVENT_TYPES: dict[str, type[EventPayload]] = {
    model.event_type: model
    for model in (
        ComplaintReceived,
        ComplaintRouted,
        ComplaintAssigned,
        ComplaintReplied,
        ComplaintAccepted,
        SupplementRequested,
        ComplaintSupplemented,
        ComplaintNotAccepted,
        ComplaintTransferred,
        ComplaintResolvedOnSpot,
        RerouteRequested,
        ExtensionApproved,
        DeadlineChanged,
        ComplaintExtended,
        DeadlineSet,
        ComplaintClosed,
        ComplaintReopened,
        ComplaintSlaWarning,
        ComplaintOverdue,
        ComplaintEscalated,
        EscalationAcknowledged,
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
