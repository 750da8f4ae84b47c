"""A database that is down is a 503 with the shared error shape and Retry-After on every
endpoint, tracking included, within seconds; and every endpoint recovers when it is back
(issue 9, finding 2: it was a 500 in text/plain)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.support.platform import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

OFFICE = "hz-001-complaint_office-1"
BOUND_SECONDS = 12.0
Call = Callable[[], Awaitable[httpx.Response]]


def complaint(n: int) -> dict[str, object]:
    return {"channel": "phone", "content": f"第{n}次：候诊区空调不制冷，等候时间过长。"}


async def timed(call: Call) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = await call()
    return time.monotonic() - started, response


async def test_every_endpoint_answers_503_while_the_database_is_down_and_recovers(
    platform: Platform,
) -> None:
    control = platform.infra.database
    if control is None:
        pytest.skip("the database is external; this test needs to stop and start it")
    timeout = httpx.Timeout(BOUND_SECONDS + 5)
    async with (
        platform.staff_client("intake", "hz-001") as intake,
        httpx.AsyncClient(base_url=platform.url("intake"), timeout=timeout) as public,
        platform.client("routing", "bureau") as routing,
        platform.client("reporting", "bureau") as reporting,
    ):
        for client in (intake, routing, reporting):
            client.timeout = timeout
        created = await intake.post("/v1/complaints", json=complaint(0))
        assert created.status_code == 201, created.text
        case = created.json()
        calls: dict[str, Call] = {
            "register": lambda: intake.post("/v1/complaints", json=complaint(1)),
            "read": lambda: intake.get(f"/v1/complaints/{case['id']}"),
            "list": lambda: intake.get("/v1/complaints"),
            "accept": lambda: intake.post(
                f"/v1/complaints/{case['id']}/accept", json={"actor": OFFICE}
            ),
            "track": lambda: public.get(f"/v1/track/{case['tracking_code']}"),
            "routing calendar year": lambda: routing.get("/v1/admin/calendar/2026"),
            "reporting summary": lambda: reporting.get("/v1/reports/summary"),
        }

        await asyncio.to_thread(control.stop)
        try:
            answers = await asyncio.gather(*(timed(call) for call in calls.values()))
        finally:
            await asyncio.to_thread(control.start)

        for name, (elapsed, response) in zip(calls, answers, strict=True):
            assert response.status_code == 503, (name, response.status_code, response.text)
            assert response.headers["content-type"] == "application/json", name
            body = response.json()
            assert body["code"] == "unavailable" and body["message"], (name, body)
            assert body["errors"] == [], (name, body)
            assert int(response.headers["Retry-After"]) > 0, name
            assert elapsed < BOUND_SECONDS, (name, elapsed)

        deadline = time.monotonic() + 30
        for name, call in calls.items():
            while (response := await call()).status_code >= 500:
                assert time.monotonic() < deadline, (name, response.status_code, response.text)
                await asyncio.sleep(0.2)
            assert response.status_code in (200, 201), (name, response.status_code, response.text)
