"""The quarterly analysis (季度分析), the department scorecard (科室考评) and the
response-time statistics, each as JSON, CSV or XLSX. Every one reads a bounded number of
counter documents by `_id` (domain/classification.py lays them out), whatever the
history's length; each route's docstring says which."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from services.reporting.adapters.report_counters import ReportCounters
from services.reporting.api import exports
from services.reporting.api.deps import CountersDep, RegionDep
from services.reporting.api.routes import (
    FILE_RESPONSES,
    FirstMonth,
    Format,
    LastMonth,
    _format,
    _months,
    json_response,
)
from services.reporting.api.schemas import (
    QuantileValue,
    QuarterlyAnalysis,
    ResponseTimes,
    Scorecard,
    ScorecardRow,
    TimingRow,
)
from services.reporting.domain import analysis
from services.reporting.domain.classification import (
    LIBRARY_REASONS,
    bureau_quarter_id,
    categories_in,
    covering_periods,
    hospital_id_of,
    library_id,
    recurring_id,
    scorecard_id,
    times_id,
)
from services.reporting.domain.facts import code_of
from services.reporting.domain.response_times import DAY_EDGES, HOUR_EDGES, Quantile
from shared.auth import CurrentPrincipal
from shared.contracts import CHINA, Priority
from shared.errors import error_responses

router = APIRouter(prefix="/v1/reports", responses=error_responses(401, 403, 422, 503))

QUARTER = r"^20[0-9]{2}Q[1-4]$"


def _last_full_quarter() -> str:
    today = datetime.now(CHINA).date()
    index = today.year * 4 + (today.month - 1) // 3 - 1
    return f"{index // 4}Q{index % 4 + 1}"


def _rows(
    compared: dict[str, dict[str, dict[str, int]]], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """ComparedRow as plain data."""
    return [
        {"code": code, "label": analysis.label_of(code, labels), "figures": figures}
        for code, figures in compared.items()
    ]


# --- the quarterly analysis -----------------------------------------------------------------


@router.get(
    "/quarterly",
    responses=FILE_RESPONSES,
    summary="Quarterly analysis (季度分析): against the previous quarter and last year's",
    response_model=QuarterlyAnalysis,
)
async def quarterly(
    principal: CurrentPrincipal,
    counters: CountersDep,
    region: RegionDep,
    quarter: Annotated[
        str | None, Query(pattern=QUARTER, description="YYYYQn; default the last full one")
    ] = None,
    hospital_id: str | None = Query(default=None, max_length=64),
    format: Format = None,  # noqa: A002
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Complaints received in the quarter, the previous one and the same one last year, by
    category and department (and by hospital, the bureau's), with the top 5; recurring
    staff members, complainants (by their keyed hashes) and departments (3 or more
    complaints in the quarter); the case library (major, reopened, escalated to the
    bureau). The bureau's answer counts each hospital's recurring groups and library
    cases; one hospital's (`hospital_id=`) lists their complaints, its recurring
    departments and its cases. Reads six documents whatever the region's size: the
    categories document, the three quarters' `<Q>/b` (bureau) or `<Q>/h/<hospital>`,
    and the quarter's recurring groups and case library, the bureau's (`<Q>/rb`, `<Q>/k`)
    or the hospital's (`<Q>/rr/<hospital>`, `<Q>/k/<hospital>`). The JSON is written
    from plain data (the response model documents it)."""
    scope = principal.hospital_scope(hospital_id)
    this = quarter or _last_full_quarter()
    compared = (this, analysis.previous_quarter(this), analysis.same_quarter_last_year(this))
    ids = [bureau_quarter_id(q) if scope is None else hospital_id_of(q, scope) for q in compared]
    categories, *quarters, recurring, library = await asyncio.gather(
        counters.categories(),
        *(counters.get(doc_id) for doc_id in ids),
        counters.get(recurring_id(this, scope)),
        counters.get(library_id(this, scope)),
    )
    answer = quarterly_answer(
        compared=compared,
        scope=scope,
        categories=categories,
        quarters=quarters,
        recurring=recurring,
        library=library,
        hospital_names=region.hospital_names,
    )
    chosen = _format(format, accept)
    if chosen == "json":
        return json_response(answer)
    return exports.attachment(
        quarterly_lines(answer),
        chosen=chosen,
        name=f"quarterly-{scope or 'bureau'}-{this}",
        title="季度分析",
    )


def quarterly_answer(
    *,
    compared: tuple[str, str, str],
    scope: str | None,
    categories: dict[str, Any] | None,
    quarters: list[dict[str, Any] | None],
    recurring: dict[str, Any] | None,
    library: dict[str, Any] | None,
    hospital_names: dict[str, str],
) -> dict[str, Any]:
    """The analysis as QuarterlyAnalysis's plain data, from the documents `quarterly`
    reads; hospitals by name where the region file names them."""
    read = analysis.bureau_quarter if scope is None else analysis.hospital_quarter
    a, b, c = (read(document) for document in quarters)
    category_labels = categories_in(categories)[1]
    department_labels = {**c.department_labels, **b.department_labels, **a.department_labels}
    if scope is None:
        groups = analysis.bureau_recurrences(recurring)
        departments: list[tuple[str, str, int]] = []
        cases: list[analysis.LibraryCase] = []
        counts = analysis.library_counts(library)
    else:
        groups = analysis.recurrences(scope, recurring)
        received = {dept: n.get("received", 0) for dept, n in a.departments.items()}
        departments = analysis.department_recurrences({scope: received})
        cases = analysis.library_cases(scope, library)
        counts = {scope: _reasons(cases)} if cases else {}
    return {
        "quarter": compared[0],
        "previous": compared[1],
        "last_year": compared[2],
        "hospital_id": scope,
        "columns": [
            {"code": code, "label": label} for code, label in analysis.QUARTER_COLUMNS.items()
        ],
        "total": analysis.comparison(a.total(), b.total(), c.total()),
        "categories": _rows(analysis.compared_rows((a, b, c), "categories"), category_labels),
        "departments": _rows(analysis.compared_rows((a, b, c), "departments"), department_labels),
        "hospitals": _rows(analysis.compared_rows((a, b, c), "hospitals"), hospital_names),
        "top_categories": analysis.top(a.categories),
        "top_departments": analysis.top(a.departments),
        "top_hospitals": analysis.top(a.hospitals),
        "recurring": [
            *(
                {
                    "kind": group.kind,
                    "kind_label": analysis.RECURRENCE_KINDS[group.kind],
                    "hospital_id": group.hospital_id,
                    "key": group.key,
                    "label": None,
                    "count": group.count,
                    "complaints": [
                        {"complaint_id": cid, "case_number": number}
                        for cid, number in group.complaints
                    ],
                }
                for group in groups
            ),
            *(
                {
                    "kind": "department",
                    "kind_label": analysis.RECURRENCE_KINDS["department"],
                    "hospital_id": hospital,
                    "key": dept,
                    "label": analysis.label_of(dept, department_labels),
                    "count": n,
                    "complaints": [],
                }
                for hospital, dept, n in departments
            ),
        ],
        "case_library": [
            {
                "complaint_id": case.complaint_id,
                "case_number": case.case_number,
                "hospital_id": case.hospital_id,
                "reasons": list(case.reasons),
                "reason_labels": [LIBRARY_REASONS[r] for r in case.reasons],
            }
            for case in cases
        ],
        "library_counts": [
            {"hospital_id": hospital, "counts": by_reason, "total": total}
            for hospital, (by_reason, total) in counts.items()
        ],
    }


def _reasons(cases: list[analysis.LibraryCase]) -> tuple[dict[str, int], int]:
    by_reason = {
        reason: n
        for reason in LIBRARY_REASONS
        if (n := sum(reason in case.reasons for case in cases))
    }
    return by_reason, len(cases)


def quarterly_lines(answer: dict[str, Any]) -> list[list[Any]]:
    """One sheet: the comparison table (total, categories, departments, hospitals), then
    the recurring complaints and the case library, each under its own header line."""
    header = ["分组", "名称"]
    for column in answer["columns"]:
        label = column["label"]
        header += [
            f"{label}（本季度）",
            f"{label}（上季度）",
            f"{label}（去年同期）",
            f"{label}（环比变化）",
            f"{label}（同比变化）",
        ]
    codes = [column["code"] for column in answer["columns"]]
    parts = ("this", "previous", "last_year", "vs_previous", "vs_last_year")

    def figures(values: dict[str, dict[str, int]]) -> list[int]:
        return [values[code][part] for code in codes for part in parts]

    lines: list[list[Any]] = [header, ["合计", "", *figures(answer["total"])]]
    for group, name in (("categories", "类别"), ("departments", "科室"), ("hospitals", "医院")):
        lines += [[name, row["label"], *figures(row["figures"])] for row in answer[group]]
    lines += [[], ["重复投诉", "医院", "标识", "次数", "案件编号"]]
    for group in answer["recurring"]:
        numbers = "、".join(c["case_number"] or c["complaint_id"] for c in group["complaints"])
        key = group["label"] or group["key"]
        lines.append([group["kind_label"], group["hospital_id"], key, group["count"], numbers])
    lines += [[], ["案例库", "医院", "案件编号", "入选原因"]]
    for case in answer["case_library"]:
        number = case["case_number"] or case["complaint_id"]
        lines.append(["", case["hospital_id"], number, "、".join(case["reason_labels"])])
    if answer["hospital_id"] is None:
        lines += [[], ["案例库（按医院）", "医院", *LIBRARY_REASONS.values(), "合计"]]
        for row in answer["library_counts"]:
            by_reason = [row["counts"].get(reason, 0) for reason in LIBRARY_REASONS]
            lines.append(["", row["hospital_id"], *by_reason, row["total"]])
    return lines


# --- the department scorecard -----------------------------------------------------------------


@router.get(
    "/scorecard",
    responses=FILE_RESPONSES,
    summary="Department scorecard (科室考评): substantiated complaints per department per year",
    response_model=Scorecard,
)
async def department_scorecard(
    principal: CurrentPrincipal,
    counters: CountersDep,
    region: RegionDep,
    year: Annotated[int | None, Query(ge=2000, le=2100, description="default this year")] = None,
    hospital_id: str | None = Query(default=None, max_length=64),
    format: Format = None,  # noqa: A002
    accept: Annotated[str | None, Header()] = None,
) -> Response | Scorecard:
    """Each department's complaints received in the year, substantiated and partly
    substantiated (shown apart); 5 or more substantiated: flagged (需整改); none received:
    commended (表扬). Departments come from the region file (HUIYIN_REGION_FILE) and the
    complaints. Reads one document, the year's scorecard `<YYYY>/s`."""
    scope = principal.hospital_scope(hospital_id)
    chosen_year = year or datetime.now(CHINA).year
    departments = region.departments
    rows = analysis.scorecard(
        await counters.get(scorecard_id(str(chosen_year))), departments, hospital=scope
    )
    model = Scorecard(
        year=chosen_year,
        hospital_id=scope,
        flag_threshold=analysis.FLAG_THRESHOLD,
        departments_from_region=bool(departments),
        departments=[
            ScorecardRow(
                hospital_id=row.hospital_id,
                department=row.department,
                label=row.label,
                received=row.received,
                substantiated=row.substantiated,
                partly=row.partly,
                verdict=row.verdict,
                verdict_label=row.verdict_label,
            )
            for row in rows
        ],
    )
    chosen = _format(format, accept)
    if chosen == "json":
        return model
    lines: list[list[Any]] = [["医院", "科室", "登记", "属实", "部分属实", "考评"]]
    lines += [
        [r.hospital_id, r.label, r.received, r.substantiated, r.partly, r.verdict_label or ""]
        for r in model.departments
    ]
    return exports.attachment(
        lines, chosen=chosen, name=f"scorecard-{scope or 'bureau'}-{chosen_year}", title="科室考评"
    )


# --- response times ---------------------------------------------------------------------------


def _quantile(found: Quantile | None) -> QuantileValue | None:
    return None if found is None else QuantileValue(at_most=found.at_most, over=found.over)


def timing_row(dimension: str, code: str, label: str, node: dict[str, Any]) -> TimingRow:
    timing = analysis.timing_of(node)
    stats = timing.statistics
    return TimingRow(
        dimension=dimension,
        dimension_label="合计" if dimension == "total" else analysis.DIMENSIONS[dimension],
        code=code,
        label=label,
        replied=stats.replied,
        on_time=stats.on_time,
        late=stats.late,
        on_time_rate=stats.on_time_rate,
        median_hours=_quantile(timing.median_hours),
        p90_hours=_quantile(timing.p90_hours),
        median_working_days=_quantile(timing.median_working_days),
        p90_working_days=_quantile(timing.p90_working_days),
        hours=dict(stats.hours),
        working_days=dict(stats.working_days),
    )


PRIORITY_LABELS = {p.value: p.label for p in Priority} | {"unknown": "未定"}


@router.get(
    "/response-times",
    responses=FILE_RESPONSES,
    summary="Response-time statistics: median, p90 and on-time rate, in hours and working days",
    response_model=ResponseTimes,
    response_model_by_alias=True,
)
async def response_times(
    principal: CurrentPrincipal,
    counters: CountersDep,
    start: FirstMonth = None,
    end: LastMonth = None,
    hospital_id: str | None = Query(default=None, max_length=64),
    format: Format = None,  # noqa: A002
    accept: Annotated[str | None, Header()] = None,
) -> Response | ResponseTimes:
    """First replies to the complaints received in the months, by hospital (the bureau),
    department, category and priority. Median and p90 are read from histogram buckets:
    each is the upper edge of the bucket it falls in (domain/response_times.py). Reads the
    categories document and one document per month, quarter or year covering the range
    (`<period>/t`, or `<period>/t/<hospital>`)."""
    scope = principal.hospital_scope(hospital_id)
    months = _months(start, end)
    categories, documents = await asyncio.gather(
        counters.categories(),
        counters.read([times_id(period, scope) for period in covering_periods(months)]),
    )
    groups = analysis.add_groups(documents)
    category_labels = categories_in(categories)[1]
    department_labels = await _department_labels(counters, months, scope)
    labels = {
        "hospital": {},
        "department": department_labels,
        "category": category_labels,
        "priority": PRIORITY_LABELS,
    }
    rows = [timing_row("total", "total", "合计", analysis.total_of(groups))]
    for dimension, group in analysis.GROUPS.items():
        for name in sorted(groups):
            prefix, _, code = name.partition(".")
            if prefix == group:
                label = analysis.label_of(code, labels[dimension])
                rows.append(timing_row(dimension, code, label, groups[name]))
    model = ResponseTimes(
        start=f"{months[0][:4]}-{months[0][4:]}",
        end=f"{months[-1][:4]}-{months[-1][4:]}",
        hospital_id=scope,
        hour_buckets=list(HOUR_EDGES),
        working_day_buckets=list(DAY_EDGES),
        rows=rows,
    )
    chosen = _format(format, accept)
    if chosen == "json":
        return model
    return exports.attachment(
        timing_lines(model),
        chosen=chosen,
        name=f"response-times-{scope or 'bureau'}-{model.start}-{model.end}",
        title="答复时效统计",
    )


async def _department_labels(
    counters: ReportCounters, months: list[str], scope: str | None
) -> dict[str, str]:
    """The departments' names: from the quarter documents of the range's last quarter (one
    read; a department seen only earlier shows its code)."""
    last = months[-1]
    quarter = f"{last[:4]}Q{(int(last[4:]) - 1) // 3 + 1}"
    doc_id = bureau_quarter_id(quarter) if scope is None else hospital_id_of(quarter, scope)
    document = await counters.get(doc_id)
    return {code_of(k): v for k, v in ((document or {}).get("dl") or {}).items()}


def _shown(value: QuantileValue | None) -> str:
    if value is None:
        return ""
    return f"≤{value.at_most}" if value.at_most is not None else f">{value.over}"


def timing_lines(model: ResponseTimes) -> list[list[Any]]:
    header = [
        "维度",
        "名称",
        "答复数",
        "按时",
        "逾期",
        "按时率",
        "中位数（小时）",
        "P90（小时）",
        "中位数（工作日）",
        "P90（工作日）",
    ]
    lines: list[list[Any]] = [header]
    for row in model.rows:
        lines.append(
            [
                row.dimension_label,
                row.label,
                row.replied,
                row.on_time,
                row.late,
                "" if row.on_time_rate is None else row.on_time_rate,
                _shown(row.median_hours),
                _shown(row.p90_hours),
                _shown(row.median_working_days),
                _shown(row.p90_working_days),
            ]
        )
    return lines
