"""What people ask intake to do with a complaint, as domain commands (pure: no I/O).

The API maps each request body to one of these (services/intake/api/schemas.py); the
command layer (registration.py, lifecycle/) decides what it does to the stored complaint.
A command that breaks one of the rules below cannot be built: each refusal names the
field at fault (InvalidField, a 422 at the edge).

- An anonymous letter is anonymous, and an anonymous complaint carries no name, phone
  or e-mail (docs/rules.md#registration G8).
- Accepting at registration names the office staff member who accepts (`received_by`,
  docs/rules.md#acceptance C1).
- A not-accepted reason that sends the complainant elsewhere says where (`refer_to`,
  docs/rules.md#acceptance C4).
- A finding after failed mediation tells the complainant the legal channels
  (docs/rules.md#handling H5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from services.intake.domain.complaint import Action, Channel, Kind
from services.intake.domain.outcomes import (
    NEEDS_REFERRAL,
    FindingResult,
    LegalChannel,
    NotAcceptedReason,
    ReplyForm,
    Satisfaction,
    VisitMethod,
)
from shared.contracts import CaseType

# Identity fields an anonymous complaint must not carry: they would identify or reach
# the person who asked not to be known.
ANONYMOUS_EXCLUDES = ("name", "phone", "email")


class InvalidField(Exception):
    """A value that is wrong for this command: against a rule above, or unknown to the
    hospital (no such staff member or department). The message names no other field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message.removeprefix(f"{field}: ")
        super().__init__(f"{field}: {self.message}")


class NotReady(Exception):
    """The state machine allows the action, but the case lacks what it needs (a reply
    before this round's finding, a second extension request while one waits)."""


# --- registration -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RegisterComplaint:
    """Register one complaint (登记). `fingerprint` is what makes a retry with the same
    Idempotency-Key the same request (domain/idempotency.py)."""

    channel: Channel
    content: str
    fingerprint: str
    kind: Kind = Kind.COMPLAINT
    anonymous: bool = False
    complainant: Mapping[str, Any] | None = None  # the identity as given; sealed when stored
    target_department: str | None = None
    target_staff_id: str | None = None
    summary: str | None = None
    demand: str | None = None
    received_at: datetime | None = None  # defaults to when it is registered
    received_by: str | None = None
    direct: bool = False
    group: bool = False
    case_type: CaseType | None = None
    accepted: bool = False

    def __post_init__(self) -> None:
        if self.channel is Channel.ANONYMOUS_LETTER and not self.anonymous:
            raise InvalidField("anonymous", "an anonymous letter must have anonymous=true")
        identity = self.complainant or {}
        if self.anonymous and any(identity.get(key) for key in ANONYMOUS_EXCLUDES):
            raise InvalidField(
                "complainant", "an anonymous complaint carries no name, phone or email"
            )
        if self.accepted and not self.received_by:
            raise InvalidField(
                "received_by", "accepted=true needs the office staff member who accepts"
            )


# --- lifecycle: every command is one Action, taken by a proven staff member ----------------


@dataclass(frozen=True, kw_only=True)
class LifecycleCommand:
    action: ClassVar[Action]
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class Accept(LifecycleCommand):
    action = Action.ACCEPT


@dataclass(frozen=True, kw_only=True)
class RequestSupplement(LifecycleCommand):
    action = Action.REQUEST_SUPPLEMENT
    missing: str


@dataclass(frozen=True, kw_only=True)
class Supplement(LifecycleCommand):
    action = Action.SUPPLEMENT
    content: str | None = None
    received_at: datetime | None = None  # when it arrived; defaults to now


@dataclass(frozen=True, kw_only=True)
class NotAccept(LifecycleCommand):
    action = Action.NOT_ACCEPT
    reason: NotAcceptedReason
    explanation: str
    refer_to: str | None = None

    def __post_init__(self) -> None:
        if self.reason in NEEDS_REFERRAL and not self.refer_to:
            raise InvalidField(
                "refer_to", f"reason {self.reason} must tell the complainant where to go"
            )


@dataclass(frozen=True, kw_only=True)
class Transfer(LifecycleCommand):
    action = Action.TRANSFER
    to_body: str


@dataclass(frozen=True, kw_only=True)
class ResolveOnSpot(LifecycleCommand):
    action = Action.RESOLVE_ON_SPOT
    outcome: str


@dataclass(frozen=True, kw_only=True)
class HandOver(LifecycleCommand):
    """The first receiver hands the case to complaint-office staff (`to`)."""

    action = Action.HAND_OVER
    to: str


@dataclass(frozen=True, kw_only=True)
class Reroute(LifecycleCommand):
    action = Action.REROUTE
    department: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RecordNote(LifecycleCommand):
    action = Action.RECORD_NOTE
    content: str


@dataclass(frozen=True)
class Remedy:
    description: str
    refund_amount: Decimal | None = None
    travel_cost_amount: Decimal | None = None


@dataclass(frozen=True, kw_only=True)
class RecordFinding(LifecycleCommand):
    action = Action.RECORD_FINDING
    result: FindingResult
    summary: str
    responsible_department: str | None = None
    responsible_staff: tuple[str, ...] = ()
    remedy: Remedy | None = None
    mediation_failed: bool = False
    legal_channels: tuple[LegalChannel, ...] = ()

    def __post_init__(self) -> None:
        if self.mediation_failed and not self.legal_channels:
            raise InvalidField(
                "legal_channels", "tell the complainant the legal channels when mediation fails"
            )


@dataclass(frozen=True, kw_only=True)
class Reply(LifecycleCommand):
    action = Action.REPLY
    content: str
    form: ReplyForm | None = None  # defaults by channel: written complaints in writing


@dataclass(frozen=True, kw_only=True)
class RequestExtension(LifecycleCommand):
    action = Action.REQUEST_EXTENSION
    working_days: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class DecideExtension(LifecycleCommand):
    action = Action.DECIDE_EXTENSION
    approve: bool


@dataclass(frozen=True)
class ReturnVisit:
    method: VisitMethod
    record: str
    at: datetime | None = None  # defaults to now


@dataclass(frozen=True, kw_only=True)
class Close(LifecycleCommand):
    action = Action.CLOSE
    satisfaction: Satisfaction
    return_visit: ReturnVisit


@dataclass(frozen=True, kw_only=True)
class Dispute(LifecycleCommand):
    action = Action.DISPUTE
    reason: str


# --- supervision: not a step of the case, so no Action and no state change ----------------


@dataclass(frozen=True, kw_only=True)
class AcknowledgeEscalation:
    """A supervisor read the escalation of `level` in the case's deadline `round` and notes
    what they ordered (督办意见, docs/rules.md#escalation)."""

    level: str
    round: int
    note: str

    def __post_init__(self) -> None:
        if not self.note.strip():
            raise InvalidField("note", "say what was ordered (督办意见)")
