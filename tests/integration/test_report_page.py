"""The report page (services/reporting/api/pages.py) in a real headless browser, Debian's
chromium (deploy/setup.sh installs it; the test is skipped where it is missing): with the
data set of test_monthly_report.py in the real reporting database, the page opened with the
bureau's key in the URL fragment shows the classification table with its figures under
Chinese headers and the trend and category charts as SVG, and its screenshot is a picture of
them; printed, it is A4 landscape; a hospital's key shows that hospital's departments and
nothing of another hospital; a wrong key gets the key form back. Chromium's own command line
(`--dump-dom`, `--screenshot`, `--print-to-pdf`) drives it: no Python dependency is needed.
`--virtual-time-budget` lets the page's fetches finish before the DOM is dumped or the
picture taken.

The screenshot is saved in the test's tmp_path (printed) and copied to
HUIYIN_SCREENSHOT_OUT when that is set."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import subprocess
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_monthly_report import BUREAU, DEPARTMENT, nonzero
from tests.integration.test_monthly_snapshot import publish_the_data_set
from tests.support.platform import Platform

pytestmark = pytest.mark.timeout(240)

WINDOW = (1366, 960)
RANGE = "from=2026-01&to=2026-02"
SERIES_COLOURS = {"received": (0x2B, 0x6C, 0xB0), "overdue": (0xC5, 0x30, 0x30)}


@pytest.fixture
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed: run deploy/setup.sh (or apt-get install chromium)")
    return found


# --- the browser --------------------------------------------------------------------------


def headless(chromium: str, url: str, *args: str, profile: Path) -> tuple[str, float]:
    """Run headless chromium on `url` with `args`; its output and the seconds it took."""
    command = [
        chromium,
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=20000",
        *args,
        url,
    ]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, elapsed


async def page_dom(chromium: str, url: str, profile: Path) -> tuple[Element, float]:
    # In a thread: the platform's services answer the page's fetches on this event loop.
    html, elapsed = await asyncio.to_thread(headless, chromium, url, "--dump-dom", profile=profile)
    return parse(html), elapsed


# --- the dumped DOM -----------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def walk(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [
            node
            for node in self.walk()
            if (tag is None or node.tag == tag)
            and all(node.attrs.get(name.replace("_", "-")) == v for name, v in attrs.items())
        ]

    def one(self, tag: str | None = None, **attrs: str) -> Element:
        [found] = self.find(tag, **attrs)
        return found

    @property
    def text(self) -> str:
        return "".join(self.texts) + "".join(child.text for child in self.children)


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].texts.append(data)


def parse(html: str) -> Element:
    builder = TreeBuilder()
    builder.feed(html)
    return builder.root


def state(dom: Element) -> str:
    return dom.one("body").attrs.get("data-state", "")


def table_rows(dom: Element) -> dict[tuple[str, str], dict[str, int]]:
    def counts(row: Element) -> dict[str, int]:
        cells = [cell for cell in row.find("td") if "data-code" in cell.attrs]
        return nonzero({cell.attrs["data-code"]: int(cell.text) for cell in cells})

    table = dom.one("table", id="classification")
    return {
        (row.attrs["data-category"], row.attrs["data-unit"]): counts(row)
        for row in table.find("tr", **{"class": "row"})
    }


def series(dom: Element, code: str) -> dict[str, int]:
    group = dom.one("svg", id="trend-chart").one("g", data_series=code)
    return {dot.attrs["data-month"]: int(dot.attrs["data-value"]) for dot in group.find("circle")}


# --- the screenshot -----------------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Width, height, unfiltered rows and bytes per pixel of an 8-bit RGB(A) PNG (stdlib)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = previous[i], previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, bpp


def colours(rows: list[bytes], bpp: int) -> Counter[tuple[int, int, int]]:
    counted: Counter[tuple[int, int, int]] = Counter()
    for row in rows:
        for x in range(0, len(row), bpp):
            counted[(row[x], row[x + 1], row[x + 2])] += 1
    return counted


# --- the tests ----------------------------------------------------------------------------


async def month_totals(platform: Platform, months: list[str]) -> dict[str, dict[str, Any]]:
    async with platform.client("reporting", "bureau") as bureau:
        answers = await asyncio.gather(
            *(bureau.get("/v1/reports/monthly", params={"from": m}) for m in months)
        )
    return {month: answer.json()["total"] for month, answer in zip(months, answers, strict=True)}


async def test_the_report_page_in_headless_chromium(
    reporting_only: Platform, chromium: str, tmp_path: Path
) -> None:
    platform = reporting_only
    await publish_the_data_set(platform)
    base = platform.url("reporting")
    keys = platform.keys.clear

    # The shell carries no figures and needs no key; its assets come from the package.
    async with httpx.AsyncClient(base_url=base) as anonymous:
        shell = await anonymous.get("/reports")
        assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in shell.headers["content-security-policy"]
        assert "投诉分类统计表" in shell.text and "hz-001" not in shell.text
        for asset in ("report.js", "report.css"):
            assert (await anonymous.get(f"/reports/assets/{asset}")).status_code == 200
        assert (await anonymous.get("/reports/assets/..%2Fsettings.py")).status_code == 404

    # The bureau: the table category × hospital and the charts.
    url = f"{base}/reports?{RANGE}#key={keys['bureau']}"
    dom, seconds = await page_dom(chromium, url, tmp_path / "bureau")
    print(f"report page (bureau, 13 API reads) in headless chromium: {seconds:.2f} s")
    assert state(dom) == "ready", dom.one("p", id="message").text
    assert table_rows(dom) == BUREAU
    headers = [th.text for th in dom.one("table", id="classification").one("thead").find("th")]
    assert headers[:2] == ["类别", "医院"]
    assert {"登记", "受理", "按时答复", "逾期答复", "尚在办理", "已逾期", "属实", "满意"} <= set(
        headers
    )
    assert "不予受理（不属本院职责）" in headers and "升级（投诉管理部门督办）" in headers
    total = dom.one("tr", **{"class": "total"})
    assert total.one("td", data_code="received").text == "15"
    assert "2026年1月 至 2026年2月" in dom.one("p", id="subtitle").text
    assert keys["bureau"] not in "".join(node.text for node in dom.walk())

    months = [f"2025-{m:02d}" for m in range(3, 13)] + ["2026-01", "2026-02"]
    expected = await month_totals(platform, months)
    for code in ("received", "replied_on_time", "overdue"):
        assert series(dom, code) == {m: expected[m].get(code, 0) for m in months}, code
    assert series(dom, "received")["2026-01"] == 10 and series(dom, "received")["2026-02"] == 5
    bars = {
        bar.attrs["data-category"]: int(bar.attrs["data-value"])
        for bar in dom.one("svg", id="category-chart").find("g")
    }
    assert bars == {"conduct": 4, "fees": 6, "nursing": 5}

    # Its picture: the window's size, not blank, the charts' colours drawn.
    screenshot = tmp_path / "report-page.png"
    await asyncio.to_thread(
        headless, chromium, url, f"--screenshot={screenshot}", profile=tmp_path / "picture"
    )
    print(f"screenshot: {screenshot}")
    if os.environ.get("HUIYIN_SCREENSHOT_OUT"):
        shutil.copyfile(screenshot, os.environ["HUIYIN_SCREENSHOT_OUT"])
    width, height, rows, bpp = png_pixels(screenshot.read_bytes())
    assert (width, height) == WINDOW
    seen = colours(rows, bpp)
    background, most = seen.most_common(1)[0]
    assert most < 0.97 * width * height and len(seen) > 50, (background, len(seen))
    for code, colour in SERIES_COLOURS.items():
        assert seen[colour] > 20, f"the {code} series is not drawn"

    # Printed: A4 landscape (the print stylesheet's @page; it also hides the controls).
    printed = tmp_path / "report-page.pdf"
    await asyncio.to_thread(
        headless,
        chromium,
        url,
        "--no-pdf-header-footer",
        f"--print-to-pdf={printed}",
        profile=tmp_path / "print",
    )
    [box] = re.findall(rb"/MediaBox\s*\[([^\]]*)\]", printed.read_bytes())[:1]
    page = [float(number) for number in box.split()]
    assert [round(n) for n in page] == [0, 0, 842, 595], page  # points: 297 × 210 mm

    # A hospital: its departments only, nothing of another hospital.
    dom, _ = await page_dom(
        chromium, f"{base}/reports?{RANGE}#key={keys['hz-001']}", tmp_path / "h"
    )
    assert state(dom) == "ready", dom.one("p", id="message").text
    assert table_rows(dom) == {
        (category, DEPARTMENT[category]): counts
        for (category, unit), counts in BUREAU.items()
        if unit == "hz-001"
    }
    assert dom.one("table", id="classification").one("thead").find("th")[1].text == "科室"
    assert "hz-002" not in "".join(node.text for node in dom.walk())

    # A wrong key: the key form again, no figures.
    dom, _ = await page_dom(chromium, f"{base}/reports?{RANGE}#key=not-a-key", tmp_path / "w")
    assert state(dom) == "unauthorized"
    assert "hidden" not in dom.one("form", id="key-form").attrs
    assert dom.find("tr", **{"class": "row"}) == []
