"""Operators see, replay and discard parked messages (issue 9, finding 9), against the real
broker and MongoDB-wire server: each service drains its parking queue into its database;
the bureau lists them with reason, type, complaint and age through the admin API and
`huiyin-admin parked`; a replay after the fix is handled like a first delivery, with its
effect once; a discard records why and who; the gauge counts what is parked per queue."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import aio_pika
import pytest
import yaml

from deploy import admin
from services.routing.domain.region import Region
from shared.contracts import Envelope
from shared.topology import parking_queue_name, queue_name
from tests.support import bus
from tests.support import events as sample
from tests.support.bus import listen
from tests.support.metrics import metric
from tests.support.parked import wait_for_parked
from tests.support.platform import REGION_FILE, Platform

RECEIVED = sample.received()


@pytest.fixture
async def channel(routing_only: Platform) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(routing_only.infra.amqp_url)
    async with connection:
        yield await connection.channel()


async def publish(
    channel: aio_pika.abc.AbstractChannel, platform: Platform, body: bytes, routing_key: str
) -> None:
    exchange = await channel.get_exchange(platform.names.exchange)
    await exchange.publish(aio_pika.Message(body, message_id=str(uuid4())), routing_key)


def poison(complaint_id: str) -> bytes:
    """A well-formed envelope whose payload routing can never read."""
    envelope = Envelope(
        type="complaint.received", hospital_id="hz-001", complaint_id=complaint_id, payload={}
    )
    return envelope.model_dump_json().encode()


AdminCommand = Callable[..., Awaitable[tuple[int, str]]]


@pytest.fixture
def huiyin_admin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> AdminCommand:
    """`huiyin-admin parked ...` with the bureau's key, against the running service (in a
    thread: the services answer on this test's event loop). Returns (exit code, stdout)."""

    async def run(platform: Platform, *argv: str) -> tuple[int, str]:
        monkeypatch.setenv("HUIYIN_ADMIN_KEY", platform.keys.clear["bureau"])
        service = argv[argv.index("--service") + 1]
        full = ["parked", *argv, "--url", platform.url(service), "--operator", "值班员小王"]
        capsys.readouterr()
        code = await asyncio.to_thread(admin.main, full)
        return code, capsys.readouterr().out

    return run


async def test_a_poison_message_is_listed_with_its_reason_type_complaint_and_age(
    routing_only: Platform, channel: aio_pika.abc.AbstractChannel, huiyin_admin: AdminCommand
) -> None:
    platform = routing_only
    await publish(channel, platform, poison("c-poison"), "complaint.received")

    [item] = await wait_for_parked(platform, "routing", 1)
    assert item["status"] == "parked" and item["source"] == "consumer"
    assert item["reason"].startswith("invalid payload")
    assert (item["event_type"], item["complaint_id"], item["hospital_id"]) == (
        "complaint.received",
        "c-poison",
        "hz-001",
    )
    assert 0 <= item["age_seconds"] < 60 and item["history"] == []
    # Stored, then acked: the broker's parking queue is empty again.
    parking = await channel.declare_queue(
        parking_queue_name(platform.names.prefix, "routing"), passive=True
    )
    assert parking.declaration_result.message_count == 0

    code, out = await huiyin_admin(platform, "list", "--service", "routing")
    assert code == 0
    [header, row, *_] = out.splitlines()
    assert header.split()[:4] == ["id", "status", "age", "type"]
    assert row.startswith(item["id"]) and "c-poison" in row and "invalid payload" in row
    assert "parked now: 1" in out
    code, out = await huiyin_admin(platform, "list", "--service", "routing", "--json")
    assert code == 0 and [i["id"] for i in json.loads(out)["items"]] == [item["id"]]
    code, out = await huiyin_admin(platform, "show", "--service", "routing", item["id"])
    assert code == 0 and json.loads(out)["reason"] == item["reason"]


async def test_only_the_bureau_sees_and_handles_parked_messages(
    routing_only: Platform, channel: aio_pika.abc.AbstractChannel
) -> None:
    platform = routing_only
    await publish(channel, platform, poison("c-secret"), "complaint.received")
    [item] = await wait_for_parked(platform, "routing", 1)
    attempts = [
        ("GET", "/v1/admin/parked", None),
        ("GET", f"/v1/admin/parked/{item['id']}", None),
        ("POST", f"/v1/admin/parked/{item['id']}/replay", {}),
        ("POST", "/v1/admin/parked/replay", {}),
        ("POST", f"/v1/admin/parked/{item['id']}/discard", {"reason": "不需要"}),
    ]
    async with (
        platform.client("routing", "hz-001") as hospital,
        platform.client("routing") as anyone,
    ):
        for method, path, body in attempts:
            refused = await hospital.request(method, path, json=body)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["code"] == "forbidden"
            assert (await anyone.request(method, path, json=body)).status_code == 401
    [still] = await wait_for_parked(platform, "routing", 1)
    assert still["status"] == "parked" and still["history"] == []


async def test_a_complaint_parked_until_its_hospital_is_loaded_is_replayed_with_its_effect_once(
    routing_only: Platform, channel: aio_pika.abc.AbstractChannel, huiyin_admin: AdminCommand
) -> None:
    platform = routing_only
    complaint_id = str(uuid4())
    answers = await listen(channel, platform, "complaint.routed")
    # hz-009 is not in routing's region yet: routing parks the receipt ("load it, replay").
    # The broker delivers it twice (at least once): two parked deliveries of one event.
    received = RECEIVED.envelope(hospital_id="hz-009", complaint_id=complaint_id)
    await bus.publish(platform, received, received)
    first, second = await wait_for_parked(platform, "routing", 2)
    assert "hospital hz-009 is not in the region" in first["reason"]
    assert first["event_id"] == second["event_id"] == str(received.event_id)
    labels = {"service": "routing", "queue": queue_name(platform.names.prefix, "routing")}
    assert await metric(platform, "routing", "huiyin_parked_messages", **labels) == 2

    # The fix: the bureau loads hz-009. Then one replay through the API...
    await platform.services["routing"].app.state.region.load(region_with("hz-009"))
    async with platform.client("routing", "bureau") as bureau:
        replayed = await bureau.post(
            f"/v1/admin/parked/{first['id']}/replay", json={"operator": "值班员小王"}
        )
        assert replayed.status_code == 200, replayed.text
        assert replayed.json()["status"] == "replayed"
        [done] = replayed.json()["history"]
        assert (done["action"], done["by"], done["operator"]) == (
            "replayed",
            "bureau",
            "值班员小王",
        )
        again = await bureau.post(f"/v1/admin/parked/{first['id']}/replay")
        assert again.status_code == 409, again.text
        assert (again.json()["code"], again.json()["status"]) == ("not_parked", "replayed")
    assert await metric(platform, "routing", "huiyin_parked_messages", **labels) == 1

    # ...and the rest with the command: the duplicate delivery of the same event.
    code, out = await huiyin_admin(platform, "replay", "--service", "routing", "--all")
    assert code == 0 and json.loads(out) == {"replayed": 1, "ids": [second["id"]]}
    assert await metric(platform, "routing", "huiyin_parked_messages", **labels) == 0

    # Handled like first deliveries: both acked, one decision, published once.
    deadline = time.monotonic() + 20
    clocks = platform.services["routing"].app.state.clocks.collection
    while True:
        consumed = await metric(
            platform, "routing", "huiyin_events_consumed_total", event_type="complaint.received"
        )
        clock = await clocks.find_one({"_id": complaint_id})
        if consumed == 2 and clock is not None and not clock.get("outbox"):
            break
        assert time.monotonic() < deadline, (consumed, clock)
        await asyncio.sleep(0.05)
    assert clock["revision"] == 1 and clock["hospital_id"] == "hz-009"
    routed = await answers.drain()
    assert [(e.complaint_id, e.payload["revision"]) for e in routed] == [(complaint_id, 1)]
    assert await wait_for_parked(platform, "routing", 0) == []
    history = await wait_for_parked(platform, "routing", 2, status="replayed")
    assert [h["id"] for h in history] == [first["id"], second["id"]]


async def test_a_discarded_message_records_why_and_who_and_is_no_longer_parked(
    routing_only: Platform, channel: aio_pika.abc.AbstractChannel, huiyin_admin: AdminCommand
) -> None:
    platform = routing_only
    await publish(channel, platform, poison("c-dropped"), "complaint.received")
    await publish(channel, platform, poison("c-kept"), "complaint.received")
    dropped, kept = await wait_for_parked(platform, "routing", 2)
    assert dropped["complaint_id"] == "c-dropped"

    async with platform.client("routing", "bureau") as bureau:
        path = f"/v1/admin/parked/{dropped['id']}/discard"
        missing = await bureau.post(path, json={"reason": "  "})
        assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "reason"
        unknown = await bureau.post(
            "/v1/admin/parked/20991231T000000000000Z-0000000000000000/discard",
            json={"reason": "x"},
        )
        assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"

    code, out = await huiyin_admin(
        platform, "discard", "--service", "routing", dropped["id"], "--reason", "测试数据，无需处理"
    )
    assert code == 0
    record = json.loads(out)
    assert record["status"] == "discarded"
    [entry] = record["history"]
    assert (entry["action"], entry["by"], entry["operator"], entry["reason"]) == (
        "discarded",
        "bureau",
        "值班员小王",
        "测试数据，无需处理",
    )
    assert [i["id"] for i in await wait_for_parked(platform, "routing", 1)] == [kept["id"]]
    [listed] = await wait_for_parked(platform, "routing", 1, status="discarded")
    assert listed["id"] == dropped["id"] and listed["history"] == record["history"]

    code, _ = await huiyin_admin(
        platform, "discard", "--service", "routing", dropped["id"], "--reason", "again"
    )
    assert code == 1  # 409: discarded already, not parked


async def test_a_message_dead_lettered_by_the_delivery_limit_is_listed_with_the_x_death_reason(
    routing_only: Platform, channel: aio_pika.abc.AbstractChannel
) -> None:
    """A handler that keeps failing (transiently) reaches the quorum queue's delivery limit:
    the broker dead-letters the message, without our reason header."""
    platform = routing_only
    consumer = platform.services["routing"].app.state.runtime.consumers[0]
    await consumer.stop()  # this test plays the failing handler
    complaint_id = str(uuid4())
    await bus.publish(platform, sample.envelope(RECEIVED, complaint_id))
    queue = await channel.get_queue(queue_name(platform.names.prefix, "routing"))
    deliveries = 0
    deadline = time.monotonic() + 20
    while deliveries <= platform.settings["routing"].delivery_limit:
        message = await queue.get(fail=False)
        if message is None:
            assert time.monotonic() < deadline, f"{deliveries} deliveries"
            await asyncio.sleep(0.02)
            continue
        deliveries += 1
        await message.nack(requeue=True)

    [item] = await wait_for_parked(platform, "routing", 1)
    assert item["source"] == "broker"
    assert item["reason"].startswith("delivery limit reached")
    assert f"x-death: delivery_limit, queue {queue.name}" in item["reason"]
    assert (item["event_type"], item["complaint_id"]) == ("complaint.received", complaint_id)

    # Once the handler works again, the replay is handled like a first delivery.
    await consumer.start()
    answers = await listen(channel, platform, "complaint.routed")
    async with platform.client("routing", "bureau") as bureau:
        assert (await bureau.post(f"/v1/admin/parked/{item['id']}/replay")).status_code == 200
    routed = (await answers.heard(1))[0]
    assert routed.complaint_id == complaint_id


async def test_the_gauge_counts_parked_messages_per_queue(
    intake_and_routing: Platform,
) -> None:
    platform = intake_and_routing
    connection = await aio_pika.connect(platform.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        await publish(channel, platform, poison("c-1"), "complaint.received")  # routing
        await publish(channel, platform, poison("c-2"), "complaint.received")  # routing
        await publish(channel, platform, b"{not json", "complaint.routed")  # intake
    await wait_for_parked(platform, "routing", 2)
    [in_intake] = await wait_for_parked(platform, "intake", 1)
    assert in_intake["reason"].startswith("invalid envelope")

    def labels(service: str) -> dict[str, str]:
        return {"service": service, "queue": queue_name(platform.names.prefix, service)}

    assert await metric(platform, "routing", "huiyin_parked_messages", **labels("routing")) == 2
    assert await metric(platform, "intake", "huiyin_parked_messages", **labels("intake")) == 1
    async with platform.client("intake", "bureau") as bureau:
        path = f"/v1/admin/parked/{in_intake['id']}/discard"
        assert (await bureau.post(path, json={"reason": "不是合法消息"})).status_code == 200
    assert await metric(platform, "intake", "huiyin_parked_messages", **labels("intake")) == 0
    assert await metric(platform, "routing", "huiyin_parked_messages", **labels("routing")) == 2


def region_with(hospital_id: str) -> Region:
    """The demo region's first hospital again, as `hospital_id` (a hospital joining)."""
    raw: dict[str, Any] = yaml.safe_load(Path(REGION_FILE).read_text(encoding="utf-8"))
    text = json.dumps(raw["hospitals"][0], ensure_ascii=False).replace("hz-001", hospital_id)
    raw.pop("notification", None)  # notification's contact book, not routing's copy
    return Region.model_validate(raw | {"hospitals": [json.loads(text)]})
