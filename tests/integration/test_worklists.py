"""Intake's history pages and worklists (domain/worklists.py) on the real broker and
MongoDB-wire server: kept current by every change of a complaint, equal to what the rebuild
computes from the complaints, and converging whatever the order of their writes."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.adapters.complaint_views import PROJECTION
from services.intake.domain import worklists
from tests.support import events as sample
from tests.support.bus import publish
from tests.support.complaints import complaint_when
from tests.support.platform import Platform
from tests.support.polling import eventually

BASE = {"channel": "phone", "content": "出院结算时发现重复收费，CT检查费用收了两次。"}
OFFICE = "hz-001-complaint_office-1"
HANDLER = sample.HANDLER.staff_id


def intake_db(platform: Platform) -> Any:
    return platform.services["intake"].app.state.runtime.db


async def stored_and_rebuilt(platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """What every stored view shows, and what the complaints say they should show."""
    db = intake_db(platform)
    stored = {v["_id"]: worklists.shown(v) async for v in db["complaint_views"].find({})}
    complaints = [c async for c in db["complaints"].find({}, PROJECTION)]
    wanted = {k: worklists.shown(v) for k, v in worklists.rebuilt(complaints).items()}
    return (
        {k: rows for k, rows in stored.items() if rows},
        {k: rows for k, rows in wanted.items() if rows},
    )


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def test_worklists_and_history_follow_each_case_and_equal_the_rebuild(
    intake_only: Platform,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)

    def office() -> dict[str, str]:
        return intake_only.staff_headers("hz-001", OFFICE)

    async with intake_only.staff_client("intake", "hz-001") as intake:
        accepted = BASE | {"received_by": OFFICE, "accepted": True}
        first = (await intake.post("/v1/complaints", json=accepted, headers=office())).json()
        older = BASE | {"received_at": (now - timedelta(days=2)).isoformat()}
        second = (await intake.post("/v1/complaints", json=older)).json()
        waiting = (await intake.post("/v1/complaints", json=BASE)).json()
        async with intake_only.client("intake") as plain:
            path = f"/v1/complaints/{second['id']}/accept"
            response = await plain.post(path, json={}, headers=office())
            assert response.status_code == 200, response.text
    async with intake_only.client("intake", "hz-002") as other:
        elsewhere = (await other.post("/v1/complaints", json=BASE)).json()

    routed = sample.routed(due_at=now + timedelta(days=7))
    await publish(
        intake_only,
        sample.envelope(routed, first["id"]),
        sample.envelope(routed, second["id"]),
        sample.envelope(routed, second["id"]),  # a redelivery changes nothing
    )
    async with intake_only.client("intake", "hz-001") as intake:
        await complaint_when(intake, first["id"])
        await complaint_when(intake, second["id"])
    overdue = sample.overdue(due_at=now + timedelta(days=7))
    await publish(intake_only, sample.envelope(overdue, second["id"]))

    async with intake_only.staff_client("intake", "hz-001") as intake:
        finding = {
            "actor": HANDLER,
            "result": "substantiated",
            "summary": "收费系统重复计费。",
            "responsible_department": "finance",
        }
        response = await intake.post(f"/v1/complaints/{first['id']}/finding", json=finding)
        assert response.status_code == 200, response.text
        reply = {"content": "已核实并退还多收费用。", "actor": HANDLER}
        response = await intake.post(f"/v1/complaints/{first['id']}/reply", json=reply)
        assert response.status_code == 200, response.text

        async def overdue_listed() -> dict[str, Any] | None:
            page = (await intake.get("/v1/worklists/overdue")).json()
            return page if page["items"] else None

        overdue_page = await eventually(overdue_listed, what="the overdue case listed")
        assert ids(overdue_page) == [second["id"]]
        assert overdue_page["label"] == "超期案件" and overdue_page["items"][0]["overdue"]

        handler = (await intake.get(f"/v1/worklists/handlers/{HANDLER}")).json()
        assert ids(handler) == [second["id"]] and handler["total"] == 1
        assert handler["items"][0]["handler"] == HANDLER
        department = (await intake.get("/v1/worklists/departments/finance")).json()
        assert ids(department) == [second["id"]]
        acceptance = (await intake.get("/v1/worklists/acceptance")).json()
        assert ids(acceptance) == [waiting["id"]] and acceptance["label"] == "待受理队列"

        history = (await intake.get("/v1/complaints")).json()
        assert ids(history) == [waiting["id"], first["id"], second["id"]]
        assert history["next_cursor"] is None
        replied = (await intake.get("/v1/complaints", params={"status": "replied"})).json()
        assert ids(replied) == [first["id"]]
        paged = (await intake.get("/v1/complaints", params={"limit": 2})).json()
        assert ids(paged) == [waiting["id"], first["id"]]
        rest = await intake.get("/v1/complaints", params={"cursor": paged["next_cursor"]})
        assert ids(rest.json()) == [second["id"]]
        hidden = await intake.get("/v1/worklists/acceptance", params={"hospital_id": "hz-002"})
        assert hidden.status_code == 403

    async with intake_only.client("intake", "bureau") as bureau:
        region = (await bureau.get("/v1/complaints")).json()
        assert set(ids(region)) == {first["id"], second["id"], waiting["id"], elsewhere["id"]}
        region_overdue = (await bureau.get("/v1/worklists/overdue")).json()
        assert ids(region_overdue) == [second["id"]] and region_overdue["hospital_id"] is None
        unnamed = await bureau.get("/v1/worklists/acceptance")
        assert unnamed.status_code == 422
        assert unnamed.json()["errors"][0]["field"] == "hospital_id"
        named = await bureau.get("/v1/worklists/acceptance", params={"hospital_id": "hz-002"})
        assert ids(named.json()) == [elsewhere["id"]]

    stored, wanted = await stored_and_rebuilt(intake_only)
    assert stored == wanted
    # The rebuild writes what the projection wrote: a second changes nothing either.
    views = intake_only.services["intake"].app.state.ports.views
    await views.rebuild(intake_db(intake_only)["complaints"])
    assert await stored_and_rebuilt(intake_only) == (wanted, wanted)


def history_of(complaint_id: str, received_at: datetime, length: int) -> list[dict[str, Any]]:
    """A case's versions: received, accepted, routed, moved to another handler, overdue,
    replied, reopened, ... (the states the views care about)."""
    due = received_at + timedelta(days=7)
    states: list[tuple[str, str | None, list[dict[str, Any]]]] = [
        ("received", None, []),
        ("accepted", None, []),
        ("assigned", "hz-001-finance-1", []),
        ("assigned", "hz-001-finance-2", []),
        ("in_progress", "hz-001-finance-2", [{"level": "reply_due", "due_at": due}]),
        ("replied", "hz-001-finance-2", [{"level": "reply_due", "due_at": due}]),
        ("reopened", "hz-001-finance-1", []),
        ("closed", "hz-001-finance-1", []),
    ]
    versions = []
    for version, (status, handler, steps) in enumerate(states[:length], start=1):
        assignment = None
        if handler:
            person = {"staff_id": handler, "name": "钱会计"}
            assignment = {"department": "finance", "handler": person, "due_at": due}
        versions.append(
            {
                "_id": complaint_id,
                "version": version,
                "hospital_id": "hz-004",
                "case_number": f"HZ-004-202611-{version:05d}",
                "tracking_code": complaint_id[-8:],
                "status": status,
                "channel": "phone",
                "kind": "complaint",
                "received_at": received_at,
                "assignment": assignment,
                "escalations": steps,
            }
        )
    return versions


async def test_scrambled_and_redelivered_view_writes_converge_on_the_server(
    intake_only: Platform,
) -> None:
    """Many cases' changes written at once, in a shuffled order and some twice, through the
    group-committed writer: the stored views equal what the newest versions say."""
    views = intake_only.services["intake"].app.state.ports.views
    rng = random.Random(13)
    start = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    histories = [
        history_of(f"scrambled-{n:03d}", start + timedelta(hours=7 * n), rng.randint(1, 8))
        for n in range(24)
    ]
    changes = [
        (before, after)
        for versions in histories
        for before, after in zip([None, *versions], versions, strict=False)
    ]
    delivered = changes + rng.sample(changes, len(changes) // 3)
    rng.shuffle(delivered)
    await asyncio.gather(*(views.project(before, after) for before, after in delivered))
    assert views.unwritten == 0

    stored = {
        v["_id"]: worklists.shown(v)
        async for v in intake_db(intake_only)["complaint_views"].find({})
    }
    wanted = worklists.rebuilt([versions[-1] for versions in histories])
    assert {k: rows for k, rows in stored.items() if rows} == {
        k: worklists.shown(v) for k, v in wanted.items() if worklists.shown(v)
    }
    spans = {k: v["first"] for k, v in wanted.items() if k.startswith("span:")}
    for view_id, first in spans.items():
        assert (await views.view(view_id))["first"] == first
