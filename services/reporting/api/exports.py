"""The classification table as a file: CSV (UTF-8 with a byte-order mark, so Excel reads
the Chinese headers) and XLSX, both with Chinese headers and the same rows: each category's
rows, its subtotal (小计), and the total (合计) last."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

from openpyxl import Workbook

from services.reporting.api.schemas import MonthlyTable

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"csv": CSV, "xlsx": XLSX}
SUBTOTAL, TOTAL = "小计", "合计"


def _lines(table: MonthlyTable) -> Iterator[list[str | int]]:
    unit = "医院" if table.unit == "hospital" else "科室"
    codes = [column.code for column in table.columns]
    yield ["类别", unit, *(column.label for column in table.columns)]
    for category in table.categories:
        for row in table.rows:
            if row.category == category.category:
                yield [row.category_label, row.unit_label, *(row.counts[c] for c in codes)]
        yield [category.category_label, SUBTOTAL, *(category.counts[c] for c in codes)]
    yield [TOTAL, "", *(table.total[c] for c in codes)]


def filename(table: MonthlyTable, extension: str) -> str:
    scope = re.sub(r"[^A-Za-z0-9_-]", "_", table.hospital_id or "bureau")
    months = f"{table.start.replace('-', '')}-{table.end.replace('-', '')}"
    return f"complaint-classification-{scope}-{months}.{extension}"


def as_csv(table: MonthlyTable) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(_lines(table))
    return out.getvalue().encode("utf-8-sig")


def as_xlsx(table: MonthlyTable) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = "投诉分类统计表"
    for line in _lines(table):
        sheet.append(line)
    sheet.freeze_panes = "C2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
