"""Every date a person or a system submits is bounded (issue 9, finding 6): not in the
future beyond a small clock skew, not before the complaint, not older than the bureau's
window, never a number, never a year the driver cannot store. Each refusal is a 422 that
names the field; none is a 500 or a dropped connection."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.platform import Platform

BASE = {"channel": "phone", "content": "挂号排队等了两个小时，导诊台无人指引。"}
OFFICE = "hz-001-complaint_office-1"
Query = dict[str, Any]


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    "received_at",
    [
        "1990-06-01T09:00:00+08:00",
        "0001-01-01T00:00:00+08:00",
        "9999-12-31T23:59:59-05:00",
        12345,
        "2026-13-01T00:00:00Z",
    ],
    ids=["1990", "year-1", "year-9999", "a-number", "no-such-month"],
)
async def test_an_impossible_received_at_is_a_422_naming_it(
    intake_only: Platform, received_at: object
) -> None:
    async with intake_only.client("intake", "hz-001") as intake:
        response = await intake.post("/v1/complaints", json=BASE | {"received_at": received_at})
        assert response.status_code == 422, response.text
        assert _fields(response) == ["received_at"]
        assert (await intake.get("/v1/complaints")).json()["items"] == []


async def test_received_at_older_than_the_bureaus_window_is_refused(
    intake_only: Platform,
) -> None:
    window = intake_only.settings["intake"].received_at_max_age_days
    now = datetime.now(UTC)
    async with intake_only.client("intake", "hz-001") as intake:
        old = BASE | {"received_at": _iso(now - timedelta(days=window + 1))}
        refused = await intake.post("/v1/complaints", json=old)
        assert refused.status_code == 422
        assert _fields(refused) == ["received_at"]
        assert str(window) in refused.json()["message"]

        recent = BASE | {"received_at": _iso(now - timedelta(days=window - 1))}
        assert (await intake.post("/v1/complaints", json=recent)).status_code == 201
        future = BASE | {"received_at": _iso(now + timedelta(hours=1))}
        assert _fields(await intake.post("/v1/complaints", json=future)) == ["received_at"]
        skewed = BASE | {"received_at": _iso(now + timedelta(minutes=1))}
        assert (await intake.post("/v1/complaints", json=skewed)).status_code == 201


async def test_a_batch_item_with_an_impossible_date_fails_alone(intake_only: Platform) -> None:
    async with intake_only.client("intake", "hz-001") as intake:
        batch = {
            "items": [
                {"idempotency_key": "d-1", "complaint": BASE},
                {
                    "idempotency_key": "d-2",
                    "complaint": BASE | {"received_at": "1990-01-01T00:00:00Z"},
                },
            ]
        }
        result = (await intake.post("/v1/complaints/batch", json=batch)).json()
        assert [item["outcome"] for item in result["items"]] == ["created", "invalid"]
        assert result["items"][1]["errors"][0]["field"] == "items.1.complaint.received_at"


@pytest.mark.parametrize(
    "arrived",
    [timedelta(days=-8), timedelta(hours=2)],
    ids=["before-the-complaint", "in-the-future"],
)
async def test_a_supplement_dated_before_the_complaint_or_in_the_future_is_refused(
    intake_only: Platform, arrived: timedelta
) -> None:
    received = datetime.now(UTC) - timedelta(days=5)
    async with intake_only.staff_client("intake", "hz-001") as intake:
        body = BASE | {"received_at": _iso(received)}
        created = (await intake.post("/v1/complaints", json=body)).json()
        base = f"/v1/complaints/{created['id']}"
        asked = await intake.post(
            f"{base}/supplement-request", json={"actor": OFFICE, "missing": "门诊病历复印件"}
        )
        assert asked.status_code == 200, asked.text
        response = await intake.post(
            f"{base}/supplement",
            json={"actor": OFFICE, "received_at": _iso(datetime.now(UTC) + arrived)},
        )
        assert response.status_code == 422, response.text
        assert _fields(response) == ["received_at"]
        case = (await intake.get(base)).json()
        assert case["status"] == "needs_supplement"  # nothing was applied
        # A backlog may record a supplement that came in after receipt, before today.
        earlier = {"actor": OFFICE, "received_at": _iso(received + timedelta(days=2))}
        assert (await intake.post(f"{base}/supplement", json=earlier)).status_code == 200


def _cursor(received_at: str, complaint_id: str) -> str:
    raw = json.dumps([received_at, complaint_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "params",
    [
        {"received_from": "0001-01-01T00:00:00+08:00"},
        {"received_to": "9999-12-31T23:59:59-05:00"},
        {"received_from": "12345"},
        {"cursor": _cursor("0001-01-01T00:00:00+08:00", "x")},
        {"cursor": _cursor("9999-12-31T23:59:59-05:00", "x")},
    ],
    ids=["from-year-1", "to-year-9999", "from-a-number", "cursor-year-1", "cursor-year-9999"],
)
async def test_list_bounds_out_of_range_are_a_422(intake_only: Platform, params: Query) -> None:
    async with intake_only.client("intake", "bureau") as intake:
        response = await intake.get("/v1/complaints", params=params)
        assert response.status_code == 422, response.text
        assert _fields(response) == [next(iter(params))]
        assert (await intake.get("/v1/complaints")).status_code == 200  # connection still fine


@pytest.mark.parametrize(
    "params",
    [{"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": "1899-12-31", "to": "1900-01-31"}],
    ids=["from-year-1", "to-year-9999", "before-the-platform"],
)
async def test_report_range_out_of_bounds_is_a_422(platform: Platform, params: Query) -> None:
    async with platform.client("reporting", "bureau") as reporting:
        response = await reporting.get("/v1/reports/summary", params=params)
        assert response.status_code == 422, response.text
        assert _fields(response) == list(params)
        assert (await reporting.get("/v1/reports/summary")).status_code == 200
