"""Intake's read models (pure: no I/O): the history pages and the worklists, as documents
addressed by `_id`, so that every list staff wait on reads a bounded number of documents
(on FerretDB v1 any other filter reads every complaint: ARCHITECTURE.md "Storage").

The views, one document each (MongoDB's bucket and subset patterns):
- `day:<hospital>:<YYYY-MM-DD>`: every complaint a hospital received that day (China time),
  and `day:*:<day>` the region's, for the bureau; the history is walked day by day;
- `span:<hospital>` / `span:*`: the first day with a complaint, where a walk back stops;
- `handler:<hospital>:<staff_id>`: a handler's open cases (being handled);
- `department:<hospital>:<code>`: a department's queue (lead or co-handling, being handled);
- `acceptance:<hospital>`: the complaint office's acceptance queue (received, not decided);
- `overdue:<hospital>` / `overdue:*`: open cases past a deadline (the escalation ladder's
  overdue step recorded, for the deadline the case has now).

Why the order of changes does not matter (the merge rules):
- A complaint's row is stored under a key of its version, `rows.<id>_v<version>`: the same
  version written twice is the same row (a redelivery changes nothing), and a reader shows
  the highest version of each complaint, so an older row arriving late never hides a newer.
- A complaint leaving a view (reassigned, replied, accepted) leaves a tombstone there,
  `gone.s<slot>.<id>` = its version, kept with `$max`: rows of that version or lower are
  hidden, so a late older row cannot bring it back, while a later return (a reopened case)
  has a higher version and shows.
- Each write removes the complaint's rows of the versions just before it (they are hidden
  anyway) and the tombstones of the slot two hours back, so views hold about what they show.
  Tombstones only ever hide lower versions, so one removed early costs nothing but against
  a write that arrives hours late, which the in-process projection does not produce.

`transition(before, after)` is what one change writes, `rebuilt(complaints)` what the views
should hold computed from the complaints alone; `shown(view)` reads either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.intake.domain.complaint import ComplaintStatus
from shared.contracts import LadderLevel
from shared.contracts.vocabulary import CHINA

REGION = "*"  # the scope of the region's views (hospital ids never are "*")
PRUNED_VERSIONS = 16  # how many versions before its own a write removes
SLOTS = 4  # tombstone slots, an hour each; a write clears the slot two hours back

Row = dict[str, Any]
View = dict[str, Any]
Update = dict[str, dict[str, Any]]

S = ComplaintStatus
AWAITING_ACCEPTANCE = frozenset({S.RECEIVED, S.NEEDS_SUPPLEMENT})
BEING_HANDLED = frozenset({S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS, S.REOPENED})
OPEN = AWAITING_ACCEPTANCE | BEING_HANDLED
PAST_DUE = frozenset(LadderLevel) - {LadderLevel.WARNING}


@dataclass(frozen=True)
class Worklist:
    """One kind of worklist: its code in the API and its label for staff."""

    code: str
    label: str


HANDLER = Worklist("handler", "承办人在办案件")
DEPARTMENT = Worklist("department", "科室待办队列")
ACCEPTANCE = Worklist("acceptance", "待受理队列")
OVERDUE = Worklist("overdue", "超期案件")
WORKLISTS = {w.code: w for w in (HANDLER, DEPARTMENT, ACCEPTANCE, OVERDUE)}


# --- addresses ------------------------------------------------------------------------------


def china_day(moment: datetime) -> date:
    """The day (Asia/Shanghai) of a stored UTC time."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(CHINA).date()


def day_start(day: date) -> datetime:
    """Midnight of a China day, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA).astimezone(UTC)


def day_view(scope: str, day: date) -> str:
    return f"day:{scope}:{day.isoformat()}"


def span_view(scope: str) -> str:
    return f"span:{scope}"


def worklist_view(worklist: Worklist, scope: str, member: str | None = None) -> str:
    return f"{worklist.code}:{scope}" + (f":{member}" if member is not None else "")


# --- what a complaint shows -----------------------------------------------------------------


def _assignment(complaint: Mapping[str, Any]) -> Mapping[str, Any]:
    return complaint.get("assignment") or {}


def is_overdue(complaint: Mapping[str, Any]) -> bool:
    """Open, and the ladder recorded a deadline passed for the deadline it has now: the
    acceptance deadline while awaiting acceptance, else the reply deadline (an extension
    moves `due_at` later, so an earlier deadline's overdue step no longer counts)."""
    status = ComplaintStatus(complaint["status"])
    if status not in OPEN:
        return False
    due = _assignment(complaint).get("due_at")
    for step in complaint.get("escalations") or []:
        if step.get("level") not in PAST_DUE:
            continue
        if step["level"] == LadderLevel.ACCEPTANCE_DUE:
            if status in AWAITING_ACCEPTANCE:
                return True
            continue
        stepped = step.get("due_at")
        if due is None or stepped is None or _utc(stepped) >= _utc(due):
            return True
    return False


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def row_of(complaint: Mapping[str, Any]) -> Row:
    """The compact row every view shows of a complaint, with the version it reflects."""
    assignment = _assignment(complaint)
    handler = assignment.get("handler") or {}
    return {
        "id": complaint["_id"],
        "v": int(complaint["version"]),
        "hospital_id": complaint["hospital_id"],
        "case_number": complaint["case_number"],
        "tracking_code": complaint["tracking_code"],
        "status": complaint["status"],
        "channel": complaint["channel"],
        "kind": complaint["kind"],
        "received_at": complaint["received_at"],
        "category": assignment.get("category"),
        "department": assignment.get("department"),
        "handler": handler.get("staff_id"),
        "handler_name": handler.get("name"),
        "due_at": assignment.get("due_at"),
        "overdue": is_overdue(complaint),
    }


def views_of(complaint: Mapping[str, Any]) -> set[str]:
    """Every view that shows the complaint now."""
    hospital = complaint["hospital_id"]
    day = china_day(complaint["received_at"])
    views = {day_view(hospital, day), day_view(REGION, day)}
    status = ComplaintStatus(complaint["status"])
    assignment = _assignment(complaint)
    if status in AWAITING_ACCEPTANCE:
        views.add(worklist_view(ACCEPTANCE, hospital))
    if status in BEING_HANDLED:
        handler = (assignment.get("handler") or {}).get("staff_id")
        if handler:
            views.add(worklist_view(HANDLER, hospital, handler))
        departments = [assignment.get("department")]
        departments += [d.get("code") for d in assignment.get("co_departments") or []]
        views |= {worklist_view(DEPARTMENT, hospital, d) for d in departments if d}
    if is_overdue(complaint):
        views |= {worklist_view(OVERDUE, hospital), worklist_view(OVERDUE, REGION)}
    return views


# --- writes ---------------------------------------------------------------------------------


def slot(now: datetime) -> int:
    return int(now.timestamp() // 3600) % SLOTS


def _pruned(complaint_id: str, version: int) -> dict[str, str]:
    first = max(1, version - PRUNED_VERSIONS)
    return {f"rows.{complaint_id}_v{k}": "" for k in range(first, version)}


def transition(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], *, now: datetime
) -> list[tuple[str, Update]]:
    """What one change of a complaint (`before` None: its registration) writes, as
    `(view id, update)`; safe to repeat and to apply in any order (module note)."""
    complaint_id, version = after["_id"], int(after["version"])
    current = slot(now)
    cleared = {f"gone.s{(current + 2) % SLOTS}": ""}
    row = row_of(after)
    shown_in = views_of(after)
    writes: list[tuple[str, Update]] = []
    for view in sorted(shown_in):
        update: Update = {
            "$set": {f"rows.{complaint_id}_v{version}": row},
            "$unset": {**_pruned(complaint_id, version), **cleared},
        }
        writes.append((view, update))
    left = views_of(before) - shown_in if before else set()
    for view in sorted(left):
        update = {
            "$max": {f"gone.s{current}.{complaint_id}": version},
            "$unset": {**_pruned(complaint_id, version), **cleared},
        }
        writes.append((view, update))
    if not before:
        day = china_day(after["received_at"]).isoformat()
        for scope in (after["hospital_id"], REGION):
            writes.append((span_view(scope), {"$min": {"first": day}}))
    return writes


def rebuilt(complaints: Iterable[Mapping[str, Any]]) -> dict[str, View]:
    """The views as the complaints say they should be (each complaint as stored now)."""
    views: dict[str, View] = {}
    for complaint in complaints:
        row = row_of(complaint)
        for view in views_of(complaint):
            rows = views.setdefault(view, {"_id": view, "rows": {}})["rows"]
            rows[f"{row['id']}_v{row['v']}"] = row
        first = china_day(complaint["received_at"]).isoformat()
        for scope in (complaint["hospital_id"], REGION):
            span = views.setdefault(span_view(scope), {"_id": span_view(scope), "first": first})
            span["first"] = min(span["first"], first)
    return views


# --- reading --------------------------------------------------------------------------------

_ROW_KEY = re.compile(r"^(?P<id>.+)_v(?P<version>\d+)$")


def shown(view: Mapping[str, Any] | None) -> dict[str, Row]:
    """The rows a view shows, by complaint id: each complaint's highest version, unless a
    tombstone of that version or higher says it left."""
    if not view:
        return {}
    gone: dict[str, int] = {}
    for slot_rows in (view.get("gone") or {}).values():
        for complaint_id, version in (slot_rows or {}).items():
            gone[complaint_id] = max(gone.get(complaint_id, 0), int(version))
    newest: dict[str, Row] = {}
    for key, row in (view.get("rows") or {}).items():
        match = _ROW_KEY.match(key)
        if match is None:
            continue
        complaint_id, version = match["id"], int(match["version"])
        if version <= gone.get(complaint_id, 0):
            continue
        if complaint_id not in newest or newest[complaint_id]["v"] < version:
            newest[complaint_id] = row
    return newest


def first_day(span: Mapping[str, Any] | None) -> date | None:
    if not span or not span.get("first"):
        return None
    return date.fromisoformat(span["first"])


def days_back(start: date, *, stop: date, at_most: int) -> list[date]:
    """The days a walk back through history reads: from `start` down to `stop`, at most
    `at_most` of them."""
    count = max(0, min(at_most, (start - stop).days + 1))
    return [start - timedelta(days=n) for n in range(count)]


# --- applying writes, as the server does (tests, the bench's seeding) ----------------------


def applied(views: dict[str, View], writes: Iterable[tuple[str, Update]]) -> dict[str, View]:
    """`views` after `writes` (each an upsert by `_id` with `$set`, `$unset`, `$max`, `$min`
    on dotted paths), in memory: what the server stores, for tests and seeding."""
    for view_id, update in writes:
        document = views.setdefault(view_id, {"_id": view_id})
        for operator, fields in update.items():
            for path, value in fields.items():
                *parents, leaf = path.split(".")
                target: dict[str, Any] | None = document
                for part in parents:
                    if target is None:
                        break
                    if operator == "$unset":
                        target = target.get(part)
                    else:
                        target = target.setdefault(part, {})
                if target is None:
                    continue
                if operator == "$set":
                    target[leaf] = value
                elif operator == "$unset":
                    target.pop(leaf, None)
                elif operator == "$max":
                    target[leaf] = max(target.get(leaf, value), value)
                elif operator == "$min":
                    target[leaf] = min(target.get(leaf, value), value)
                else:
                    raise ValueError(f"{operator}: not a view write")
    return views
