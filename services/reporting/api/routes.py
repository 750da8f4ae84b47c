"""Reports API. Dates are China-time calendar days and months; `to` is inclusive."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response

from services.reporting.api import exports
from services.reporting.api.deps import CountersDep, FactsDep, RegionDep
from services.reporting.api.schemas import (
    HospitalSummary,
    MonthlyTable,
    Summary,
)
from services.reporting.domain.classification import (
    ROW_LABELS,
    Table,
    bureau_table,
    categories_in,
    category_id,
    column_label,
    covering_periods,
    hospital_id_of,
    hospital_table,
)
from services.reporting.domain.summary import Tally
from shared.auth import CurrentPrincipal
from shared.contracts import CHINA
from shared.dates import Day
from shared.errors import error_responses, invalid

MAX_DAYS = 3 * 366 + 31

router = APIRouter(prefix="/v1/reports", responses=error_responses(401, 422, 503))


def _window(start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(CHINA).date()
    start = start or today.replace(day=1)
    end = end or today
    if end < start:
        raise invalid("to", "is before from", location="query")
    if (end - start).days > MAX_DAYS:
        raise invalid("to", "window over 3 years", location="query")
    return start, end


@router.get(
    "/summary",
    responses=error_responses(403),
    summary="Counts by hospital, category, status",
)
async def summary(
    principal: CurrentPrincipal,
    facts: FactsDep,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    hospital_id: str | None = Query(default=None, max_length=64),
) -> Summary:
    scope = principal.hospital_scope(hospital_id)
    start, end = _window(start, end)
    rows = await facts.counts(
        start=datetime.combine(start, time.min, CHINA),
        end=datetime.combine(end + timedelta(days=1), time.min, CHINA),
        hospital_id=scope,
    )
    per_hospital: dict[str, Tally] = defaultdict(Tally)
    for row in rows:
        per_hospital[row["_id"]["hospital_id"]].add(row)
    hospitals = [
        HospitalSummary(hospital_id=hid, **tally.counts())
        for hid, tally in sorted(per_hospital.items())
    ]
    region = Tally()
    for tally in per_hospital.values():
        region.merge(tally)
    return Summary(start=start, end=end, hospitals=hospitals, **region.counts())


MAX_MONTHS = 36
MONTH = r"^(20[0-9]{2})-(0[1-9]|1[0-2])$"


def _month_index(text: str) -> int:
    year, month = text.split("-")
    return int(year) * 12 + int(month) - 1


def _months(start: str | None, end: str | None) -> list[str]:
    """The months asked for as YYYYMM, oldest first; by default the last full month."""
    today = datetime.now(CHINA).date()
    last_full = today.year * 12 + today.month - 2
    first = _month_index(start) if start else None
    last = _month_index(end) if end else None
    if first is None and last is None:
        first = last = last_full
    first = last if first is None else first
    last = first if last is None else last
    assert first is not None and last is not None
    if last < first:
        raise invalid("to", "is before from", location="query")
    if last - first + 1 > MAX_MONTHS:
        raise invalid("to", f"more than {MAX_MONTHS} months after from", location="query")
    return [f"{index // 12:04d}{index % 12 + 1:02d}" for index in range(first, last + 1)]


def _format(requested: str | None, accept: str | None) -> str:
    if requested:
        return requested
    accept = accept or ""
    for name, media_type in exports.MEDIA_TYPES.items():
        if media_type in accept:
            return name
    return "json"


# The query parameters every report over a range of months takes, and its file formats.
FirstMonth = Annotated[
    str | None, Query(alias="from", pattern=MONTH, description="first month, YYYY-MM")
]
LastMonth = Annotated[
    str | None, Query(alias="to", pattern=MONTH, description="last month, YYYY-MM")
]
Format = Annotated[Literal["json", "csv", "xlsx"] | None, Query()]
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as JSON, CSV (UTF-8 with BOM) or XLSX",
        "content": {exports.CSV: {}, exports.XLSX: {}},
    }
}


def json_response(answer: Any) -> Response:
    """An answer built as plain data, as JSON: a large report is not validated and dumped
    through its pydantic model again (the route's response model still documents it)."""
    body = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode(), media_type="application/json")


def table_answer(
    table: Table, months: list[str], *, hospital_id: str | None, unit: str
) -> dict[str, Any]:
    """The table as MonthlyTable's plain data (by alias: `from`, `to`)."""
    codes = table.columns()

    def counts(values: dict[str, int]) -> dict[str, int]:
        return {code: values.get(code, 0) for code in codes}

    def category_label(code: str) -> str:
        return table.category_labels.get(code) or ROW_LABELS.get(code, code)

    rows: list[dict[str, Any]] = []
    subtotals: dict[str, dict[str, int]] = {}
    for category, unit_code, values in table.nonzero_rows():
        label = table.unit_labels.get(unit_code) or ROW_LABELS.get(unit_code, unit_code)
        rows.append(
            {
                "category": category,
                "category_label": category_label(category),
                "unit": unit_code,
                "unit_label": label,
                "counts": counts(values),
            }
        )
        subtotal = subtotals.setdefault(category, {})
        for code, n in values.items():
            subtotal[code] = subtotal.get(code, 0) + n
    total: dict[str, int] = {}
    for values in subtotals.values():
        for code, n in values.items():
            total[code] = total.get(code, 0) + n
    return {
        "from": f"{months[0][:4]}-{months[0][4:]}",
        "to": f"{months[-1][:4]}-{months[-1][4:]}",
        "hospital_id": hospital_id,
        "unit": unit,
        "columns": [{"code": code, "label": column_label(code)} for code in codes],
        "rows": rows,
        "categories": [
            {"category": code, "category_label": category_label(code), "counts": counts(n)}
            for code, n in sorted(subtotals.items())
        ],
        "total": counts(total),
    }


@router.get(
    "/monthly",
    responses={**error_responses(403), **FILE_RESPONSES},
    summary="Monthly classification table (投诉分类统计表), exportable as CSV or XLSX",
    response_model=MonthlyTable,
    response_model_by_alias=True,
)
async def monthly(
    principal: CurrentPrincipal,
    counters: CountersDep,
    region: RegionDep,
    start: FirstMonth = None,
    end: LastMonth = None,
    hospital_id: str | None = Query(default=None, max_length=64),
    format: Format = None,  # noqa: A002
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The bureau sees rows category × hospital (by name, from the region file) of every
    hospital; a hospital (or the
    bureau naming `hospital_id`) rows category × department of that hospital. Reads the
    categories document and, per month, the category documents (bureau) or the hospital's
    document, each by `_id` (domain/classification.py), whatever the history's length; a
    whole calendar quarter or year in the range is read from its rollup document."""
    scope = principal.hospital_scope(hospital_id)
    months = _months(start, end)
    periods = covering_periods(months)
    if scope is None:
        codes, labels = categories_in(await counters.categories())
        documents = await counters.read(
            [category_id(period, code) for period in periods for code in codes]
        )
        table, unit = bureau_table(documents, labels, region.hospital_names), "hospital"
    else:
        categories, documents = await asyncio.gather(
            counters.categories(), counters.read([hospital_id_of(p, scope) for p in periods])
        )
        table, unit = hospital_table(documents, categories_in(categories)[1]), "department"
    answer = table_answer(table, months, hospital_id=scope, unit=unit)
    chosen = _format(format, accept)
    if chosen == "json":
        return json_response(answer)
    return exports.table_file(MonthlyTable.model_validate(answer), chosen)
