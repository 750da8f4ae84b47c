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
