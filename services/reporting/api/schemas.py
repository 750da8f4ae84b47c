"""Response bodies of the reports API."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class Counts(BaseModel):
    """Complaints received in the window. Satisfaction counts closed complaints by their
    latest return visit; a complaint reopened since then counts under by_status only."""

    total: int = 0
    by_category: dict[str, int] = Field(default_factory=dict)
    by_status: dict[str, int] = Field(default_factory=dict)
    by_satisfaction: dict[str, int] = Field(default_factory=dict)
    not_accepted_reasons: dict[str, int] = Field(default_factory=dict)
    extensions: int = Field(0, description="approved extensions (延期)")
    escalations: int = Field(0, description="escalations above the handler (督办)")


class HospitalSummary(Counts):
    hospital_id: str


class Summary(Counts):
    start: date
    end: date
    hospitals: list[HospitalSummary]


class Column(BaseModel):
    code: str = Field(description="stable English code: received, not_accepted.<reason>, ...")
    label: str = Field(description="the Chinese header")


class TableRow(BaseModel):
    category: str
    category_label: str
    unit: str = Field(description="a hospital id (the bureau's table) or a department code")
    unit_label: str
    counts: dict[str, int] = Field(description="every column's code and its count")


class CategoryTotal(BaseModel):
    category: str
    category_label: str
    counts: dict[str, int]


class MonthlyTable(BaseModel):
    """The classification table (投诉分类统计表) of complaints received in the months
    `from`..`to` (China time), as their cases stand now."""

    start: str = Field(alias="from", description="first month, YYYY-MM")
    end: str = Field(alias="to", description="last month, YYYY-MM (inclusive)")
    hospital_id: str | None = Field(description="the hospital whose departments are the rows")
    unit: str = Field(description="hospital (rows category × hospital) or department")
    columns: list[Column]
    rows: list[TableRow]
    categories: list[CategoryTotal] = Field(description="subtotals per category")
    total: dict[str, int]

    model_config = {"populate_by_name": True}


# --- the quarterly analysis, the scorecard, the response-time statistics ----------------


class Compared(BaseModel):
    this: int = Field(description="this quarter")
    previous: int = Field(description="the previous quarter")
    last_year: int = Field(description="the same quarter last year")
    vs_previous: int = Field(description="this minus the previous quarter")
    vs_last_year: int = Field(description="this minus the same quarter last year")


class ComparedRow(BaseModel):
    code: str
    label: str
    figures: dict[str, Compared] = Field(description="by column code (received, ...)")


class LibraryCaseRef(BaseModel):
    complaint_id: str
    case_number: str | None


class RecurringGroup(BaseModel):
    kind: str = Field(description="staff, complainant or department")
    kind_label: str
    hospital_id: str
    key: str = Field(
        description="department code, or a pseudonym: the first digits of the keyed hash "
        "(never the identity)"
    )
    label: str | None = Field(default=None, description="the department's name")
    count: int
    complaints: list[LibraryCaseRef] = Field(default_factory=list)


class CaseLibraryEntry(LibraryCaseRef):
    hospital_id: str
    reasons: list[str]
    reason_labels: list[str]


class LibraryCount(BaseModel):
    hospital_id: str
    counts: dict[str, int] = Field(description="cases by reason code (major, ...)")
    total: int = Field(description="cases (one with two reasons counts once)")


class QuarterlyAnalysis(BaseModel):
    """Complaints received in the quarter (China time) as their cases stand now, against
    the previous quarter and the same quarter last year. The bureau's answer is by
    category, department (across hospitals) and hospital, with each hospital's recurring
    staff members and complainants and case library counted; one hospital's (its own, or
    the bureau naming `hospital_id`) also lists their complaints, its recurring
    departments and its cases."""

    quarter: str
    previous: str
    last_year: str
    hospital_id: str | None
    columns: list[Column]
    total: dict[str, Compared]
    categories: list[ComparedRow]
    departments: list[ComparedRow] = Field(
        description="a hospital's departments; for the bureau, department codes across hospitals"
    )
    hospitals: list[ComparedRow] = Field(
        default_factory=list, description="the bureau's: each hospital's totals"
    )
    top_categories: list[str] = Field(description="the 5 with most received this quarter")
    top_departments: list[str]
    top_hospitals: list[str] = Field(default_factory=list, description="the bureau's")
    recurring: list[RecurringGroup] = Field(
        description="3 or more complaints in the quarter; the complaints and recurring "
        "departments are listed for one hospital"
    )
    case_library: list[CaseLibraryEntry] = Field(description="one hospital's cases")
    library_counts: list[LibraryCount] = Field(
        default_factory=list, description="the case library's cases by hospital"
    )


class ScorecardRow(BaseModel):
    hospital_id: str
    department: str
    label: str
    received: int
    substantiated: int = Field(description="属实")
    partly: int = Field(description="部分属实, shown apart: not counted toward the flag")
    verdict: str | None = Field(description="flagged (≥5 substantiated) or commended (none)")
    verdict_label: str | None


class Scorecard(BaseModel):
    year: int
    hospital_id: str | None
    flag_threshold: int
    departments_from_region: bool = Field(
        description="false: no region file, only departments seen in events are listed"
    )
    departments: list[ScorecardRow]


class QuantileValue(BaseModel):
    at_most: int | None = Field(description="upper edge of the bucket the quantile falls in")
    over: int | None = Field(default=None, description="the open last bucket: more than this")


class TimingRow(BaseModel):
    dimension: str = Field(description="total, hospital, department, category or priority")
    dimension_label: str
    code: str
    label: str
    replied: int
    on_time: int
    late: int
    on_time_rate: float | None
    median_hours: QuantileValue | None
    p90_hours: QuantileValue | None
    median_working_days: QuantileValue | None
    p90_working_days: QuantileValue | None
    hours: dict[str, int] = Field(description="the histogram: bucket upper edge → replies")
    working_days: dict[str, int]


class ResponseTimes(BaseModel):
    """First replies to complaints received in the months `from`..`to` (China time)."""

    start: str = Field(alias="from")
    end: str = Field(alias="to")
    hospital_id: str | None
    hour_buckets: list[int]
    working_day_buckets: list[int]
    rows: list[TimingRow]

    model_config = {"populate_by_name": True}
