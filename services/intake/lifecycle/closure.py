"""After the reply: closure with a return visit and the complainant's satisfaction (回访
办结), or a dispute that reopens the case for re-review (复核); a case reopened twice is
flagged to leadership (domain/outcomes.py).

Each decide function is pure: the situation and the command in, the Change out.
"""

from __future__ import annotations

from services.intake.change import Change, Entry
from services.intake.domain.commands import Close, Dispute
from services.intake.domain.outcomes import flagged_for_leadership
from services.intake.lifecycle.situation import Situation
from shared.contracts import ComplaintClosed, ComplaintReopened


def close(s: Situation, command: Close) -> Change:
    """The return visit is recorded even when the complainant cannot be reached."""
    visit = command.return_visit
    visited_at = s.dated("return_visit.at", visit.at)
    finding = s.complaint.get("finding") or {}
    return Change(
        set={
            "closure": {
                "satisfaction": command.satisfaction.value,
                "satisfaction_label": command.satisfaction.label,
                "return_visit": {
                    "method": visit.method.value,
                    "at": visited_at,
                    "record": visit.record,
                },
                "closed_at": s.now,
                "closed_by": s.by,
            }
        },
        entries=[
            Entry(
                "closed",
                s.by,
                visit.record,
                {"satisfaction": command.satisfaction.value, "visit": visit.method.value},
            )
        ],
        events=[
            s.event(
                ComplaintClosed,
                satisfaction=command.satisfaction.value,
                finding=finding.get("result"),
                category=s.assignment.get("category"),
                department=s.assignment.get("department"),
                round=s.complaint.get("reopen_count", 0),
            )
        ],
    )


def dispute(s: Situation, command: Dispute) -> Change:
    count = s.complaint.get("reopen_count", 0) + 1
    flagged = flagged_for_leadership(count)
    return Change(
        set={"reopen_count": count, "flagged": flagged, "reopened_at": s.now},
        entries=[
            Entry("reopened", s.by, command.reason, {"reopen_count": count, "flagged": flagged})
        ],
        events=[
            s.event(
                ComplaintReopened,
                reason=command.reason,
                reopen_count=count,
                flagged=flagged,
                department=s.assignment.get("department"),
            )
        ],
    )
