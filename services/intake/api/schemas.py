"""Request and response bodies of the intake API. Every text has a size limit.

Each request body maps to its domain command (`to_command`, services/intake/domain/
commands.py), where the rules about what a command may say live; the bodies hold the
shapes, limits and formats of the edge. A body's fields are its command's, by name."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from services.intake.domain import commands
from services.intake.domain.complaint import (
    Action,
    Channel,
    ComplaintStatus,
    Kind,
    PatientRelation,
)
from services.intake.domain.idempotency import fingerprint
from services.intake.domain.outcomes import (
    FindingResult,
    LegalChannel,
    NotAcceptedReason,
    ReplyForm,
    Satisfaction,
    VisitMethod,
)
from shared.contracts import CaseType, RoutingDecision
from shared.dates import Instant
from shared.errors import ErrorItem

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Complainant(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str | None = Field(default=None, max_length=50, description="投诉人姓名")
    phone: str | None = Field(default=None, max_length=20, pattern=r"^\+?[0-9][0-9 -]{4,19}$")
    email: EmailStr | None = Field(default=None, max_length=254)
    address: str | None = Field(default=None, max_length=200, description="住址")
    workplace: str | None = Field(default=None, max_length=100, description="工作单位")
    id_number: str | None = Field(
        default=None, pattern=r"^[0-9]{6}[0-9]{8}[0-9]{3}[0-9Xx]$", description="身份证号"
    )
    sex: Literal["male", "female"] | None = Field(default=None, description="性别")
    age: int | None = Field(default=None, ge=0, le=130)
    occupation: str | None = Field(default=None, max_length=50, description="职业")
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
    received_at: Instant | None = Field(
        default=None,
        description="When the complaint was received; defaults to now. Not in the future, not "
        "older than the bureau's window for late registration (HUIYIN_RECEIVED_AT_MAX_AGE_DAYS)",
    )
    received_by: Code | None = Field(default=None, description="首诉负责人 staff id")
    direct: bool = Field(
        default=False, description="越级/直接投诉: went to leadership or the bureau first"
    )
    group: bool = Field(default=False, description="群体投诉")
    case_type: CaseType | None = Field(
        default=None,
        description="The office's judgement of the case type; else routing decides",
    )
    accepted: bool = Field(
        default=False,
        description="Accepted at registration (受理) by `received_by`, who must be complaint "
        "office staff; otherwise the office reviews it with POST .../accept",
    )

    @model_validator(mode="after")
    def _identity_number(self) -> ComplaintCreate:
        identity = self.complainant
        if identity and identity.id_number and not _id_checksum_ok(identity.id_number):
            raise ValueError("complainant.id_number: checksum digit does not match")
        return self

    def to_command(self, *, hospital_id: str) -> commands.RegisterComplaint:
        """The registration this body asks for at `hospital_id`. Its fingerprint is this
        body's, with the hospital: a retry of the same body is the same request."""
        body = self.model_dump(mode="json", exclude_none=True) | {"hospital_id": hospital_id}
        return commands.RegisterComplaint(
            **self.model_dump(exclude={"hospital_id", "complainant"}),
            complainant=body.get("complainant"),  # as given, in its JSON form
            fingerprint=fingerprint(body),
        )


def _id_checksum_ok(number: str) -> bool:
    """GB 11643 check digit of an 18-digit resident identity number."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


# --- commands: every one names the staff member who takes it ------------------------------

Text = Annotated[str, Field(min_length=1, max_length=2000)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    actor: Code | None = Field(
        default=None,
        description="Optional: the staff member acting is the `sub` of the request's "
        "X-Huiyin-Staff-Assertion; if given, this must name the same person",
    )
    note: str | None = Field(default=None, max_length=2000)
    # The body of POST .../accept; every other body names its own command (and builds it
    # itself where a field is not the command's as it stands: FindingRecord, Closure).
    command: ClassVar[type[commands.LifecycleCommand]] = commands.Accept

    def to_command(self) -> commands.LifecycleCommand:
        """The command this body asks for: its fields but `actor` (who acts is proven, not
        told), by name."""
        return self.command(**self.model_dump(exclude={"actor"}))


class SupplementRequest(Command):
    command = commands.RequestSupplement
    missing: Text = Field(description="what the complainant must supply (缺少的材料或事实)")


class SupplementReceived(Command):
    command = commands.Supplement
    content: str | None = Field(default=None, max_length=5000, description="补充内容")
    received_at: Instant | None = Field(
        default=None,
        description="when the supplement arrived (counting restarts that day); not before it "
        "was requested, not in the future",
    )


class NotAcceptDecision(Command):
    command = commands.NotAccept
    reason: NotAcceptedReason
    explanation: Text = Field(description="the explanation the complainant is given")
    refer_to: str | None = Field(default=None, max_length=200, description="告知投诉人的有关部门")


class TransferDecision(Command):
    command = commands.Transfer
    to_body: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="the competent body the case goes to (有关部门)"
    )


class OnSpotResolution(Command):
    command = commands.ResolveOnSpot
    outcome: Text = Field(description="how it was settled to the complainant's satisfaction")


class HandOver(Command):
    command = commands.HandOver
    to: Code = Field(description="complaint-office staff member who takes over")


class Reroute(Command):
    command = commands.Reroute
    department: Code
    reason: Text


class InvestigationNote(Command):
    command = commands.RecordNote
    content: Annotated[str, Field(min_length=1, max_length=5000)]


class Remedy(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    description: Text
    refund_amount: Decimal | None = Field(default=None, ge=0, le=10_000_000, decimal_places=2)
    travel_cost_amount: Decimal | None = Field(default=None, ge=0, le=1_000_000, decimal_places=2)


class FindingRecord(Command):
    command = commands.RecordFinding
    result: FindingResult
    summary: Annotated[str, Field(min_length=1, max_length=5000)] = Field(description="处理意见")
    responsible_department: Code | None = None
    responsible_staff: list[Code] = Field(default_factory=list, max_length=20)
    remedy: Remedy | None = None
    mediation_failed: bool = False
    legal_channels: list[LegalChannel] = Field(default_factory=list, max_length=3)

    def to_command(self) -> commands.RecordFinding:
        remedy = self.remedy
        return commands.RecordFinding(
            result=self.result,
            summary=self.summary,
            responsible_department=self.responsible_department,
            responsible_staff=tuple(self.responsible_staff),
            remedy=commands.Remedy(
                description=remedy.description,
                refund_amount=remedy.refund_amount,
                travel_cost_amount=remedy.travel_cost_amount,
            )
            if remedy
            else None,
            mediation_failed=self.mediation_failed,
            legal_channels=tuple(self.legal_channels),
            note=self.note,
        )


class ReplyCreate(Command):
    command = commands.Reply
    content: Annotated[str, Field(min_length=1, max_length=5000)] = Field(description="答复内容")
    form: ReplyForm | None = Field(
        default=None, description="defaults to written for written channels"
    )


class ExtensionRequest(Command):
    command = commands.RequestExtension
    working_days: int = Field(ge=1, le=30)
    reason: Text


class ExtensionDecision(Command):
    command = commands.DecideExtension
    approve: bool


class ReturnVisit(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    method: VisitMethod
    at: Instant | None = Field(default=None, description="not in the future")
    record: Text = Field(description="回访记录")


class Closure(Command):
    command = commands.Close
    satisfaction: Satisfaction
    return_visit: ReturnVisit

    def to_command(self) -> commands.Close:
        visit = self.return_visit
        return commands.Close(
            satisfaction=self.satisfaction,
            return_visit=commands.ReturnVisit(
                method=visit.method, record=visit.record, at=visit.at
            ),
            note=self.note,
        )


class Dispute(Command):
    command = commands.Dispute
    reason: Text = Field(description="the complainant's objection to the result")


# --- supervision ---------------------------------------------------------------------------


class EscalationAcknowledgementCreate(BaseModel):
    """A supervisor acknowledges an escalation of the case and notes what they ordered."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    round: int = Field(
        ge=0, le=1000, description="the escalation's deadline round (GET shows each one's)"
    )
    note: Text = Field(description="督办意见: what the supervisor ordered")

    def to_command(self, *, level: str) -> commands.AcknowledgeEscalation:
        return commands.AcknowledgeEscalation(level=level, round=self.round, note=self.note)


# --- batch -------------------------------------------------------------------------------


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idempotency_key: Annotated[str, Field(min_length=1, max_length=128)]
    complaint: dict[str, Any]


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hospital_id: Code | None = None
    items: list[BatchItem] = Field(min_length=1, max_length=500)


class BatchItemResult(BaseModel):
    index: int
    idempotency_key: str
    outcome: Literal["created", "replayed", "invalid", "conflict", "refused"]
    id: str | None = None
    case_number: str | None = None
    tracking_code: str | None = None
    errors: list[ErrorItem] = []


class BatchResult(BaseModel):
    created: int
    replayed: int
    failed: int
    items: list[BatchItemResult]


class Handler(BaseModel):
    """The handler as the API shows them: who, not their address."""

    staff_id: str
    name: str


class Assignment(RoutingDecision):
    """Routing's decision as the complaint keeps it (shared/contracts RoutingDecision)."""

    # Narrower than RoutingDecision's Person on purpose: the API shows who handles the
    # case, not their address; an Assignment is only ever shown, never used as a decision.
    handler: Handler | None  # type: ignore[assignment]


class Reply(BaseModel):
    content: str
    form: str = "written"
    form_label: str | None = None
    replied_by: str
    replied_at: datetime
    round: int = 0


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    type: str
    by: str | None = None
    note: str | None = None
    data: dict[str, Any] | None = None
    prev: str
    hash: str


class ComplainantView(BaseModel):
    """The complainant as this reader may see them: in full, masked, or not at all."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    workplace: str | None = None
    id_number: str | None = None
    sex: str | None = None
    age: int | None = None
    occupation: str | None = None
    relation: str | None = None


class DeliveryProblem(BaseModel):
    """A notice notification gave up on: the office must reach this person another way."""

    recipient_role: str
    role_label: str
    recipient: str | None = Field(description="masked; never the complainant's address")
    reason_code: str
    reason: str
    attempts: int
    at: datetime


class StaffRef(BaseModel):
    staff_id: str
    name: str | None = None


class EscalationNotice(BaseModel):
    """One delivery of the escalation's notice: who it reached, how and when."""

    staff_id: str | None = Field(description="None for a group robot or a hospital system")
    name: str | None = None
    role: str
    channel: str
    channel_label: str
    at: datetime
    attempts: int
    after_unknown_outcome: bool = Field(
        default=False, description="sent again after an unknown outcome: may have come twice"
    )


class EscalationAcknowledgement(BaseModel):
    by: str
    name: str
    acting_for: str = Field(description="the supervisor's hospital, or bureau")
    at: datetime
    note: str = Field(description="督办意见")
    handler: StaffRef | None = Field(default=None, description="told what was ordered")
    told: list[EscalationNotice] = Field(
        default_factory=list, description="who the order reached, through which channel"
    )


class Escalation(BaseModel):
    """A level of the escalation ladder the case reached in one deadline round."""

    level: str = Field(description="shared/contracts LadderLevel code")
    level_label: str
    round: int
    reached_at: datetime
    reason: str
    due_at: datetime | None = None
    overdue_working_days: int = 0
    urgent: bool = False
    department: str | None = None
    department_label: str | None = None
    recipients: list[StaffRef] = Field(description="whom routing named to be told")
    told: list[EscalationNotice] = Field(description="who was told, through which channel")
    supervised: bool = Field(
        description="a supervisor's escalation, to be acknowledged (complaint_office, "
        "leadership, bureau)"
    )
    acknowledgement: EscalationAcknowledgement | None = None


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
    identity_view: str = Field(description="full, masked or none: what this reader may see")
    complainant: ComplainantView | None
    target_department: str | None
    target_staff_id: str | None
    summary: str | None
    content: str
    demand: str | None
    direct: bool = False
    group: bool = False
    received_at: datetime
    received_by: str | None
    first_receiver: dict[str, Any] | None = None
    acceptance: dict[str, Any] | None = None
    supplement: dict[str, Any] | None = None
    transfer: dict[str, Any] | None = None
    on_spot: dict[str, Any] | None = None
    assignment: Assignment | None
    finding: dict[str, Any] | None = None
    reply: Reply | None
    extension: dict[str, Any] | None = None
    closure: dict[str, Any] | None = None
    reopen_count: int = 0
    flagged: bool = False
    delivery_problems: list[DeliveryProblem] = Field(
        default_factory=list, description="notices that could not be delivered (通知发送失败)"
    )
    escalations: list[Escalation] = Field(
        default_factory=list,
        description="every level of the escalation ladder reached (督办), who was told and "
        "who acknowledged",
    )
    allowed_actions: list[Action]
    timeline: list[TimelineEntry]
    version: int


class IdentityRead(BaseModel):
    """One read that showed the complainant's full identity."""

    at: datetime
    staff_id: str = Field(description="the proven reader")
    via: str = Field(description="read, or the action whose answer showed it")
    kid: str = Field(description="the hospital key that signed the reader's assertion")
    jti: str = Field(description="the single-use assertion's id")


class IdentityReadPage(BaseModel):
    total: int
    items: list[IdentityRead]


class TimelineVerdict(BaseModel):
    ok: bool
    count: int
    head_hash: str | None
    first_bad_seq: int | None
    problem: str | None


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


class WorklistItem(ComplaintListItem):
    handler: str | None = Field(default=None, description="the handler's staff id")
    handler_name: str | None = None
    overdue: bool = Field(description="a deadline it has now passed unanswered (超期)")


class WorklistPage(BaseModel):
    worklist: str = Field(description="handler, department, acceptance or overdue")
    label: str = Field(description="the worklist's name for staff (承办人在办案件, ...)")
    hospital_id: str | None = Field(description="null: the region's (the bureau's view)")
    member: str | None = Field(
        default=None, description="the handler's staff id or the department's code"
    )
    total: int = Field(description="how many cases the worklist holds")
    items: list[WorklistItem]
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
    missing: str | None = Field(default=None, description="what to supplement, if asked")
    not_accepted_reason: str | None = None
    refer_to: str | None = None
    transferred_to: str | None = None


# --- the bureau's admin API: hospitals' assertion keys ------------------------------------


class AssertionKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    public_key: str = Field(
        min_length=1,
        max_length=4096,
        description="PEM public key (-----BEGIN PUBLIC KEY-----): Ed25519 (EdDSA) or P-256 (ES256)",
    )
    kid: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="the `kid` the hospital puts in each assertion's header; defaults to the "
        "key's thumbprint",
    )
    note: str | None = Field(default=None, max_length=200, description="e.g. HIS 2026 key")


class AssertionKeyRevocation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=200, description="e.g. 私钥泄露, 轮换")


class AssertionKeyRead(BaseModel):
    hospital_id: str
    kid: str
    algorithm: str
    public_key: str
    thumbprint: str
    note: str | None = None
    registered_at: datetime
    registered_by: str
    active: bool = Field(description="false once revoked: assertions it signs are refused")
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoked_reason: str | None = None


class AssertionKeyList(BaseModel):
    items: list[AssertionKeyRead]
