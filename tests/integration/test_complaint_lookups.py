"""The complainant's tracking lookup and staff's case-number lookup read lookup keys by `_id`
(intake's `complaint_keys`), then the complaint by `_id`: the one filter FerretDB v1 answers
from an index, so they stay fast at any history length."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from deploy.servers import Infrastructure
from services.intake import registration
from shared import runtime
from shared.mongo_clients import StoreOperations, bounded
from tests.support.mail import MailSink
from tests.support.platform import Names, Platform, running_platform

BASE = {
    "channel": "phone",
    "content": "出院结算时发现重复收费，CT检查费用收了两次。",
    "complainant": {"name": "王强", "phone": "13900002222"},
}
KEYS = "complaint_keys"  # intake's lookup keys: tracking:<code> and case:<number>
READS = frozenset({"find", "aggregate", "count", "distinct", "findAndModify", "getMore"})


class IntakeReads(monitoring.CommandListener):
    """The reads of complaints and their keys that intake's own client sends, while
    `recording()`: the command, the collection and its filter."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.reads: list[tuple[str, str, dict[str, Any]]] | None = None

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
        self.reads = []
        try:
            yield self.reads
        finally:
            self.reads = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.reads is None or event.database_name != self.database:
            return
        if event.command_name not in READS:
            return
        collection = str(event.command[event.command_name])
        if collection in ("complaints", KEYS):
            command = event.command
            query = command.get("filter", command.get("query", {"pipeline": "..."}))
            self.reads.append((event.command_name, collection, dict(query)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def recorded(
    infrastructure: Infrastructure, mail: MailSink, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Platform, IntakeReads]]:
    """Intake alone, its client listened to; the outbox sweep (a scan of its own, every
    0.2 s in tests) is held off so that only the requests' reads are seen."""
    names = Names()
    listener = IntakeReads(names.database("intake"))

    def listened_client(
        url: str, *, timeout_seconds: float = 30.0, operations: Any = None
    ) -> AsyncMongoClient[dict[str, Any]]:
        listeners: list[Any] = [listener]
        if operations is not None:
            listeners.append(StoreOperations(operations))
        return AsyncMongoClient(url, **bounded(timeout_seconds), event_listeners=listeners)

    monkeypatch.setattr(runtime, "mongo_client", listened_client)
    async with running_platform(
        infrastructure,
        smtp_port=mail.port,
        only=("intake",),
        names=names,
        overrides={"intake": {"outbox_sweep_seconds": 3600.0}},
    ) as platform:
        yield platform, listener


def keys_of(platform: Platform) -> Any:
    return platform.services["intake"].app.state.runtime.db[KEYS]


async def lookup_keys(keys: Any) -> dict[str, dict[str, Any]]:
    """The keys stored, without the mark that they are complete."""
    return {key["_id"]: key async for key in keys.find({"_id": {"$ne": "complete"}})}


async def test_tracking_and_case_number_lookups_read_by_id_alone(
    recorded: tuple[Platform, IntakeReads],
) -> None:
    platform, listener = recorded
    async with (
        platform.client("intake", "hz-001") as intake,
        platform.client("intake") as public,
    ):
        receipt = (await intake.post("/v1/complaints", json=BASE)).json()
        code, number = receipt["tracking_code"], receipt["case_number"]
        # A registration that stored its keys but lost its complaint's insert leaves a key
        # naming a complaint without that code: harmless.
        orphan = {"_id": "tracking:2222-3333-4444", "complaint_id": receipt["id"]}
        await keys_of(platform).insert_one(orphan | {"hospital_id": "hz-001"})
        with listener.recording() as reads:
            tracked = await public.get(f"/v1/track/{code.lower()}")
            found = await intake.get(f"/v1/complaints/by-case-number/{number}")
            unknown = await public.get("/v1/track/2345-6789-ABCD")
            orphaned = await public.get("/v1/track/2222-3333-4444")
            no_case = await intake.get("/v1/complaints/by-case-number/HZ-001-202001-00001")
    assert tracked.status_code == 200, tracked.text
    assert tracked.json()["case_number"] == number
    assert found.status_code == 200, found.text
    assert found.json()["id"] == receipt["id"]
    assert unknown.status_code == orphaned.status_code == no_case.status_code == 404
    assert {collection for _, collection, _ in reads} == {"complaints", KEYS}
    # Every read names one document by `_id` alone, found or not: no scan, at any size.
    assert all(
        name == "find" and list(query) == ["_id"] and isinstance(query["_id"], str)
        for name, _, query in reads
    ), reads


async def test_a_tracking_code_already_taken_is_drawn_again(
    intake_only: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        intake_only.client("intake", "hz-001") as intake,
        intake_only.client("intake") as public,
    ):
        first = (await intake.post("/v1/complaints", json=BASE)).json()
        draws = iter([first["tracking_code"], "2345-6789-ABCD"])
        monkeypatch.setattr(registration, "tracking_code", lambda: next(draws))
        second = await intake.post("/v1/complaints", json=BASE | {"content": "药房发错药。"})
        assert second.status_code == 201, second.text
        assert second.json()["tracking_code"] == "2345-6789-ABCD"
        for receipt in (first, second.json()):
            tracked = await public.get(f"/v1/track/{receipt['tracking_code']}")
            assert tracked.json()["case_number"] == receipt["case_number"]


async def test_a_complaint_stored_before_its_keys_is_still_found(intake_only: Platform) -> None:
    keys = keys_of(intake_only)
    async with (
        intake_only.client("intake", "hz-001") as intake,
        intake_only.client("intake") as public,
    ):
        receipt = (await intake.post("/v1/complaints", json=BASE)).json()
        code, number = receipt["tracking_code"], receipt["case_number"]
        await keys.delete_many({})  # a database from before the keys: none, and not complete
        tracked = await public.get(f"/v1/track/{code}")
        assert tracked.status_code == 200, tracked.text
        assert tracked.json()["case_number"] == number
        found = await intake.get(f"/v1/complaints/by-case-number/{number}")
        assert found.status_code == 200, found.text
        assert found.json()["id"] == receipt["id"]
    # Found once by the indexed query, its keys are written: later lookups read by `_id`.
    stored = await lookup_keys(keys)
    assert stored.keys() == {f"tracking:{code}", f"case:{number}"}
    assert {key["complaint_id"] for key in stored.values()} == {receipt["id"]}


def rebuild_keys(platform: Platform) -> str:
    env = {
        **os.environ,
        "HUIYIN_MONGO_URL": platform.infra.mongo_url,
        "HUIYIN_DATABASE": platform.settings["intake"].database,
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.intake.rebuild_keys"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


async def test_rebuild_keys_restores_deleted_keys(intake_only: Platform) -> None:
    keys = keys_of(intake_only)
    receipts = []
    for hospital in ("hz-001", "hz-002", "hz-002"):
        async with intake_only.client("intake", hospital) as intake:
            receipts.append((await intake.post("/v1/complaints", json=BASE)).json())
    before = await lookup_keys(keys)
    expected = {f"tracking:{r['tracking_code']}" for r in receipts} | {
        f"case:{r['case_number']}" for r in receipts
    }
    assert expected <= before.keys()
    await keys.delete_many({"_id": {"$in": sorted(expected)[:4]}})

    said = rebuild_keys(intake_only)
    assert "3 complaints" in said, said
    assert await lookup_keys(keys) == before
    said = rebuild_keys(intake_only)  # idempotent: nothing more to write
    assert "0 keys written, 0 corrected" in said, said
    assert await lookup_keys(keys) == before
    async with intake_only.client("intake") as public:
        for receipt in receipts:
            tracked = await public.get(f"/v1/track/{receipt['tracking_code']}")
            assert tracked.json()["case_number"] == receipt["case_number"]


async def test_the_case_number_lookup_shows_a_hospital_only_its_own(
    intake_only: Platform,
) -> None:
    async with (
        intake_only.staff_client("intake", "hz-001") as office,
        intake_only.client("intake", "hz-002") as other,
        intake_only.client("intake", "bureau") as bureau,
    ):
        receipt = (await office.post("/v1/complaints", json=BASE)).json()
        number, path = receipt["case_number"], f"/v1/complaints/{receipt['id']}"
        by_number = f"/v1/complaints/by-case-number/{number.lower()}"
        # The same answer as the complaint's own route, for each reader.
        staff = {"X-Huiyin-Staff": "hz-001-complaint_office-1"}
        full = await office.get(by_number, headers=staff)
        assert full.status_code == 200, full.text
        assert full.json()["identity_view"] == "full"
        assert full.json() == (await office.get(path, headers=staff)).json()
        for reader in (office, bureau):
            assert (await reader.get(by_number)).json() == (await reader.get(path)).json()
        # Another hospital is told it does not exist, as for an unknown number.
        hidden = await other.get(by_number)
        unknown = await office.get("/v1/complaints/by-case-number/HZ-001-202001-99999")
        assert hidden.status_code == unknown.status_code == 404
        assert number in hidden.json()["message"] and "case_number" in hidden.json()["message"]
        assert "HZ-001-202001-99999" in unknown.json()["message"]
