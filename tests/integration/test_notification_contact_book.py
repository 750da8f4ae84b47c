"""`huiyin-admin load-region` loads notification's contact book with the other copies, into
the MongoDB-wire server, one document per hospital and one for the bureau, each read by
`_id` by the service (async) and by Celery tasks (blocking); a faulty section stores
nothing anywhere; the command's output never shows a secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from pymongo import MongoClient

from deploy import admin
from deploy.admin import load_region
from deploy.servers import Infrastructure
from services.notification.adapters.contact_book import CONTACTS, ContactBook, ContactBookReader
from services.routing.settings import RoutingSettings
from shared.contracts import DeliveryChannel
from shared.runtime import mongo_client
from tests.support.platform import Names

REGION_FILE = Path(__file__).resolve().parents[2] / "deploy" / "region.example.yaml"


@pytest.fixture
async def names(infrastructure: Infrastructure) -> AsyncIterator[Names]:
    names = Names()
    yield names
    client = mongo_client(infrastructure.mongo_url)
    try:
        for service in ("routing", "intake", "notification"):
            await client.drop_database(names.database(service))
    finally:
        await client.close()


async def _load(infrastructure: Infrastructure, names: Names, path: Path) -> dict[str, int]:
    return await load_region(
        path,
        RoutingSettings(mongo_url=infrastructure.mongo_url, database=names.database("routing")),
        intake_database=names.database("intake"),
        notification_database=names.database("notification"),
    )


async def test_the_contact_book_is_loaded_with_the_region_and_read_by_id(
    infrastructure: Infrastructure, names: Names
) -> None:
    counts = await _load(infrastructure, names, REGION_FILE)
    assert counts["notification_contacts"] == 4  # three hospitals and the bureau

    client = mongo_client(infrastructure.mongo_url)
    try:
        book = ContactBook(client[names.database("notification")])
        hz1, bureau = await book.hospital("hz-001"), await book.bureau()
        assert hz1 is not None and bureau is not None
        dingtalk = hz1.groups["leaders-dingtalk"]
        assert dingtalk.channel == DeliveryChannel.DINGTALK and dingtalk.secret is not None
        assert dingtalk.secret.get_secret_value().startswith("SECdemo")
        assert hz1.people["hz-001-leadership-1"].phone == "13800000001"
        assert bureau.people["bureau-sup-1"].phone == "13800000009"
        assert await book.hospital("hz-404") is None
    finally:
        await client.close()

    # A Celery task reads the same, blocking.
    blocking: MongoClient[dict[str, Any]] = MongoClient(infrastructure.mongo_url)
    try:
        reader = ContactBookReader(blocking[names.database("notification")])
        assert reader.hospital("hz-001") == hz1 and reader.bureau() == bureau
    finally:
        blocking.close()


async def test_reloading_replaces_a_hospitals_contacts(
    infrastructure: Infrastructure, names: Names, tmp_path: Path
) -> None:
    await _load(infrastructure, names, REGION_FILE)
    raw = yaml.safe_load(REGION_FILE.read_text(encoding="utf-8"))
    del raw["notification"]["hospitals"]["hz-002"]
    edited = tmp_path / "region.yaml"
    edited.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    await _load(infrastructure, names, edited)

    client = mongo_client(infrastructure.mongo_url)
    try:
        hz2 = await ContactBook(client[names.database("notification")]).hospital("hz-002")
        assert hz2 is not None and hz2.groups == {}
        assert all(not audience.groups for audience in hz2.audiences.values())
    finally:
        await client.close()


async def test_a_faulty_contact_book_stores_nothing_anywhere(
    infrastructure: Infrastructure, names: Names, tmp_path: Path
) -> None:
    raw = yaml.safe_load(REGION_FILE.read_text(encoding="utf-8"))
    raw["notification"]["hospitals"]["hz-001"]["staff"]["hz-001-nobody"] = {"phone": "13800000005"}
    faulty = tmp_path / "region.yaml"
    faulty.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationError, match="hz-001-nobody is not staff of hz-001"):
        await _load(infrastructure, names, faulty)

    client = mongo_client(infrastructure.mongo_url)
    try:
        routing = client[names.database("routing")]
        notification = client[names.database("notification")]
        assert await routing["hospitals"].find_one({"_id": "hz-001"}) is None
        assert await notification[CONTACTS].find_one({"_id": "hospital:hz-001"}) is None
    finally:
        await client.close()


def test_the_admin_command_reports_counts_and_never_a_secret(
    infrastructure: Infrastructure,
    names: Names,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HUIYIN_MONGO_URL", infrastructure.mongo_url)
    monkeypatch.setenv("HUIYIN_DATABASE", names.database("routing"))
    monkeypatch.setenv("HUIYIN_INTAKE_DATABASE", names.database("intake"))
    monkeypatch.setenv("HUIYIN_NOTIFICATION_DATABASE", names.database("notification"))
    assert admin.main(["load-region", str(REGION_FILE)]) == 0
    printed = capsys.readouterr()
    assert '"notification_contacts": 4' in printed.out
    for secret in ("SECdemo", "whsec_", "demo-wecom-key", "demo-dingtalk-token", "13800000001"):
        assert secret not in printed.out + printed.err
