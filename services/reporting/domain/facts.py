"""What each event changes in a complaint's facts. Pure: an event in, a FactChange out.

Events arrive in any order (redeliveries, two producers), so every fact says how it
combines with what is already known:

- `status` moves by rank only (domain/status.py): `$max` of `round * 10 + stage`.
- `latest` groups hold decisions that may be revised (the deadline, the assignment, the
  closure, the last escalation). Each group carries the `occurred_at` of the event that set
  it; an event changes a group only when it occurred strictly later. So a redelivered
  complaint.assigned cannot undo an extension's deadline, nor a first closure a second one.
- `highest` facts only grow (`$max`): reopen_count, flagged.
- `tallies` count repeated steps (extensions, escalations) as sets of event ids, so a
  redelivered event counts once.
- `fields` are the same whichever event carries them (received_at, the first reply, the
  Chinese label of a category or department code: `labels.<c|d>.<code>`). The person
  complained about is kept only as a keyed hash (`target_staff_key`, shared/matching.py),
  the complainant only as the hash intake computed (`complainant_key`).
- `members` collect values in a set: the escalation levels reached, and every reply
  deadline given with when it was given (`deadlines`), so the deadline in force at the
  first reply is known whatever order the events came in (domain/classification.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.reporting.domain.status import rank
from shared.contracts import (
    AssignedWork,
    ComplaintAccepted,
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintExtended,
    ComplaintNotAccepted,
    ComplaintOverdue,
    ComplaintReceived,
    ComplaintReopened,
    ComplaintReplied,
    ComplaintResolvedOnSpot,
    ComplaintRouted,
    ComplaintSupplemented,
    ComplaintTransferred,
    DeadlineChanged,
    EventPayload,
    LadderLevel,
    SupplementRequested,
)
from shared.matching import DEV_MATCH_KEY, staff_key

# Latest-wins groups and the fields each one owns.
DEADLINE, ASSIGNMENT, CLOSURE, ESCALATION, REPLY = (
    "deadline",
    "assignment",
    "closure",
    "escalation",
    "reply",
)
# Repeated steps: the count a report reads, and the set of event ids it is counted from.
TALLIES = {"extensions": "extension_events", "escalations": "escalation_events"}


@dataclass(frozen=True)
class FactChange:
    fields: dict[str, Any] = field(default_factory=dict)
    status: str | None = None
    round: int = 0
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    highest: dict[str, Any] = field(default_factory=dict)
    tallies: tuple[str, ...] = ()  # keys of TALLIES
    members: dict[str, Any] = field(default_factory=dict)  # values collected in a set

    @property
    def records_nothing(self) -> bool:
        """An event reporting only counts (its outcome arrives as another event, or it is
        a delivery): the complaint's facts stay as they are."""
        return self == FactChange()


def version_of(moment: datetime) -> str:
    """A sortable, exact stamp of when a decision was made (BSON dates keep milliseconds
    only, which would make two events in one millisecond look alike)."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"  # %Y drops leading zeros


def newer_groups(
    change: FactChange, *, version: str, known: dict[str, str] | None
) -> dict[str, dict[str, Any]]:
    """The latest-wins groups this event may set: those it decided strictly after the
    decision now on record (or that have no record yet)."""
    known = known or {}
    return {
        group: values
        for group, values in change.latest.items()
        if group not in known or version > known[group]
    }


def new_facts(complaint_id: str, hospital_id: str) -> dict[str, Any]:
    """A complaint's facts before its first event is applied: only who it belongs to, and
    the lowest status, which any event's status then raises (`$max`)."""
    return {"_id": complaint_id, "hospital_id": hospital_id, "status_rank": 0}


def fact_update(
    change: FactChange,
    *,
    hospital_id: str,
    event_id: str,
    version: str,
    current: dict[str, Any],
) -> dict[str, Any]:
    """The one update that applies `change` to the facts as they are (`current`)."""
    to_set: dict[str, Any] = {"hospital_id": hospital_id, **change.fields}
    for group, values in newer_groups(
        change, version=version, known=current.get("versions")
    ).items():
        to_set |= values
        to_set[f"versions.{group}"] = version
    to_add: dict[str, Any] = {"applied": event_id, **change.members}
    for count in change.tallies:
        seen = TALLIES[count]
        to_add[seen] = event_id
        to_set[count] = len(set(current.get(seen, [])) | {event_id})
    update: dict[str, Any] = {"$set": to_set, "$addToSet": to_add}
    maxima = dict(change.highest)
    if change.status is not None:
        maxima["status_rank"] = rank(change.status, change.round)
    if maxima:
        update["$max"] = maxima
    return update


def apply_fact_update(document: dict[str, Any], update: dict[str, Any]) -> None:
    """What the server does with a fact update: `$set` of dotted paths, `$addToSet`,
    `$max`."""
    for operator, fields in update.items():
        for path, value in fields.items():
            *parents, leaf = path.split(".")
            node = document
            for part in parents:
                node = node.setdefault(part, {})
            if operator == "$set":
                node[leaf] = value
            elif operator == "$addToSet":
                values = node.setdefault(leaf, [])
                if value not in values:
                    values.append(value)
            elif operator == "$max":
                node[leaf] = max(node[leaf], value) if leaf in node else value
            else:
                raise ValueError(f"{operator}: not a fact update")


def field_key(code: str) -> str:
    """A code as one MongoDB field name: `.` would split the path, a leading `$` is an
    operator. Reversible (`code_of`)."""
    return code.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def code_of(key: str) -> str:
    return key.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def _labels(event: AssignedWork) -> dict[str, str]:
    """The Chinese labels the decision carries, by code: the reports' row headers."""
    return {
        f"labels.c.{field_key(event.category)}": event.category_label,
        f"labels.d.{field_key(event.department)}": event.department_label,
    }


def _given(deadline: dict[str, Any], occurred_at: datetime) -> dict[str, Any]:
    """One deadline as given at a moment, for the `deadlines` set."""
    return {"at": version_of(occurred_at), "due_at": deadline["due_at"]}


def _assignment(event: AssignedWork) -> dict[str, Any]:
    """What the reports count of routing's decision (shared/contracts AssignedWork), from
    complaint.routed or complaint.assigned alike."""
    return {
        "category": event.category,
        "department": event.department,
        "priority": event.priority,
        "revision": event.revision,
    }


def _deadline(event: ComplaintAssigned | DeadlineChanged) -> dict[str, Any]:
    """A deadline waiting for a year's calendar has no date (due_at None): such a case is
    neither overdue nor on time until routing counts it."""
    return {"due_at": event.due_at, "deadline_pending_year": event.deadline_pending_year}


def change_for(
    event: EventPayload, *, occurred_at: datetime, match_key: str = DEV_MATCH_KEY
) -> FactChange:
    """The facts one event records; an event type reporting only counts changes nothing.
    `match_key`: the secret of the keyed hash of the person complained about."""
    if isinstance(event, ComplaintReceived):
        received: dict[str, Any] = {
            "received_at": event.received_at,
            "channel": event.channel,
            "kind": event.kind,
            "case_number": event.case_number,
            "group": event.group,
            "direct": event.direct,
        }
        if event.target_staff_id:
            received["target_staff_key"] = staff_key(match_key, event.target_staff_id)
        if event.complainant_key:
            received["complainant_key"] = event.complainant_key
        return FactChange(fields=received, status="received")
    if isinstance(event, ComplaintRouted):
        # Routing decides before acceptance; the category counts from then on. Its
        # deadline is not the case's until the case is assigned.
        return FactChange(
            fields=_labels(event),
            latest={ASSIGNMENT: _assignment(event) | {"case_type": event.case_type}},
        )
    if isinstance(event, ComplaintAssigned):
        return FactChange(
            fields={
                "received_at": event.received_at,
                "case_number": event.case_number,
                **_labels(event),
            },
            status="assigned",
            latest={ASSIGNMENT: _assignment(event), DEADLINE: _deadline(event)},
            members={"deadlines": _given(_deadline(event), occurred_at)},
        )
    if isinstance(event, ComplaintReplied):
        first = (
            {"replied_at": event.replied_at, "response_seconds": event.response_seconds}
            if event.round == 0
            else {}
        )
        return FactChange(
            fields={"received_at": event.received_at, **first},
            status="replied",
            round=event.round,
            latest={REPLY: {"last_replied_at": event.replied_at, "reply_round": event.round}},
        )
    if isinstance(event, ComplaintAccepted):
        return FactChange(fields={"accepted_at": event.at}, status="accepted")
    if isinstance(event, SupplementRequested):
        return FactChange(fields={"supplement_requested_at": event.at}, status="needs_supplement")
    if isinstance(event, ComplaintSupplemented):
        return FactChange(fields={"supplemented_at": event.at}, status="accepted")
    if isinstance(event, ComplaintNotAccepted):
        return FactChange(
            fields={
                "not_accepted_reason": event.reason,
                "not_accepted_label": event.reason_label,
                "ended_at": event.at,
            },
            status="not_accepted",
        )
    if isinstance(event, ComplaintTransferred):
        return FactChange(
            fields={"transferred_to": event.to_body, "ended_at": event.at}, status="transferred"
        )
    if isinstance(event, ComplaintResolvedOnSpot):
        return FactChange(fields={"ended_at": event.at}, status="resolved_on_spot")
    if isinstance(event, ComplaintClosed):
        closure = {
            "satisfaction": event.satisfaction,
            "finding": event.finding,
            "closed_at": event.at,
            "closed_round": event.round,
        }
        latest: dict[str, dict[str, Any]] = {CLOSURE: closure}
        if event.category and event.department:  # intake's view at closure, the newest
            latest[ASSIGNMENT] = {"category": event.category, "department": event.department}
        return FactChange(status="closed", round=event.round, latest=latest)
    if isinstance(event, ComplaintReopened):
        return FactChange(
            status="reopened",
            round=event.reopen_count,
            highest={"reopen_count": event.reopen_count, "flagged": event.flagged},
        )
    if isinstance(event, ComplaintExtended):
        deadline = {"due_at": event.due_at, "deadline_pending_year": None}
        return FactChange(
            latest={DEADLINE: deadline},
            tallies=("extensions",),
            members={"deadlines": _given(deadline, occurred_at)},
        )
    if isinstance(event, DeadlineChanged):
        return FactChange(
            latest={DEADLINE: _deadline(event)},
            members={"deadlines": _given(_deadline(event), occurred_at)},
        )
    if isinstance(event, ComplaintEscalated):
        return FactChange(
            latest={ESCALATION: {"last_escalation": event.level}},
            tallies=("escalations",),
            members={"escalation_levels": event.level},
        )
    if isinstance(event, ComplaintOverdue):
        # The latest reply deadline routing found passed unanswered: overdue while it is
        # still the deadline in force (an extension or a re-review gives a later one).
        passed = (
            {"overdue_due_at": event.due_at}
            if event.level == LadderLevel.REPLY_DUE and event.due_at is not None
            else {}
        )
        return FactChange(fields={"overdue_flagged_at": occurred_at}, highest=passed)
    return FactChange()
