"""Intake's API against the real MongoDB-wire server and RabbitMQ."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.intake.migrations import upgrade_earlier_complaints
from tests.support import events as sample
from tests.support.bus import publish
from tests.support.complaints import complaint_when
from tests.support.platform import Platform

BASE = {"channel": "phone", "content": "挂号排队等了两个小时，导诊台无人指引。"}


async def test_same_idempotency_key_and_body_make_one_case(intake_only: Platform) -> None:
    async with intake_only.client("intake", "hz-002") as intake:
        headers = {"Idempotency-Key": "his-sync-0001"}
        first = await intake.post("/v1/complaints", json=BASE, headers=headers)
        second = await intake.post("/v1/complaints", json=BASE, headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.json() == second.json()
        assert second.headers["Idempotent-Replayed"] == "true"
        page = (await intake.get("/v1/complaints")).json()
        assert len(page["items"]) == 1


async def test_a_burst_of_retries_and_new_complaints_loses_and_duplicates_nothing(
    intake_only: Platform,
) -> None:
    """A hospital syncing its backlog: many complaints at once, each retried concurrently."""
    async with intake_only.client("intake", "hz-003") as intake:

        async def post(n: int) -> httpx.Response:
            body = BASE | {"content": f"第{n}件：挂号排队太久。"}
            return await intake.post(
                "/v1/complaints", json=body, headers={"Idempotency-Key": f"sync-{n}"}
            )

        responses = await asyncio.gather(*(post(n % 30) for n in range(90)))
        assert {r.status_code for r in responses} == {201}, [r.text for r in responses][:3]
        by_key: dict[str, set[str]] = {}
        for n, response in enumerate(responses):
            by_key.setdefault(f"sync-{n % 30}", set()).add(response.json()["case_number"])
        assert all(len(numbers) == 1 for numbers in by_key.values())  # a retry is the same case
        numbers = {next(iter(v)) for v in by_key.values()}
        assert len(numbers) == 30  # and no two complaints share a case number
        page = (await intake.get("/v1/complaints", params={"limit": 100})).json()
        assert len(page["items"]) == 30


async def test_same_key_with_a_different_body_is_a_conflict(intake_only: Platform) -> None:
    async with intake_only.client("intake", "hz-002") as intake:
        headers = {"Idempotency-Key": "his-sync-0002"}
        assert (await intake.post("/v1/complaints", json=BASE, headers=headers)).status_code == 201
        other = BASE | {"content": "另一件事：停车场收费不合理。"}
        conflict = await intake.post("/v1/complaints", json=other, headers=headers)
        assert conflict.status_code == 409
        assert "Idempotency-Key" in conflict.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "pigeon", "content": "x"}, "channel"),
        ({"channel": "phone"}, "content"),
        ({"channel": "phone", "content": "x" * 5001}, "content"),
        (
            {"channel": "email", "content": "x", "complainant": {"email": "not-an-address"}},
            "complainant.email",
        ),
        ({"channel": "anonymous_letter", "content": "x"}, "anonymous"),
        (
            {
                "channel": "phone",
                "content": "x",
                "anonymous": True,
                "complainant": {"name": "王五"},
            },
            "complainant",
        ),
        ({"channel": "phone", "content": "x", "surprise": 1}, "surprise"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    intake_only: Platform, body: dict[str, Any], field: str
) -> None:
    async with intake_only.client("intake", "hz-001") as intake:
        response = await intake.post("/v1/complaints", json=body)
    assert response.status_code == 422
    assert field in [error["field"] for error in response.json()["errors"]], response.text


async def test_a_hospital_never_sees_another_hospitals_complaints(intake_only: Platform) -> None:
    async with (
        intake_only.client("intake", "hz-001") as first,
        intake_only.staff_client("intake", "hz-002") as second,
        intake_only.client("intake", "bureau") as bureau,
    ):
        mine = (await first.post("/v1/complaints", json=BASE)).json()
        assert (await second.get(f"/v1/complaints/{mine['id']}")).status_code == 404
        assert (await second.get("/v1/complaints")).json()["items"] == []
        forbidden = await second.post(
            f"/v1/complaints/{mine['id']}/reply",
            json={"content": "x", "actor": "hz-002-complaint_office-1"},
        )
        assert forbidden.status_code == 404
        assert (await bureau.get(f"/v1/complaints/{mine['id']}")).status_code == 200
        wrong = await second.post("/v1/complaints", json=BASE | {"hospital_id": "hz-001"})
        assert wrong.status_code == 403
        no_hospital = await bureau.post("/v1/complaints", json=BASE)
        assert no_hospital.status_code == 422


async def test_unknown_or_missing_key_is_401(intake_only: Platform) -> None:
    async with intake_only.client("intake") as anonymous:
        assert (await anonymous.get("/v1/complaints")).status_code == 401
        response = await anonymous.get("/v1/complaints", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401


async def test_list_is_paginated_newest_first(intake_only: Platform) -> None:
    async with intake_only.client("intake", "hz-003") as intake:
        for day in range(1, 8):
            body = BASE | {"received_at": f"2026-10-{day:02d}T02:00:00Z"}
            assert (await intake.post("/v1/complaints", json=body)).status_code == 201
        seen, cursor = [], None
        while True:
            params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = (await intake.get("/v1/complaints", params=params)).json()
            seen += [item["received_at"][:10] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"2026-10-{day:02d}" for day in range(7, 0, -1)]
        bad = await intake.get("/v1/complaints", params={"cursor": "garbage"})
        assert bad.status_code == 422


async def test_reply_before_acceptance_is_a_409_naming_allowed_transitions(
    intake_only: Platform,
) -> None:
    async with intake_only.staff_client("intake", "hz-001") as intake:
        created = (await intake.post("/v1/complaints", json=BASE)).json()
        response = await intake.post(
            f"/v1/complaints/{created['id']}/reply",
            json={"content": "好的", "actor": "hz-001-complaint_office-1"},
        )
    assert response.status_code == 409
    assert response.json()["allowed"] == [
        "accept",
        "hand_over",
        "not_accept",
        "request_supplement",
        "reroute",
        "resolve_on_spot",
        "transfer",
    ]


async def test_case_numbers_count_per_hospital_and_month(intake_only: Platform) -> None:
    async with intake_only.client("intake", "hz-001") as intake:
        numbers = [
            (await intake.post("/v1/complaints", json=BASE | {"received_at": at})).json()[
                "case_number"
            ]
            for at in ("2026-09-30T15:00:00Z", "2026-09-30T17:00:00Z", "2026-10-02T01:00:00Z")
        ]
    # 2026-09-30 17:00 UTC is already 1 October in China.
    assert numbers == ["HZ-001-202609-00001", "HZ-001-202610-00001", "HZ-001-202610-00002"]


async def test_complaints_stored_before_sealing_and_chaining_are_upgraded_not_lost(
    intake_only: Platform,
) -> None:
    app = intake_only.services["intake"].app
    ports = app.state.ports
    repository = ports.repository
    at = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    await repository.collection.insert_one(
        {
            "_id": "issue2-era",
            "hospital_id": "hz-001",
            "case_number": "HZ-001-202611-09999",
            "tracking_code": "ABCD-EFGH-JKLM",
            "idempotency_key": "auto:issue2-era",
            "status": "assigned",
            "channel": "phone",
            "kind": "complaint",
            "anonymous": False,
            "complainant": {"name": "王强", "phone": "13900002222", "relation": "self"},
            "content": "重复收费",
            "received_at": at,
            "timeline": [
                {"at": at, "type": "received", "by": None, "note": None},
                {"at": at, "type": "assigned", "by": "routing", "note": "财务科 / 收费物价"},
            ],
            "version": 2,
        }
    )
    assert await upgrade_earlier_complaints(ports=ports) == 1
    assert await upgrade_earlier_complaints(ports=ports) == 0  # idempotent

    stored = await repository.get("issue2-era")
    assert "王强" not in str(stored["complainant"])
    assert [e["type"] for e in stored["timeline"]] == ["received", "assigned", "record_upgraded"]
    async with intake_only.staff_client("intake", "hz-001") as intake:
        office = {"X-Huiyin-Staff": "hz-001-complaint_office-1"}
        read = (await intake.get("/v1/complaints/issue2-era", headers=office)).json()
        verdict = (await intake.get("/v1/complaints/issue2-era/timeline/verify")).json()
    assert verdict["ok"] and verdict["count"] == 3
    assert read["identity_view"] == "full" and read["complainant"]["phone"] == "13900002222"


async def test_a_deadline_change_consumed_before_its_routing_decision_is_not_lost(
    intake_only: Platform,
) -> None:
    """Both events may be consumed in either order: the deadline change waits (retried)
    until the decision is there, and the older decision never undoes the newer deadline."""
    async with intake_only.client("intake", "hz-001") as intake:
        created = (await intake.post("/v1/complaints", json=BASE)).json()
    received = sample.RECEIVED_AT
    first_due = datetime(2026, 11, 9, 15, 59, 59, tzinfo=UTC)
    moved_due = datetime(2026, 11, 16, 15, 59, 59, tzinfo=UTC)
    routed = sample.routed(handler=None, due_at=first_due)
    changed = sample.deadline_changed(
        due_at=moved_due, previous_due_at=first_due, reason="材料补齐"
    )
    await publish(
        intake_only,  # the later event first
        sample.envelope(changed, created["id"], at=received + timedelta(hours=1)),
        sample.envelope(routed, created["id"], at=received),
    )

    async with intake_only.client("intake", "hz-001") as intake:

        def moved(assignment: dict[str, Any]) -> bool:
            return datetime.fromisoformat(assignment["due_at"]) == moved_due

        document = await complaint_when(intake, created["id"], moved)
        assert datetime.fromisoformat(document["assignment"]["due_at"]) == moved_due
        types = [entry["type"] for entry in document["timeline"]]
        assert types == ["received", "assigned", "deadline_changed"]
