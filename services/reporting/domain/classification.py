"""The monthly classification table (投诉分类统计表) as counters: what one complaint's facts
add to it, and how a change of those facts moves the counters. Pure: facts in, numbers and
MongoDB updates out.

A complaint counts once, under the month it was received (China time), its hospital, its
category and its lead department, in columns that are 0 or 1 (`COLUMNS`). When its facts
change, the counters take the difference of its contribution before and after
(`counter_moves`), so a re-route moves it from one department's row to another's and a
reopened case leaves the closed columns it had.

Counter documents, each addressed by `_id` alone (ARCHITECTURE.md "Storage"):

- `<YYYYMM>/c/<category>`: `h.<hospital>.w<n>`, the bureau's rows of that category, three
  columns packed in each field (`unpacked`);
- `<YYYYMM>/h/<hospital>`: `c.<category>.<column>` and
  `d.<department>.<category>.<column>`, that hospital's rows, and `dl.<department>` labels;
- `categories`: `c.<category>` (the categories any month counts) and `l.<category>` labels;
- `overdue`: `h.<hospital>`, the overdue complaints still being handled (the ops gauge).

Rollups: the same moves go to the complaint's quarter (`<YYYYQn>/...`) and year
(`<YYYY>/...`) documents of both kinds, so a quarter's or a year's table reads as few
documents as a month's (`covering_periods`). The analyses' documents (domain/analysis.py):

- `<period>/t` and `<period>/t/<hospital>`: response-time histograms of first replies
  (domain/response_times.py) by hospital, category, department, priority (the bureau's)
  and by category, department, priority (the hospital's);
- `<YYYYQn>/b`: the bureau's quarter by category `c.<category>.<column>`, by department
  across hospitals `d.<department>.<column>`, and by hospital `h.<hospital>.<column>` (the
  `COMPARED` columns only);
- `<YYYYQn>/r/<hospital>/<b>`: recurrence, `s.<staff key>.<complaint>` and
  `p.<complainant key>.<complaint>` (keyed hashes, shared/matching.py) of the keys whose
  first hex digit is `<b>` (16 buckets: each stays small enough to read back after every
  `$inc`), `n.<complaint>` the case numbers;
- derived from those, only the groups that reached `RECURRENCE_THRESHOLD`
  (`recurring_moves` keeps them current, `recurring_documents` recomputes them):
  `<YYYYQn>/rb`, the bureau's, `h.<hospital>.<s|p>.<key>` their counts, and
  `<YYYYQn>/rr/<hospital>`, a hospital's, `<s|p>.<key>.<complaint>` and `n.<complaint>`;
- `<YYYYQn>/k`: the case library's counts, `h.<hospital>.<reason>` and `.total`, and
  `<YYYYQn>/k/<hospital>` its cases, `c.<complaint>.<reason>`, `n.<complaint>`;
- `<YYYY>/s`: the scorecard, `h.<hospital>.<department>.<received|substantiated|partly>`.

Columns, for the complaint as its facts show it now:

- received: every complaint; accepted: accepted (at registration, or on supplement), even
  if later transferred; not_accepted.<reason>; transferred; resolved_on_spot.
- replied_on_time / replied_late: the first reply against the deadline in force when it was
  given (the latest deadline given before it: an extension counts, a later re-review does
  not). A deadline still waiting for its year's calendar cannot have passed: on time.
- open: still in the hospital's hands (received, awaiting a supplement, accepted, assigned,
  under re-review). overdue: replied late, or still running past the deadline in force
  (routing flagged that deadline overdue and no extension or re-review replaced it).
- substantiated / partly / unsubstantiated and satisfied / basically / dissatisfied: a
  closed complaint's finding and return visit (a reopened one has none until closed again).
- escalated.<level>: each escalation level the case reached.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson.int64 import Int64

from services.reporting.domain.facts import code_of, field_key, version_of
from services.reporting.domain.response_times import Response, increments, response_of
from services.reporting.domain.status import RUNNING, status_of
from services.reporting.domain.working_days import working_days_between
from shared.contracts import CHINA, LadderLevel
from shared.dates import stored_utc

UNROUTED, UNASSIGNED = "unrouted", "unassigned"

# Not-accepted reasons as intake defines them (services/intake/domain/outcomes.py), with
# the short headers of the table. A reason not listed still counts, headed by its code.
NOT_ACCEPTED_REASONS: dict[str, str] = {
    "in_court_or_mediation": "已起诉或申请调解",
    "handled_by_authority_or_petition": "已由卫健或信访部门处理",
    "no_clear_target_or_facts": "无明确对象或事实",
    "police_or_criminal": "属公安管辖或涉嫌犯罪",
    "outside_remit": "不属本院职责",
}
ESCALATION_LEVELS = (LadderLevel.COMPLAINT_OFFICE, LadderLevel.LEADERSHIP, LadderLevel.BUREAU)

# Every column of the table, in its order, with its Chinese header.
COLUMNS: dict[str, str] = {
    "received": "登记",
    "accepted": "受理",
    **{
        f"not_accepted.{code}": f"不予受理（{label}）"
        for code, label in NOT_ACCEPTED_REASONS.items()
    },
    "transferred": "转办",
    "resolved_on_spot": "当场解决",
    "replied_on_time": "按时答复",
    "replied_late": "逾期答复",
    "open": "尚在办理",
    "overdue": "已逾期",
    "substantiated": "属实",
    "partly": "部分属实",
    "unsubstantiated": "不属实",
    "satisfied": "满意",
    "basically": "基本满意",
    "dissatisfied": "不满意",
    **{f"escalated.{level}": f"升级（{level.label}）" for level in ESCALATION_LEVELS},
}
ROW_LABELS = {UNROUTED: "未分类", UNASSIGNED: "未分派"}
FINDINGS = {
    "substantiated": "substantiated",
    "partly_substantiated": "partly",
    "unsubstantiated": "unsubstantiated",
}
SATISFACTION = {
    "satisfied": "satisfied",
    "basically_satisfied": "basically",
    "dissatisfied": "dissatisfied",
}
HANDLED = frozenset({"accepted", "assigned", "reopened", "replied", "closed"})
OPEN = RUNNING | {"needs_supplement"}
OVERDUE_ID, CATEGORIES_ID = "overdue", "categories"
# Why a case goes into the case library (案例库), by code.
LIBRARY_REASONS: dict[str, str] = {
    "major": "重大投诉",
    "reopened": "重新核实",
    "escalated_bureau": "升级至卫健委",
}
MAJOR_CASE_TYPES = frozenset({"adverse_event"})
SCORED = ("received", "substantiated", "partly")  # the scorecard's columns
# The columns the quarterly analysis compares; the bureau's quarter keeps them by hospital.
COMPARED = ("received", "accepted", "overdue", "substantiated", "partly", "dissatisfied")
RECURRENCE_THRESHOLD = 3  # the same staff member, department or complainant this often
RECURRENCE_GROUPS = ("s", "p")  # staff members, complainants (by keyed hash)


def column_label(code: str) -> str:
    if code in COLUMNS:
        return COLUMNS[code]
    group, _, detail = code.partition(".")
    return {"not_accepted": f"不予受理（{detail}）", "escalated": f"升级（{detail}）"}.get(
        group, code
    )


def column_order(codes: Iterable[str]) -> list[str]:
    """The table's columns: every known one, then any other code seen, in code order."""
    return [*COLUMNS, *sorted(set(codes) - set(COLUMNS))]


@dataclass(frozen=True)
class Contribution:
    """What one complaint adds to the table: where it counts and its columns that are 1."""

    month: str  # YYYYMM of receipt, China time
    hospital: str
    category: str
    department: str
    columns: frozenset[str]
    overdue_open: bool = False
    category_label: str | None = None
    department_label: str | None = None
    complaint_id: str | None = None
    case_number: str | None = None
    response: Response | None = None  # the first reply, for the response-time statistics
    staff_key: str | None = None  # keyed hash of the person complained about
    complainant_key: str | None = None  # keyed hash of the complainant (from intake)
    library: frozenset[str] = frozenset()  # LIBRARY_REASONS it qualifies by


def month_of(moment: datetime) -> str:
    return f"{stored_utc(moment).astimezone(CHINA):%Y%m}"


def deadline_at_reply(facts: Mapping[str, Any], replied_at: datetime) -> datetime | None:
    """The reply deadline in force when the first reply was given: the latest deadline
    given before it; failing that the first one given; failing that the current one
    (facts recorded before deadlines were kept)."""
    given = sorted(facts.get("deadlines") or [], key=lambda entry: entry["at"])
    if not given:
        due: datetime | None = facts.get("due_at")
        return due
    reply = version_of(stored_utc(replied_at))
    before = [entry for entry in given if entry["at"] <= reply]
    entry = before[-1] if before else given[0]
    in_force: datetime | None = entry.get("due_at")
    return in_force


def _overdue_now(facts: Mapping[str, Any]) -> bool:
    passed, due = facts.get("overdue_due_at"), facts.get("due_at")
    return passed is not None and due is not None and stored_utc(passed) >= stored_utc(due)


def contribution_of(facts: Mapping[str, Any]) -> Contribution | None:
    """The complaint's place and columns in the table; None until its receipt is known."""
    received_at = facts.get("received_at")
    if received_at is None:
        return None
    status = status_of(facts.get("status_rank"))
    columns = {"received"}
    if facts.get("accepted_at") or facts.get("supplemented_at") or status in HANDLED:
        columns.add("accepted")
    if status == "not_accepted":
        columns.add(f"not_accepted.{facts.get('not_accepted_reason') or 'unknown'}")
    if status in ("transferred", "resolved_on_spot"):
        columns.add(status)
    replied_at = facts.get("replied_at")
    late = False
    if replied_at is not None:
        due = deadline_at_reply(facts, replied_at)
        late = due is not None and stored_utc(replied_at) > stored_utc(due)
        columns.add("replied_late" if late else "replied_on_time")
    if status in OPEN:
        columns.add("open")
    overdue_open = status in RUNNING and _overdue_now(facts)
    if late or overdue_open:
        columns.add("overdue")
    if status == "closed":
        if facts.get("finding") in FINDINGS:
            columns.add(FINDINGS[facts["finding"]])
        if facts.get("satisfaction") in SATISFACTION:
            columns.add(SATISFACTION[facts["satisfaction"]])
    levels = facts.get("escalation_levels") or []
    columns |= {f"escalated.{level}" for level in levels}
    response = None
    if replied_at is not None and facts.get("response_seconds") is not None:
        response = response_of(
            response_seconds=float(facts["response_seconds"]),
            working_days=working_days_between(stored_utc(received_at), stored_utc(replied_at)),
            priority=facts.get("priority") or "unknown",
            on_time=not late,
        )
    category = facts.get("category") or UNROUTED
    department = facts.get("department") or UNASSIGNED
    labels = facts.get("labels") or {}
    return Contribution(
        month=month_of(received_at),
        hospital=facts["hospital_id"],
        category=category,
        department=department,
        columns=frozenset(columns),
        overdue_open=overdue_open,
        category_label=(labels.get("c") or {}).get(field_key(category)),
        department_label=(labels.get("d") or {}).get(field_key(department)),
        complaint_id=facts.get("_id"),
        case_number=facts.get("case_number"),
        response=response,
        staff_key=facts.get("target_staff_key"),
        complainant_key=facts.get("complainant_key"),
        library=library_reasons(facts, levels),
    )


def library_reasons(facts: Mapping[str, Any], levels: Iterable[str]) -> frozenset[str]:
    """Major: a group complaint (群体), an urgent one (may endanger a patient) or an adverse
    event; reopened: disputed at least once; escalated to the bureau's supervisors."""
    reasons = set()
    if (
        facts.get("group")
        or facts.get("priority") == "urgent"
        or facts.get("case_type") in MAJOR_CASE_TYPES
    ):
        reasons.add("major")
    if (facts.get("reopen_count") or 0) >= 1:
        reasons.add("reopened")
    if LadderLevel.BUREAU in set(levels):
        reasons.add("escalated_bureau")
    return frozenset(reasons)


def quarter_of(month: str) -> str:
    """`202602` → `2026Q1`."""
    return f"{month[:4]}Q{(int(month[4:]) - 1) // 3 + 1}"


def periods_of(month: str) -> tuple[str, str, str]:
    """The month and the quarter and year it rolls up into."""
    return month, quarter_of(month), month[:4]


def covering_periods(months: list[str]) -> list[str]:
    """Consecutive months (YYYYMM, oldest first) as the fewest counter periods: each whole
    calendar year as its year, each whole quarter left as its quarter, the rest as months.
    Their documents add up to the same table (every move goes to all three)."""
    periods: list[str] = []
    i = 0
    while i < len(months):
        year, month = months[i][:4], int(months[i][4:])
        if month == 1 and months[i + 11 : i + 12] == [f"{year}12"]:
            periods.append(year)
            i += 12
        elif (month - 1) % 3 == 0 and months[i + 2 : i + 3] == [f"{year}{month + 2:02d}"]:
            periods.append(quarter_of(months[i]))
            i += 3
        else:
            periods.append(months[i])
            i += 1
    return periods


def _path(column: str) -> str:
    return ".".join(field_key(part) for part in column.split(".", 1))


# The bureau's rows (category documents) are the most read: 2,400 rows of a month and
# more of a quarter in a 200-hospital region, and the embedded server spends its time per
# field it reads, not per byte. So each hospital's row there packs three known columns
# into one integer field `w<n>`: column i of COLUMNS counts in digit i % 3 of field
# w<i // 3>, base 2**21 (`$inc` by 2**(21·digit) moves one column alone). Digits are read
# balanced (−2**20 … 2**20 − 1), so even a count left negative by a partial write reads
# as itself. A column not in COLUMNS (an unknown reason) keeps its own field. Packed fields
# are 64-bit integers from their first write (`Int64`, kept by `apply_update`): FerretDB
# wraps a 32-bit field that `$inc` takes past 2**31 instead of widening it as MongoDB
# does, which 1,024 counts of the second digit would. COLUMNS' order is the storage
# format of these fields: a new column goes at its end (a test pins the order).
DIGIT_BITS, DIGITS = 21, 3
PACKED: dict[str, int] = {column: i for i, column in enumerate(COLUMNS)}


def _word_path(column: str, path: str) -> str:
    index = PACKED.get(column)
    return path if index is None else f"w{index // DIGITS}"


def _unit(column: str) -> int:
    index = PACKED.get(column)
    return 1 if index is None else 1 << (DIGIT_BITS * (index % DIGITS))


def unpacked(row: Mapping[str, Any]) -> dict[str, int]:
    """A hospital's row of a category document as counts by column code."""
    counts: dict[str, int] = {}
    plain: dict[str, Any] = {}
    half, base = 1 << (DIGIT_BITS - 1), 1 << DIGIT_BITS
    columns = list(PACKED)
    for key, value in row.items():
        if key[:1] == "w" and key[1:].isdigit() and isinstance(value, int):
            rest, first = int(value), int(key[1:]) * DIGITS
            for index in range(first, min(first + DIGITS, len(columns))):
                digit = (rest + half) % base - half
                rest = (rest - digit) >> DIGIT_BITS
                if digit:
                    counts[columns[index]] = counts.get(columns[index], 0) + digit
        else:
            plain[key] = value
    for code, n in flatten(plain).items():
        counts[code] = counts.get(code, 0) + n
    return counts


def category_id(month: str, category: str) -> str:
    return f"{month}/c/{field_key(category)}"


def hospital_id_of(month: str, hospital: str) -> str:
    return f"{month}/h/{field_key(hospital)}"


def times_id(period: str, hospital: str | None = None) -> str:
    return f"{period}/t" if hospital is None else f"{period}/t/{field_key(hospital)}"


def bureau_quarter_id(quarter: str) -> str:
    return f"{quarter}/b"


def recurrence_id(quarter: str, hospital: str, key: str) -> str:
    """The bucket of `key` (a keyed hash, hex): its first digit."""
    return f"{quarter}/r/{field_key(hospital)}/{key[:1]}"


def recurring_id(quarter: str, hospital: str | None = None) -> str:
    """The recurring groups: the bureau's counts, or one hospital's complaints."""
    return f"{quarter}/rb" if hospital is None else f"{quarter}/rr/{field_key(hospital)}"


def library_id(quarter: str, hospital: str | None = None) -> str:
    """The case library: the bureau's counts, or one hospital's cases."""
    return f"{quarter}/k" if hospital is None else f"{quarter}/k/{field_key(hospital)}"


def scorecard_id(year: str) -> str:
    return f"{year}/s"


def _increments(c: Contribution, sign: int) -> dict[str, dict[str, int]]:
    cat, hosp, dept = field_key(c.category), field_key(c.hospital), field_key(c.department)
    periods = periods_of(c.month)
    quarter, year = periods[1], periods[2]
    by_doc: dict[str, dict[str, int]] = defaultdict(dict)
    for column in c.columns:
        path = _path(column)
        packed = f"h.{hosp}.{_word_path(column, path)}"
        for period in periods:
            category_doc = by_doc[category_id(period, c.category)]
            category_doc[packed] = category_doc.get(packed, 0) + sign * _unit(column)
            hospital_doc = by_doc[hospital_id_of(period, c.hospital)]
            hospital_doc[f"c.{cat}.{path}"] = sign
            hospital_doc[f"d.{dept}.{cat}.{path}"] = sign
        bureau = by_doc[bureau_quarter_id(quarter)]
        bureau[f"c.{cat}.{path}"] = sign
        bureau[f"d.{dept}.{path}"] = sign
        if column in COMPARED:
            bureau[f"h.{hosp}.{path}"] = sign
        if column in SCORED:
            by_doc[scorecard_id(year)][f"h.{hosp}.{dept}.{path}"] = sign
    if c.response is not None:
        prio = field_key(c.response.priority)
        for period in periods:
            region, own = by_doc[times_id(period)], by_doc[times_id(period, c.hospital)]
            for path in increments(c.response):
                for group in (f"h.{hosp}", f"c.{cat}", f"d.{dept}", f"p.{prio}"):
                    region[f"{group}.{path}"] = sign
                for group in (f"c.{cat}", f"d.{dept}", f"p.{prio}"):
                    own[f"{group}.{path}"] = sign
    if c.complaint_id is not None:
        cid = field_key(c.complaint_id)
        for group, key in _keys(c):
            by_doc[recurrence_id(quarter, c.hospital, key)][f"{group}.{key}.{cid}"] = sign
        for reason in c.library:
            by_doc[library_id(quarter)][f"h.{hosp}.{reason}"] = sign
            by_doc[library_id(quarter)][f"h.{hosp}.total"] = sign
            by_doc[library_id(quarter, c.hospital)][f"c.{cid}.{reason}"] = sign
    if c.overdue_open:
        by_doc[OVERDUE_ID][f"h.{hosp}"] = sign
    return by_doc


def _keys(c: Contribution) -> list[tuple[str, str]]:
    """The recurrence groups the complaint counts in: (`s` or `p`, its keyed hash)."""
    return [(g, k) for g, k in (("s", c.staff_key), ("p", c.complainant_key)) if k]


def _labels(c: Contribution) -> dict[str, dict[str, Any]]:
    cat, hosp, dept = field_key(c.category), field_key(c.hospital), field_key(c.department)
    _, quarter, year = periods_of(c.month)
    sets: dict[str, dict[str, Any]] = {CATEGORIES_ID: {f"c.{cat}": 1, f"h.{hosp}": 1}}
    if c.category_label:
        sets[CATEGORIES_ID][f"l.{cat}"] = c.category_label
    if c.department_label:
        for period in periods_of(c.month):
            sets[hospital_id_of(period, c.hospital)] = {f"dl.{dept}": c.department_label}
        sets[bureau_quarter_id(quarter)] = {f"dl.{dept}": c.department_label}
        sets[scorecard_id(year)] = {f"dl.{hosp}.{dept}": c.department_label}
    if c.complaint_id is not None and c.case_number:
        number = {f"n.{field_key(c.complaint_id)}": c.case_number}
        for _, key in _keys(c):
            sets[recurrence_id(quarter, c.hospital, key)] = dict(number)
        if c.library:
            sets[library_id(quarter, c.hospital)] = dict(number)
    return sets


def _place(c: Contribution | None) -> tuple[Any, ...] | None:
    """What the `$set`s of `_labels` depend on: they are written again when it changes."""
    if c is None:
        return None
    return (
        c.month,
        c.hospital,
        c.category,
        c.department,
        c.category_label,
        c.department_label,
        c.complaint_id,
        c.case_number,
        c.staff_key,
        c.complainant_key,
        c.library,
    )


def _stored(path: str, n: int) -> int:
    """A packed field's increment as a 64-bit integer (see PACKED), others as they are."""
    leaf = path.rsplit(".", 1)[-1]
    return Int64(n) if leaf[:1] == "w" and leaf[1:].isdigit() else n


def counter_moves(
    before: Contribution | None, after: Contribution | None
) -> dict[str, dict[str, Any]]:
    """The update of each counter document (by `_id`) that turns `before` into `after`:
    `$inc` of the differences, and `$set` of the row's labels and of the category list when
    the complaint's place or labels changed. Documents with nothing to change are absent."""
    incs: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for contribution, sign in ((before, -1), (after, 1)):
        if contribution is None:
            continue
        for doc_id, paths in _increments(contribution, sign).items():
            for path, n in paths.items():
                incs[doc_id][path] += n
    updates: dict[str, dict[str, Any]] = {}
    for doc_id, paths in incs.items():
        moved = {path: _stored(path, n) for path, n in paths.items() if n}
        if moved:
            updates[doc_id] = {"$inc": moved}
    if after is not None and _place(after) != _place(before):
        for doc_id, values in _labels(after).items():
            updates.setdefault(doc_id, {})["$set"] = values
    return updates


# --- counter documents in memory (the rebuild, and tests) --------------------------------


def apply_update(document: dict[str, Any], update: Mapping[str, Mapping[str, Any]]) -> None:
    """What MongoDB does with an update of `$inc` and `$set` on dotted paths."""
    for operator, paths in update.items():
        for path, value in paths.items():
            *parents, leaf = path.split(".")
            node = document
            for part in parents:
                node = node.setdefault(part, {})
            if operator == "$inc":
                total = node.get(leaf, 0) + value
                node[leaf] = Int64(total) if isinstance(value, Int64) else total
            elif operator == "$set":
                node[leaf] = value
            elif operator == "$unset":
                node.pop(leaf, None)
            else:
                raise ValueError(f"{operator}: not a counter update")


def apply_moves(
    documents: dict[str, dict[str, Any]], updates: Mapping[str, Mapping[str, Any]]
) -> None:
    """What adapters/report_counters.py does with `counter_moves`, in memory: each update,
    and after a recurrence bucket's the `recurring_moves` it leads to."""
    for doc_id, update in updates.items():
        document = documents.setdefault(doc_id, {"_id": doc_id})
        apply_update(document, update)
        if is_recurrence_id(doc_id):
            for derived_id, derived in recurring_moves(doc_id, document, update).items():
                apply_update(documents.setdefault(derived_id, {"_id": derived_id}), derived)


def counter_documents(facts: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every counter document, computed afresh from every complaint's facts: the counters,
    then the recurring groups derived from them (`recurring_documents`)."""
    documents: dict[str, dict[str, Any]] = {}
    for one in facts:
        for doc_id, update in counter_moves(None, contribution_of(one)).items():
            apply_update(documents.setdefault(doc_id, {"_id": doc_id}), update)
    documents.update(recurring_documents(documents.values()))
    return documents


# --- the recurring groups: derived from the recurrence buckets -----------------------------


def is_recurrence_id(doc_id: str) -> bool:
    parts = doc_id.split("/")
    return len(parts) == 4 and parts[1] == "r"


def _recurring(document: Mapping[str, Any], group: str, key: str) -> list[str]:
    """The complaints (field keys) of one group of a bucket, as they count now."""
    complaints = (document.get(group) or {}).get(key) or {}
    return sorted(cid for cid, n in complaints.items() if n > 0)


def _recurring_sets(
    hospital: str, document: Mapping[str, Any], group: str, key: str, complaints: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `$set`s of a group that reached the threshold: the bureau's count, the
    hospital's complaints and their case numbers."""
    numbers = document.get("n") or {}
    own: dict[str, Any] = {f"{group}.{key}": dict.fromkeys(complaints, 1)}
    own |= {f"n.{cid}": numbers[cid] for cid in complaints if cid in numbers}
    return {f"h.{hospital}.{group}.{key}": len(complaints)}, own


def recurring_moves(
    doc_id: str, document: Mapping[str, Any], update: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The updates of `<Q>/rb` and `<Q>/rr/<hospital>` after `update` made the recurrence
    bucket `doc_id` read `document`: each group it touched is written there while it
    counts `RECURRENCE_THRESHOLD` complaints or more, and removed when it falls below.
    Each complaint counts 0 or 1 in a group, so the count before is the count after less
    the update's `$inc`s of that group."""
    quarter, _, hospital, _ = doc_id.split("/")
    touched: dict[tuple[str, str], int] = defaultdict(int)
    for path, n in (update.get("$inc") or {}).items():
        group, key, _ = path.split(".", 2)
        touched[(group, key)] += n
    for path in update.get("$set") or {}:  # a case number: the groups it is listed in
        cid = path.removeprefix("n.")
        for group in RECURRENCE_GROUPS:
            for key, complaints in (document.get(group) or {}).items():
                if (complaints or {}).get(cid, 0) > 0:
                    touched[(group, key)] += 0
    bureau: dict[str, dict[str, Any]] = {}
    own: dict[str, dict[str, Any]] = {}
    for (group, key), moved in sorted(touched.items()):
        complaints = _recurring(document, group, key)
        if len(complaints) >= RECURRENCE_THRESHOLD:
            counts, listed = _recurring_sets(hospital, document, group, key, complaints)
            bureau.setdefault("$set", {}).update(counts)
            own.setdefault("$set", {}).update(listed)
        elif len(complaints) - moved >= RECURRENCE_THRESHOLD:
            bureau.setdefault("$unset", {})[f"h.{hospital}.{group}.{key}"] = ""
            own.setdefault("$unset", {})[f"{group}.{key}"] = ""
    moves = {f"{quarter}/rb": bureau, f"{quarter}/rr/{hospital}": own}
    return {derived_id: update for derived_id, update in moves.items() if update}


def recurring_documents(documents: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """`<Q>/rb` and `<Q>/rr/<hospital>` computed afresh from the recurrence buckets among
    `documents`: what `recurring_moves` leaves them, whatever the order of the moves."""
    derived: dict[str, dict[str, Any]] = {}
    for document in documents:
        doc_id = document["_id"]
        if not is_recurrence_id(doc_id):
            continue
        quarter, _, hospital, _ = doc_id.split("/")
        for group in RECURRENCE_GROUPS:
            for key in sorted(document.get(group) or {}):
                complaints = _recurring(document, group, key)
                if len(complaints) < RECURRENCE_THRESHOLD:
                    continue
                counts, listed = _recurring_sets(hospital, document, group, key, complaints)
                for target, sets in (
                    (f"{quarter}/rb", counts),
                    (f"{quarter}/rr/{hospital}", listed),
                ):
                    apply_update(derived.setdefault(target, {"_id": target}), {"$set": sets})
    return derived


LABELS = ("dl", "l", "n")


def figures(document: Mapping[str, Any]) -> dict[str, Any]:
    """A counter document's numbers: without the zeros a move leaves behind and without
    labels, so the live document and the rebuilt one compare equal. (The live categories
    list and labels may also name a category or department no complaint counts in any
    more, e.g. `unrouted` before routing's decision: a row header with no row, which the
    rebuild drops.)"""

    def prune(node: Any) -> Any:
        if isinstance(node, Mapping):
            pruned = {key: prune(value) for key, value in node.items()}
            return {key: value for key, value in pruned.items() if value not in (0, {})}
        return node

    if document.get("_id") == CATEGORIES_ID:  # a list of row headers: no figures
        return {"_id": CATEGORIES_ID}
    kept: dict[str, Any] = prune({k: v for k, v in document.items() if k not in LABELS})
    return kept


# --- reading the table -----------------------------------------------------------------


def flatten(node: Mapping[str, Any], prefix: str = "") -> dict[str, int]:
    """`{"not_accepted": {"outside_remit": 1}}` → `{"not_accepted.outside_remit": 1}`."""
    flat: dict[str, int] = {}
    for key, value in node.items():
        code = f"{prefix}{code_of(key)}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{code}."))
        elif isinstance(value, int | float):
            flat[code] = flat.get(code, 0) + int(value)
    return flat


@dataclass
class Table:
    """Rows keyed by (category, unit): a unit is a hospital (the bureau's table) or a
    department (one hospital's)."""

    rows: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    category_labels: dict[str, str] = field(default_factory=dict)
    unit_labels: dict[str, str] = field(default_factory=dict)

    def add(self, category: str, unit: str, counts: Mapping[str, int]) -> None:
        row = self.rows.setdefault((category, unit), {})
        for column, n in counts.items():
            row[column] = row.get(column, 0) + n

    def nonzero_rows(self) -> list[tuple[str, str, dict[str, int]]]:
        return [
            (category, unit, {column: n for column, n in counts.items() if n})
            for (category, unit), counts in sorted(self.rows.items())
            if any(counts.values())
        ]

    def columns(self) -> list[str]:
        return column_order(column for _, _, counts in self.nonzero_rows() for column in counts)


def categories_in(document: Mapping[str, Any] | None) -> tuple[list[str], dict[str, str]]:
    """The categories document: which categories any month counts, and their labels."""
    document = document or {}
    codes = sorted(code_of(key) for key in document.get("c") or {})
    labels = {code_of(key): label for key, label in (document.get("l") or {}).items()}
    return codes, labels


def bureau_table(
    category_documents: Iterable[Mapping[str, Any]],
    category_labels: Mapping[str, str],
    hospital_names: Mapping[str, str] | None = None,
) -> Table:
    """Rows category × hospital from the months' category documents; a hospital's row
    shows its name where the region names it."""
    table = Table(category_labels=dict(category_labels), unit_labels=dict(hospital_names or {}))
    for document in category_documents:
        category = code_of(document["_id"].split("/", 2)[2])
        for hospital, counts in (document.get("h") or {}).items():
            table.add(category, code_of(hospital), unpacked(counts))
    return table


def hospital_table(
    hospital_documents: Iterable[Mapping[str, Any]], category_labels: Mapping[str, str]
) -> Table:
    """Rows category × department of one hospital from its months' documents."""
    table = Table(category_labels=dict(category_labels))
    for document in hospital_documents:
        for department, by_category in (document.get("d") or {}).items():
            for category, counts in by_category.items():
                table.add(code_of(category), code_of(department), flatten(counts))
        for department, label in (document.get("dl") or {}).items():
            table.unit_labels[code_of(department)] = label
    return table


def overdue_open_by_hospital(document: Mapping[str, Any] | None) -> dict[str, int]:
    return {code_of(hospital): int(n) for hospital, n in ((document or {}).get("h") or {}).items()}
