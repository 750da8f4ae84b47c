"""How a complaint is shown to whoever reads it, by the complaint resource and the
lifecycle commands alike: the complainant as the proven reader's role allows (a full
identity shown is logged first), and the error bodies both routers share."""

from __future__ import annotations

from typing import Any

from services.intake.adapters.identity_reads import IdentityReadLog
from services.intake.api.schemas import ComplaintRead
from services.intake.domain.commands import InvalidField
from services.intake.domain.complaint import (
    Channel,
    ComplaintStatus,
    allowed_actions,
    is_contactable,
)
from services.intake.domain.confidentiality import IdentityView, mask, view_for
from services.intake.ports import IntakePorts
from shared.auth import Principal
from shared.errors import ApiError, ErrorItem, not_found, validation_error
from shared.staff_assertion import StaffAssertion


def complaint_not_found(complaint_id: str) -> ApiError:
    return not_found(f"complaint {complaint_id} not found")


def broken_rule(error: InvalidField) -> ApiError:
    """A body against a rule of its command: the 422 a body's own validation gives."""
    item = ErrorItem(field=error.field, location="body", message=error.message, code="value_error")
    return validation_error([item])


def not_proven(field: str, location: str, message: str) -> ApiError:
    item = ErrorItem(field=field, location=location, message=message, code="not_proven")
    return ApiError(403, "not_proven", f"{field}: {message}", errors=[item])


def receipt(complaint: dict[str, Any]) -> dict[str, Any]:
    state = ComplaintStatus(complaint["status"])
    return {
        "id": complaint["_id"],
        "hospital_id": complaint["hospital_id"],
        "case_number": complaint["case_number"],
        "tracking_code": complaint["tracking_code"],
        "status": state,
        "status_label": state.label,
    }


async def _identity_view(
    complaint: dict[str, Any],
    principal: Principal,
    proven: StaffAssertion | None,
    ports: IntakePorts,
) -> IdentityView:
    """Only a proven reader's roles count: a hospital's or the bureau's key alone sees the
    complainant masked, whoever the request claims to come from."""
    actor = None
    if proven and principal.hospital_id == complaint["hospital_id"]:
        actor = await ports.directory.actor(complaint["hospital_id"], proven.staff_id)
    return view_for(
        roles=set(actor.roles) if actor else set(),
        actor_id=proven.staff_id if proven else None,
        complained_about=complaint.get("target_staff_id"),
        anonymous=complaint["anonymous"],
    )


async def shown(
    complaint: dict[str, Any],
    principal: Principal,
    proven: StaffAssertion | None,
    ports: IntakePorts,
    reads: IdentityReadLog,
    *,
    via: str,
) -> ComplaintRead:
    """The complaint as this reader may see it; a full identity shown is logged first,
    with the proven reader (adapters/identity_reads.py)."""
    view = await _identity_view(complaint, principal, proven, ports)
    if view is IdentityView.FULL and proven is not None and complaint.get("complainant"):
        await reads.record(
            complaint_id=complaint["_id"],
            hospital_id=complaint["hospital_id"],
            reader=proven,
            via=via,
        )
    return _read(complaint, view, ports)


def _read(complaint: dict[str, Any], view: IdentityView, ports: IntakePorts) -> ComplaintRead:
    identity = None
    if complaint.get("complainant"):
        identity = ports.identity.open(complaint["_id"], complaint["complainant"])
    fields: dict[str, Any] = dict(
        **receipt(complaint),
        channel=complaint["channel"],
        channel_label=Channel(complaint["channel"]).label,
        kind=complaint["kind"],
        anonymous=complaint["anonymous"],
        contactable=is_contactable(
            anonymous=complaint["anonymous"],
            email=(identity or {}).get("email"),
            phone=(identity or {}).get("phone"),
        ),
        identity_view=view.value,
        complainant=mask(identity, view),
        **{
            key: complaint.get(key)
            for key in (
                "target_department",
                "target_staff_id",
                "summary",
                "content",
                "demand",
                "received_at",
                "received_by",
                "first_receiver",
                "acceptance",
                "supplement",
                "transfer",
                "on_spot",
                "assignment",
                "finding",
                "reply",
                "extension",
                "closure",
                "version",
            )
        },
        direct=complaint.get("direct", False),
        group=complaint.get("group", False),
        reopen_count=complaint.get("reopen_count", 0),
        flagged=complaint.get("flagged", False),
        delivery_problems=complaint.get("delivery_problems", []),
        escalations=complaint.get("escalations", []),
        allowed_actions=allowed_actions(ComplaintStatus(complaint["status"])),
        timeline=complaint.get("timeline", []),
    )
    return ComplaintRead.model_validate(fields)
