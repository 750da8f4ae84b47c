"""The report page a supervisor opens in a browser: GET /reports, the monthly classification
table (投诉分类统计表) of a chosen range and the trend of the last 12 months as charts,
printable on A4 landscape, with the CSV and XLSX downloads.

Why the page holds no data: the platform's API authenticates with `Authorization: Bearer`
keys (shared/auth.py) and nothing else, and a browser sends no such header when it loads a
page. A server-rendered page would need a second way in — a session cookie, a login, a key
in the query string that lands in access logs and browser history — and every one of them
is another place where one hospital could be shown another's table. So the server sends
only a fixed shell (report.html, report.css, report.js from services/reporting/static, no
CDN: hospitals' networks may reach none) and never renders a figure. The page asks for the
key once, keeps it in the tab's sessionStorage (gone when the tab closes, never sent
anywhere but in that header) and fetches GET /v1/reports/monthly with it, as any API client
does: what a key may see is decided where it always is, in the API. A link may carry the
key in its fragment (`/reports?from=2026-01&to=2026-03#key=…`): browsers never send the
fragment to the server, and the page moves it to sessionStorage and removes it from the
address bar at once. The charts are inline SVG drawn by the page's own script.

The strict Content-Security-Policy allows this origin's script, style and fetches only: a
category or department label can never run as code, and the page talks to nothing else.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter, Response

from shared.errors import not_found

STATIC = Path(__file__).resolve().parents[1] / "static"
ASSETS = {
    "report.css": "text/css; charset=utf-8",
    "report.js": "text/javascript; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

# Not part of the API: left out of the OpenAPI document (and so of the contract tests).
router = APIRouter(include_in_schema=False)


@cache
def _file(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@router.get("/reports")
async def report_page() -> Response:
    return Response(_file("report.html"), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/reports/assets/{name}")
async def report_asset(name: str) -> Response:
    """The page's own stylesheet and script, by a fixed list of names."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise not_found(f"no asset {name!r}")
    return Response(_file(name), media_type=media_type, headers=HEADERS)
