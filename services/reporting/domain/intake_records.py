"""The facts a complaint's record in intake implies: what the rebuild reads (rebuild.py).

Intake keeps each complaint as one document: its state, its tamper-evident timeline and
the ladder steps it reached (`escalations`). Every fact the reports count is there, so the
read models can be rebuilt from it alone. The record is read back as the FactChanges its
events made (domain/facts.py) and folded by the same rules, so a rebuilt fact document
counts like the live one (domain/classification.py `contribution_of`).

Where the two may still differ, by design:
- a step's time is intake's (the timeline entry's), not the event's: a deadline routing
  moved counts from when intake recorded it;
- a reply is judged by the deadline intake had in force as it was given (the `replied`
  entry's `due_at`; records older than that entry field fall back on the deadlines the
  timeline shows, then on the current one). Reporting judges by the deadlines its events
  gave, which agree unless a deadline change and the reply crossed in flight;
- the labels are the current category's and department's only, and `applied` names
  steps of the record (`<complaint id>/<step>`), not event ids.
Pure: a record in, a fact document out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.reporting.domain.facts import (
    ASSIGNMENT,
    CLOSURE,
    DEADLINE,
    ESCALATION,
    REPLY,
    FactChange,
    apply_fact_update,
    fact_update,
    field_key,
    new_facts,
    version_of,
)
from shared.contracts import LadderLevel
from shared.dates import stored_utc
from shared.matching import DEV_MATCH_KEY, staff_key

# The ladder levels published as complaint.escalated; the deadline levels are
# complaint.overdue, the warning complaint.sla_warning (reporting counts neither as an
# escalation).
ESCALATED = frozenset({LadderLevel.COMPLAINT_OFFICE, LadderLevel.LEADERSHIP, LadderLevel.BUREAU})
OVERDUE = frozenset({LadderLevel.ACCEPTANCE_DUE, LadderLevel.ACTION_DUE, LadderLevel.REPLY_DUE})


@dataclass(frozen=True)
class Step:
    """One thing the record shows happened: its name (unique in the record), when, and
    the facts it records."""

    name: str
    at: datetime
    change: FactChange


def facts_of_record(record: Mapping[str, Any], *, match_key: str = DEV_MATCH_KEY) -> dict[str, Any]:
    """The fact document reporting would hold for this complaint."""
    complaint_id, hospital_id = record["_id"], record["hospital_id"]
    document = new_facts(complaint_id, hospital_id)
    for step in steps_of(record, match_key=match_key):
        update = fact_update(
            step.change,
            hospital_id=hospital_id,
            event_id=f"{complaint_id}/{step.name}",
            version=version_of(stored_utc(step.at)),
            current=document,
        )
        apply_fact_update(document, update)
    return document


def steps_of(record: Mapping[str, Any], *, match_key: str) -> Iterator[Step]:
    timeline: list[Mapping[str, Any]] = record.get("timeline") or []
    received_at = record["received_at"]
    yield Step("received", record.get("registered_at") or received_at, _receipt(record, match_key))
    yield from _acceptance(record)
    assignment = record.get("assignment")
    if assignment:
        last = max((entry["at"] for entry in timeline), default=received_at)
        yield Step("assignment", last, _assignment(record, assignment))
    yield from _deadlines(timeline)
    yield from _replies(record, timeline)
    yield from _closure(record, timeline)
    if record.get("reopen_count"):
        count = record["reopen_count"]
        yield Step(
            "reopened",
            record.get("reopened_at") or received_at,
            FactChange(
                status="reopened",
                round=count,
                highest={"reopen_count": count, "flagged": bool(record.get("flagged"))},
            ),
        )
    told = (record.get("extensions") or 0) - (
        1 if (record.get("extension") or {}).get("awaiting_deadline") else 0
    )
    for n in range(max(told, 0)):
        yield Step(f"extension/{n}", received_at, FactChange(tallies=("extensions",)))
    yield from _ladder(record.get("escalations") or [])


def _receipt(record: Mapping[str, Any], match_key: str) -> FactChange:
    fields: dict[str, Any] = {
        key: record.get(key) for key in ("channel", "kind", "case_number", "group", "direct")
    }
    fields["received_at"] = record["received_at"]
    if record.get("target_staff_id"):
        fields["target_staff_key"] = staff_key(match_key, record["target_staff_id"])
    if record.get("complainant_key"):
        fields["complainant_key"] = record["complainant_key"]
    return FactChange(fields=fields, status="received")


def _acceptance(record: Mapping[str, Any]) -> Iterator[Step]:
    supplement = record.get("supplement") or {}
    if supplement.get("requested_at"):
        at = supplement["requested_at"]
        yield Step(
            "supplement_requested",
            at,
            FactChange(fields={"supplement_requested_at": at}, status="needs_supplement"),
        )
    if supplement.get("supplied_at"):
        at = supplement["supplied_at"]
        yield Step(
            "supplemented", at, FactChange(fields={"supplemented_at": at}, status="accepted")
        )
    acceptance = record.get("acceptance") or {}
    if acceptance.get("decision") == "accepted":
        at = acceptance["at"]
        yield Step("accepted", at, FactChange(fields={"accepted_at": at}, status="accepted"))
    elif acceptance.get("decision") == "not_accepted":
        at = acceptance["at"]
        fields = {
            "not_accepted_reason": acceptance.get("reason"),
            "not_accepted_label": acceptance.get("reason_label"),
            "ended_at": at,
        }
        yield Step("not_accepted", at, FactChange(fields=fields, status="not_accepted"))
    transfer = record.get("transfer") or {}
    if transfer.get("at"):
        fields = {"transferred_to": transfer.get("to_body"), "ended_at": transfer["at"]}
        yield Step("transferred", transfer["at"], FactChange(fields=fields, status="transferred"))
    on_spot = record.get("on_spot") or {}
    if on_spot.get("at"):
        at = on_spot["at"]
        yield Step(
            "resolved_on_spot", at, FactChange(fields={"ended_at": at}, status="resolved_on_spot")
        )


def _assignment(record: Mapping[str, Any], assignment: Mapping[str, Any]) -> FactChange:
    """Routing's current decision, as the newest: the record holds no older one that still
    counts. Assigned (status) once the handler was told: intake marks the receipt sent
    with the first complaint.assigned."""
    category, department = assignment["category"], assignment["department"]
    return FactChange(
        fields={
            f"labels.c.{field_key(category)}": assignment.get("category_label"),
            f"labels.d.{field_key(department)}": assignment.get("department_label"),
        },
        status="assigned" if record.get("receipt_sent") else None,
        latest={
            ASSIGNMENT: {
                "category": category,
                "department": department,
                "priority": assignment.get("priority"),
                "revision": assignment.get("revision"),
                "case_type": assignment.get("case_type"),
            },
            DEADLINE: {
                "due_at": assignment.get("due_at"),
                "deadline_pending_year": assignment.get("deadline_pending_year"),
            },
        },
    )


def _deadlines(timeline: list[Mapping[str, Any]]) -> Iterator[Step]:
    """Each deadline routing set after the first, when intake recorded it."""
    for n, entry in enumerate(timeline):
        if entry.get("type") == "deadline_changed":
            given = {"at": version_of(stored_utc(entry["at"])), "due_at": _due(entry)}
            yield Step(f"deadline/{n}", entry["at"], FactChange(members={"deadlines": given}))


def _due(entry: Mapping[str, Any]) -> datetime | None:
    due: datetime | None = (entry.get("data") or {}).get("due_at")
    return due


def _replies(record: Mapping[str, Any], timeline: list[Mapping[str, Any]]) -> Iterator[Step]:
    replies = [entry for entry in timeline if entry.get("type") == "replied"]
    if replies:
        first = replies[0]
        replied_at = first["at"]
        fields = {
            "replied_at": replied_at,
            "response_seconds": (
                stored_utc(replied_at) - stored_utc(record["received_at"])
            ).total_seconds(),
        }
        members: dict[str, Any] = {}
        if "due_at" in (first.get("data") or {}):
            # The deadline in force as the first reply was given (intake's view).
            members["deadlines"] = {
                "at": version_of(stored_utc(replied_at)),
                "due_at": _due(first),
            }
        yield Step("first_reply", replied_at, FactChange(fields=fields, members=members))
    reply = record.get("reply") or {}
    if reply.get("replied_at"):
        round_ = reply.get("round") or 0
        yield Step(
            "reply",
            reply["replied_at"],
            FactChange(
                status="replied",
                round=round_,
                latest={REPLY: {"last_replied_at": reply["replied_at"], "reply_round": round_}},
            ),
        )


def _closure(record: Mapping[str, Any], timeline: list[Mapping[str, Any]]) -> Iterator[Step]:
    """The last closure, in the round it was given: the disputes recorded before it."""
    closure = record.get("closure") or {}
    closings = [n for n, entry in enumerate(timeline) if entry.get("type") == "closed"]
    if not closure.get("closed_at") or not closings:
        return
    round_ = sum(1 for entry in timeline[: closings[-1]] if entry.get("type") == "reopened")
    values = {
        "satisfaction": closure.get("satisfaction"),
        "finding": (record.get("finding") or {}).get("result"),
        "closed_at": closure["closed_at"],
        "closed_round": round_,
    }
    yield Step(
        "closed",
        closure["closed_at"],
        FactChange(status="closed", round=round_, latest={CLOSURE: values}),
    )


def _ladder(escalations: list[Mapping[str, Any]]) -> Iterator[Step]:
    """Each ladder step reached: an escalation counts once per event that announced it
    (as reporting counts complaint.escalated), an overdue reply deadline by its date."""
    for item in escalations:
        level, at = item.get("level"), item.get("reached_at")
        if at is None:
            continue
        where = f"ladder/{level}/{item.get('round', 0)}"
        if level in ESCALATED:
            for event_id in item.get("event_ids") or [where]:
                yield Step(
                    f"{where}/{event_id}",
                    at,
                    FactChange(
                        latest={ESCALATION: {"last_escalation": level}},
                        tallies=("escalations",),
                        members={"escalation_levels": level},
                    ),
                )
        elif level in OVERDUE:
            passed = (
                {"overdue_due_at": item["due_at"]}
                if level == LadderLevel.REPLY_DUE and item.get("due_at") is not None
                else {}
            )
            yield Step(where, at, FactChange(fields={"overdue_flagged_at": at}, highest=passed))
