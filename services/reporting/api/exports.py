"""The reports as files: CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese
headers) and XLSX. The classification table has the same rows in both: each category's
rows, its subtotal (小计), and the total (合计) last. The other reports give their lines to
`attachment` (api/analysis.py)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence

from fastapi import Response
from openpyxl import Workbook

from services.reporting.api.schemas import MonthlyTable

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"csv": CSV, "xlsx": XLSX}
SUBTOTAL, TOTAL = "小计", "合计"


def table_lines(table: MonthlyTable) -> Iterator[list[str | int]]:
    unit = "医院" if table.unit == "hospital" else "科室"
    codes = [column.code for column in table.columns]
    yield ["类别", unit, *(column.label for column in table.columns)]
    for category in table.categories:
        for row in table.rows:
            if row.category == category.category:
                yield [row.category_label, row.unit_label, *(row.counts[c] for c in codes)]
        yield [category.category_label, SUBTOTAL, *(category.counts[c] for c in codes)]
    yield [TOTAL, "", *(table.total[c] for c in codes)]


def table_file(table: MonthlyTable, chosen: str) -> Response:
    """The classification table as the chosen file (csv or xlsx)."""
    scope = table.hospital_id or "bureau"
    months = f"{table.start.replace('-', '')}-{table.end.replace('-', '')}"
    return attachment(
        table_lines(table),
        chosen=chosen,
        name=f"complaint-classification-{scope}-{months}",
        title="投诉分类统计表",
        freeze="C2",
    )


Cell = str | int | float | None


def lines_as_csv(lines: Iterable[Sequence[Cell]]) -> bytes:
    """Any report's lines (header first) as CSV, UTF-8 with a byte-order mark."""
    out = io.StringIO()
    csv.writer(out).writerows(lines)
    return out.getvalue().encode("utf-8-sig")


def lines_as_xlsx(lines: Iterable[Sequence[Cell]], *, title: str, freeze: str = "A2") -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = title
    for line in lines:
        sheet.append(list(line))
    sheet.freeze_panes = freeze
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def attachment(
    lines: Iterable[Sequence[Cell]], *, chosen: str, name: str, title: str, freeze: str = "A2"
) -> Response:
    """The lines as the chosen file (csv or xlsx), to download as `name`.<extension>."""
    body = (
        lines_as_csv(lines) if chosen == "csv" else lines_as_xlsx(lines, title=title, freeze=freeze)
    )
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Response(
        body,
        media_type=MEDIA_TYPES[chosen],
        headers={"Content-Disposition": f'attachment; filename="{safe}.{chosen}"'},
    )
