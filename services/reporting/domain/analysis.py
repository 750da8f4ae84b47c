"""The quarterly analysis, the department scorecard and the response-time statistics, read
from the counter documents domain/classification.py keeps. Pure: documents in, figures out.

Quarter codes are `2026Q1`; the previous quarter of Q1 is the last year's Q4.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.reporting.domain.classification import (
    COLUMNS,
    COMPARED,
    LIBRARY_REASONS,
    RECURRENCE_THRESHOLD,
    ROW_LABELS,
    flatten,
)
from services.reporting.domain.facts import code_of
from services.reporting.domain.response_times import (
    DAY_EDGES,
    HOUR_EDGES,
    Quantile,
    Statistics,
    quantile,
    statistics_of,
)

# The figures the quarterly analysis compares, with their Chinese labels.
QUARTER_COLUMNS: dict[str, str] = {code: COLUMNS[code] for code in COMPARED}
TOP = 5
RECURRENCE_KINDS = {
    "staff": "同一被投诉人员",
    "complainant": "同一投诉人",
    "department": "同一科室",
}
FLAG_THRESHOLD = 5  # substantiated complaints in a year that flag a department
VERDICTS = {"flagged": "需整改", "commended": "表扬"}
PSEUDONYM = 8  # hex digits of a keyed hash shown to tell groups apart (never the identity)


def previous_quarter(quarter: str) -> str:
    year, number = int(quarter[:4]), int(quarter[5])
    return f"{year - 1}Q4" if number == 1 else f"{year}Q{number - 1}"


def same_quarter_last_year(quarter: str) -> str:
    return f"{int(quarter[:4]) - 1}{quarter[4:]}"


def months_of_quarter(quarter: str) -> list[str]:
    first = (int(quarter[5]) - 1) * 3 + 1
    return [f"{quarter[:4]}{month:02d}" for month in range(first, first + 3)]


# --- figures by category and department of one quarter ----------------------------------


@dataclass
class QuarterFigures:
    """One quarter's counts by category and by department (codes), every column."""

    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    departments: dict[str, dict[str, int]] = field(default_factory=dict)
    department_labels: dict[str, str] = field(default_factory=dict)
    hospitals: dict[str, dict[str, int]] = field(default_factory=dict)  # the bureau's

    def total(self) -> dict[str, int]:
        return _sum(self.categories.values())


def _sum(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for row in rows:
        for code, n in row.items():
            total[code] = total.get(code, 0) + n
    return total


def _labels(document: Mapping[str, Any] | None) -> dict[str, str]:
    return {code_of(k): v for k, v in ((document or {}).get("dl") or {}).items()}


def bureau_quarter(document: Mapping[str, Any] | None) -> QuarterFigures:
    """From the bureau's quarter document `<YYYYQn>/b`."""
    document = document or {}
    return QuarterFigures(
        categories={code_of(k): flatten(v) for k, v in (document.get("c") or {}).items()},
        departments={code_of(k): flatten(v) for k, v in (document.get("d") or {}).items()},
        department_labels=_labels(document),
        hospitals={code_of(k): flatten(v) for k, v in (document.get("h") or {}).items()},
    )


def hospital_quarter(document: Mapping[str, Any] | None) -> QuarterFigures:
    """From a hospital's quarter document `<YYYYQn>/h/<hospital>`."""
    document = document or {}
    departments = {
        code_of(dept): _sum(flatten(counts) for counts in by_category.values())
        for dept, by_category in (document.get("d") or {}).items()
    }
    return QuarterFigures(
        categories={code_of(k): flatten(v) for k, v in (document.get("c") or {}).items()},
        departments=departments,
        department_labels=_labels(document),
    )


def comparison(
    this: Mapping[str, int], previous: Mapping[str, int], last_year: Mapping[str, int]
) -> dict[str, dict[str, int]]:
    """Each compared column: this quarter, the previous one, the same one last year, and
    the changes (this minus that)."""
    return {
        code: {
            "this": this.get(code, 0),
            "previous": previous.get(code, 0),
            "last_year": last_year.get(code, 0),
            "vs_previous": this.get(code, 0) - previous.get(code, 0),
            "vs_last_year": this.get(code, 0) - last_year.get(code, 0),
        }
        for code in QUARTER_COLUMNS
    }


def compared_rows(
    quarters: tuple[QuarterFigures, QuarterFigures, QuarterFigures], attribute: str
) -> dict[str, dict[str, dict[str, int]]]:
    """Every category (or department) any of the three quarters counts, compared."""
    rows = [getattr(q, attribute) for q in quarters]
    codes = sorted(set().union(*rows))
    return {code: comparison(*(row.get(code, {}) for row in rows)) for code in codes}


def top(rows: Mapping[str, Mapping[str, int]], n: int = TOP) -> list[str]:
    """The codes with the most received, most first (ties by code); none with zero."""
    ranked = sorted(
        (code for code, counts in rows.items() if counts.get("received", 0) > 0),
        key=lambda code: (-rows[code].get("received", 0), code),
    )
    return ranked[:n]


def label_of(code: str, labels: Mapping[str, str]) -> str:
    return labels.get(code) or ROW_LABELS.get(code, code)


# --- recurrence and the case library ------------------------------------------------------


@dataclass(frozen=True)
class Recurrence:
    kind: str  # RECURRENCE_KINDS
    hospital_id: str
    key: str  # a pseudonym (staff, complainant) or the department code
    complaints: tuple[tuple[str, str | None], ...]  # (complaint id, case number)
    count: int


GROUP_KINDS = {"s": "staff", "p": "complainant"}


def recurrences(
    hospital: str,
    document: Mapping[str, Any] | None,
    *,
    threshold: int = RECURRENCE_THRESHOLD,
) -> list[Recurrence]:
    """The staff members and complainants of one hospital's quarter counted in `threshold`
    complaints or more, by their keyed hashes only, with their complaints: from its
    recurring groups `<Q>/rr/<hospital>` (or a recurrence bucket: same layout)."""
    document = document or {}
    numbers = {code_of(k): v for k, v in (document.get("n") or {}).items()}
    found: list[Recurrence] = []
    for group, kind in GROUP_KINDS.items():
        for key, complaints in (document.get(group) or {}).items():
            ids = sorted(code_of(c) for c, n in complaints.items() if n > 0)
            if len(ids) >= threshold:
                listed = tuple((cid, numbers.get(cid)) for cid in ids)
                found.append(Recurrence(kind, hospital, key[:PSEUDONYM], listed, len(ids)))
    return sorted(found, key=lambda r: (r.kind, -r.count, r.key))


def bureau_recurrences(document: Mapping[str, Any] | None) -> list[Recurrence]:
    """Every hospital's recurring staff members and complainants with their counts (the
    complaints are listed hospital by hospital): from the bureau's `<Q>/rb`."""
    found: list[Recurrence] = []
    for hospital, groups in ((document or {}).get("h") or {}).items():
        for group, kind in GROUP_KINDS.items():
            for key, count in (groups.get(group) or {}).items():
                if count > 0:
                    found.append(Recurrence(kind, code_of(hospital), key[:PSEUDONYM], (), count))
    return sorted(found, key=lambda r: (r.hospital_id, r.kind, -r.count, r.key))


def department_recurrences(
    received: Mapping[str, Mapping[str, int]], *, threshold: int = RECURRENCE_THRESHOLD
) -> list[tuple[str, str, int]]:
    """(hospital, department, complaints) for each department with `threshold` or more."""
    return sorted(
        (hospital, dept, n)
        for hospital, by_department in received.items()
        for dept, n in by_department.items()
        if n >= threshold and dept not in ROW_LABELS
    )


@dataclass(frozen=True)
class LibraryCase:
    hospital_id: str
    complaint_id: str
    case_number: str | None
    reasons: tuple[str, ...]


def library_cases(hospital: str, document: Mapping[str, Any] | None) -> list[LibraryCase]:
    """One hospital's cases of the quarter's case library (`<Q>/k/<hospital>`): every case
    that qualifies, by case number."""
    document = document or {}
    numbers = {code_of(k): v for k, v in (document.get("n") or {}).items()}
    cases = []
    for cid, reasons in (document.get("c") or {}).items():
        kept = tuple(r for r in LIBRARY_REASONS if (reasons or {}).get(r, 0) > 0)
        if kept:
            cases.append(LibraryCase(hospital, code_of(cid), numbers.get(code_of(cid)), kept))
    return sorted(cases, key=lambda c: (c.case_number or "", c.complaint_id))


def library_counts(document: Mapping[str, Any] | None) -> dict[str, tuple[dict[str, int], int]]:
    """The case library by hospital (`<Q>/k`): its cases by reason, none with zero, and
    how many cases (one with two reasons counts once)."""
    counts = {}
    for hospital, by_reason in ((document or {}).get("h") or {}).items():
        kept = {r: int(by_reason[r]) for r in LIBRARY_REASONS if by_reason.get(r, 0) > 0}
        if kept:
            counts[code_of(hospital)] = (kept, int(by_reason.get("total", 0)))
    return dict(sorted(counts.items()))


# --- the department scorecard -------------------------------------------------------------


@dataclass(frozen=True)
class ScoredDepartment:
    hospital_id: str
    department: str
    label: str
    received: int
    substantiated: int
    partly: int
    verdict: str | None  # VERDICTS

    @property
    def verdict_label(self) -> str | None:
        return VERDICTS.get(self.verdict) if self.verdict else None


def verdict_of(*, received: int, substantiated: int, threshold: int = FLAG_THRESHOLD) -> str | None:
    """DOMAIN.md "Statistics and reports": 5 or more substantiated complaints in a year
    flag a department (需整改); a department with no complaint at all is commended (表扬).
    Partly substantiated ones are shown apart and do not count toward the flag."""
    if substantiated >= threshold:
        return "flagged"
    if received == 0:
        return "commended"
    return None


def scorecard(
    document: Mapping[str, Any] | None,
    departments: Mapping[str, Mapping[str, str]],
    *,
    hospital: str | None,
) -> list[ScoredDepartment]:
    """Every department of the year's scorecard document (`<YYYY>/s`), with every
    department `departments` names (hospital → code → name, the region file) even if no
    complaint counts there; only `hospital`'s when given."""
    document = document or {}
    counted = {
        code_of(hosp): {code_of(dept): flatten(counts) for dept, counts in by_dept.items()}
        for hosp, by_dept in (document.get("h") or {}).items()
    }
    labels = {
        code_of(hosp): {code_of(dept): label for dept, label in by_dept.items()}
        for hosp, by_dept in (document.get("dl") or {}).items()
    }
    hospitals = set(counted) | set(departments)
    if hospital is not None:
        hospitals &= {hospital}
    rows = []
    for hosp in sorted(hospitals):
        known = departments.get(hosp) or {}
        for dept in sorted(set(counted.get(hosp, {})) | set(known)):
            counts = counted.get(hosp, {}).get(dept, {})
            received, substantiated = counts.get("received", 0), counts.get("substantiated", 0)
            if received == 0 and dept not in known:
                continue  # a department whose complaints all moved elsewhere
            label = known.get(dept) or labels.get(hosp, {}).get(dept) or ROW_LABELS.get(dept, dept)
            rows.append(
                ScoredDepartment(
                    hosp,
                    dept,
                    label,
                    received,
                    substantiated,
                    counts.get("partly", 0),
                    verdict_of(received=received, substantiated=substantiated)
                    if dept not in ROW_LABELS
                    else None,
                )
            )
    return rows


# --- response times -----------------------------------------------------------------------

DIMENSIONS = {"hospital": "医院", "department": "科室", "category": "类别", "priority": "优先级"}
GROUPS = {"hospital": "h", "department": "d", "category": "c", "priority": "p"}


def add_groups(documents: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The periods' response-time documents added up, group by group (`h`, `c`, `d`, `p`):
    `{"c.fees": {"n": 3, "hr": {"24": 2, ...}, ...}}` as nested mappings."""
    total: dict[str, dict[str, Any]] = {}
    for document in documents:
        for group in GROUPS.values():
            for code, node in (document.get(group) or {}).items():
                target = total.setdefault(f"{group}.{code_of(code)}", {})
                _add(target, node)
    return total


def _add(target: dict[str, Any], node: Mapping[str, Any]) -> None:
    for key, value in node.items():
        if isinstance(value, Mapping):
            _add(target.setdefault(key, {}), value)
        elif isinstance(value, int | float):
            target[key] = target.get(key, 0) + int(value)


@dataclass(frozen=True)
class Timing:
    statistics: Statistics
    median_hours: Quantile | None
    p90_hours: Quantile | None
    median_working_days: Quantile | None
    p90_working_days: Quantile | None


def timing_of(node: Mapping[str, Any]) -> Timing:
    stats = statistics_of(node)
    return Timing(
        stats,
        quantile(stats.hours, HOUR_EDGES, 0.5),
        quantile(stats.hours, HOUR_EDGES, 0.9),
        quantile(stats.working_days, DAY_EDGES, 0.5),
        quantile(stats.working_days, DAY_EDGES, 0.9),
    )


def total_of(groups: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Every reply counts in exactly one category: their sum is the total."""
    total: dict[str, Any] = {}
    for name, node in groups.items():
        if name.startswith("c."):
            _add(total, node)
    return total
