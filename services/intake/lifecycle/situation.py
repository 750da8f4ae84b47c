"""What a lifecycle command's decide function sees: the case as stored, who acts, when,
and the status the state machine moves it to; and the events it publishes about the step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.intake.domain.authority import Actor, CaseParties
from services.intake.domain.commands import InvalidField
from services.intake.domain.complaint import ComplaintStatus
from services.intake.domain.confidentiality import IdentityCipher
from services.intake.events import E, complainant_email, lifecycle_event
from shared import dates


@dataclass(frozen=True)
class Situation:
    complaint: Mapping[str, Any]
    actor: Actor
    now: datetime
    status_after: ComplaintStatus
    identity: IdentityCipher  # opens the complainant's address for events that write to them

    @property
    def by(self) -> str:
        return self.actor.staff_id

    @property
    def assignment(self) -> Mapping[str, Any]:
        return self.complaint.get("assignment") or {}

    @property
    def complainant_email(self) -> str | None:
        """Where to write to the complainant about this step; None when they may not be
        contacted."""
        return complainant_email(self.complaint, self.identity)

    def event(self, model: type[E], *, at: datetime | None = None, **fields: Any) -> E:
        """The event about this step: the case, when (now, unless `at`), who acted."""
        return lifecycle_event(model, self.complaint, at or self.now, self.by, **fields)

    def dated(self, field: str, given: datetime | None) -> datetime:
        """When a person says this step happened (a supplement arrived, a return visit was
        made), in UTC; now if they say nothing. A hospital recording its history may date
        a step back, but never into the future nor before the complaint itself."""
        moment = (given or self.now).astimezone(UTC)
        problem = dates.problem_with(
            moment,
            now=self.now,
            not_before=self.complaint["received_at"],
            not_before_what="the complaint was received",
        )
        if problem:
            raise InvalidField(field, problem)
        return moment


def parties(complaint: Mapping[str, Any]) -> CaseParties:
    """The people and departments of a stored case, as domain/authority.py weighs them."""
    assignment = complaint.get("assignment") or {}
    return CaseParties(
        first_receiver=(complaint.get("first_receiver") or {}).get("accountable"),
        handler=(assignment.get("handler") or {}).get("staff_id"),
        department=assignment.get("department"),
        co_departments=frozenset(d["code"] for d in assignment.get("co_departments", [])),
        complained_about=complaint.get("target_staff_id"),
    )
