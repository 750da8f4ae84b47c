"""Deliveries against real SMTP, RabbitMQ and the MongoDB-wire server (issue 9, findings 3
and 4): a mail accepted while the broker stops is recorded sent and not sent again; a
delivery whose outcome was lost is recorded unknown and sent once more; a refusal that may
pass (4xx, nothing listening) is retried through the broker's retry queues, also across a
restart of notification; a 5xx refusal fails at once and the complaint office sees it on
the complaint. And an outcome written twice (its first answer lost) is recorded once."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from deploy.servers import Infrastructure
from services.notification.adapters.deliveries import DELIVERIES, DeliveryLog, history_entry
from services.notification.bootstrap import create_app as notification_app
from services.notification.delivery_policy import DeliveryStatus
from shared.contracts import Envelope, Person
from shared.outbox import OutboxRelay
from shared.runtime import mongo_client
from tests.support import events as sample
from tests.support.bus import listening, publish
from tests.support.events import LEADER
from tests.support.metrics import consumed
from tests.support.platform import Platform, free_port, running_platform, serve
from tests.support.polling import eventually
from tests.support.scripted_mail import RecipientScript, ScriptedMailSink

OTHER = Person(staff_id="hz-001-leadership-2", name="孙院长", email="president@hz1.example.org")
Sinks = Callable[..., ScriptedMailSink]


def assignment(handler: Person) -> Envelope:
    """A case assigned to `handler`, who is e-mailed by the service itself (the ladder's
    notices go through the Celery worker instead: test_ladder_deliveries.py)."""
    return sample.envelope(sample.assigned(handler=handler), "c-delivery")


def delivery_id(envelope: Envelope, handler: Person) -> str:
    return f"{envelope.event_id}:handler"


@pytest.fixture
def retry_steps(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Short backoff steps for notification started after this call (settings from env)."""

    def use(*steps: float) -> None:
        monkeypatch.setenv("HUIYIN_DELIVERY_RETRY_DELAYS_SECONDS", json.dumps(steps))

    return use


@pytest.fixture
def sink_factory() -> Iterator[Sinks]:
    sinks: list[ScriptedMailSink] = []

    def make(
        script: RecipientScript | None = None, *, port: int | None = None, start: bool = True
    ) -> ScriptedMailSink:
        sink = ScriptedMailSink(port or free_port(), script)
        if start:
            sink.start()
            sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.stop()


async def delivery(platform: Platform, key: str) -> dict[str, Any] | None:
    deliveries = platform.services["notification"].app.state.deliveries
    return await deliveries.collection.find_one({"_id": key}, {"outbox": 0})


def outcomes(document: dict[str, Any]) -> list[str]:
    return [entry["outcome"] for entry in document.get("history", [])]


# --- finding 3: an outcome that was lost -------------------------------------------------


async def test_a_mail_accepted_while_the_broker_stops_is_recorded_sent_and_not_sent_again(
    infrastructure: Infrastructure, sink_factory: Sinks, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = infrastructure.broker
    if broker is None:
        pytest.skip("the broker is external; this test needs to stop and start it")
    monkeypatch.setenv("HUIYIN_SMTP_TIMEOUT_SECONDS", "60")
    sink = sink_factory()
    async with running_platform(
        infrastructure, smtp_port=sink.port, only=("notification",)
    ) as platform:
        runtime = platform.services["notification"].app.state.runtime
        release = sink.hold_replies()
        envelope = assignment(LEADER)
        await publish(platform, envelope)
        # The server has the body and holds its "250" while the broker goes away: the
        # connection closes and aio-pika cancels the consumer's task mid-send.
        assert await asyncio.to_thread(sink.collector.body_arrived.wait, 20)
        stopping = asyncio.create_task(asyncio.to_thread(broker.stop))
        try:

            async def disconnected() -> bool:
                return runtime.amqp.is_closed or not runtime.amqp.connected.is_set()

            await eventually(disconnected, what="notification to lose its broker connection")
        finally:
            release.set()  # the server accepts the mail now
            await stopping
            await asyncio.to_thread(broker.start)

        # The broker redelivers the unacknowledged event after the reconnect.
        async def redelivered() -> bool:
            return await consumed(platform, "notification", event_type=envelope.type) >= 1

        await eventually(redelivered, timeout=40, what="the redelivered event")
        await asyncio.sleep(0.3)  # a wrongly repeated send would be in the sink by now
        assert [m["To"] for m in sink.messages] == [LEADER.email]
        logged = await delivery(platform, delivery_id(envelope, LEADER))
        assert logged is not None
        assert logged["status"] == "sent" and logged["attempts"] == 1
        assert outcomes(logged) == ["sent"]


async def test_a_delivery_left_sending_is_recorded_unknown_and_sent_once_more(
    infrastructure: Infrastructure, sink_factory: Sinks
) -> None:
    sink = sink_factory()
    async with running_platform(
        infrastructure, smtp_port=sink.port, only=("notification",)
    ) as platform:
        envelope = assignment(LEADER)
        key = delivery_id(envelope, LEADER)
        deliveries = platform.services["notification"].app.state.deliveries
        # What a process killed between "attempt recorded" and "outcome recorded" leaves.
        await deliveries.collection.insert_one(
            {
                "_id": key,
                "complaint_id": envelope.complaint_id,
                "hospital_id": envelope.hospital_id,
                "recipient_role": "handler",
                "recipient": "v***@hz1.example.org",
                "status": "sending",
                "attempts": 1,
                "created_at": datetime.now(UTC),
                "outbox": {},
                "outbox_pending": False,
                "outbox_since": None,
            }
        )
        async with listening(platform, "notification.sent") as sent_events:
            await publish(platform, envelope)
            mails = await sink.wait_for(lambda m: m["To"] == LEADER.email)

            async def recorded() -> dict[str, Any] | None:
                found = await delivery(platform, key)
                return found if found and found["status"] == "sent" else None

            logged = await eventually(recorded, what="the resend recorded")
            assert outcomes(logged) == ["unknown", "sent"]
            assert logged["history"][0]["reason_code"] == "outcome_lost"
            assert logged["history"][1]["after_unknown"] is True
            assert logged["attempts"] == 2 and logged["unknown_outcomes"] == 1
            # The same Message-ID as the first attempt had: a mail system can drop a copy.
            assert mails[0]["Message-ID"] == logged["message_id"]
            assert key.replace(":", ".") in logged["message_id"]
            [sent] = await sent_events.heard(1)
            assert sent.payload["after_unknown_outcome"] is True
            assert sent.payload["attempts"] == 2

            # A further redelivery finds it sent: nothing more.
            await publish(platform, envelope)

            async def twice() -> bool:
                return await consumed(platform, "notification", event_type=envelope.type) >= 2

            await eventually(twice, what="the second delivery of the event")
            await asyncio.sleep(0.3)
            assert len(sink.messages) == 1


# --- finding 4: failures that may pass are retried; a final one reaches the office --------


async def test_a_4xx_refusal_is_retried_with_backoff_and_the_mail_arrives_once(
    infrastructure: Infrastructure, sink_factory: Sinks, retry_steps: Callable[..., None]
) -> None:
    retry_steps(1.0, 1.0, 2.0)

    def busy_twice(address: str, before: int) -> str | None:
        if address == LEADER.email and before < 2:
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        return None

    sink = sink_factory(busy_twice)
    async with running_platform(
        infrastructure, smtp_port=sink.port, only=("notification",)
    ) as platform:
        first, second = assignment(LEADER), assignment(OTHER)
        started = time.monotonic()
        await publish(platform, first, second)
        # The retry waits in the broker, not in the consumer: the other event goes through.
        await sink.wait_for(lambda m: m["To"] == OTHER.email)
        assert sink.to(LEADER.email) == []
        await sink.wait_for(lambda m: m["To"] == LEADER.email, timeout=30)
        assert time.monotonic() - started >= 2.0  # two backoff steps of a second
        await asyncio.sleep(0.3)
        assert len(sink.to(LEADER.email)) == 1 and sink.offered(LEADER.email) == 3

        async def recorded() -> dict[str, Any] | None:
            found = await delivery(platform, delivery_id(first, LEADER))
            return found if found and found["status"] == "sent" else None

        logged = await eventually(recorded, what="the delivery recorded sent")
        assert logged["attempts"] == 3 and logged["retries"] == 2
        assert outcomes(logged) == ["retrying", "retrying", "sent"]
        assert logged["history"][0]["reason_code"] == "deferred"


async def test_a_5xx_rejection_fails_at_once_and_the_complaint_office_sees_it(
    infrastructure: Infrastructure, sink_factory: Sinks, retry_steps: Callable[..., None]
) -> None:
    retry_steps(1.0, 1.0)

    def no_such_handler(address: str, before: int) -> str | None:
        if address.startswith("pharmacy."):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        return None

    sink = sink_factory(no_such_handler)
    async with running_platform(
        infrastructure, smtp_port=sink.port, only=("intake", "routing", "notification")
    ) as platform:
        async with listening(platform, "notification.failed") as failed_events:
            async with platform.staff_client("intake", "hz-001") as intake:
                body = {
                    "channel": "letter",
                    "content": "药房发错药，药品名称与处方不符。",
                    "received_by": "hz-001-complaint_office-1",
                    "accepted": True,
                    "complainant": {"name": "周", "email": "zhou@patients.example.org"},
                }
                created = await intake.post("/v1/complaints", json=body)
                assert created.status_code == 201, created.text
                complaint_id = created.json()["id"]

                async def problem_shown() -> dict[str, Any] | None:
                    read = (await intake.get(f"/v1/complaints/{complaint_id}")).json()
                    return read if read.get("delivery_problems") else None

                complaint = await eventually(problem_shown, what="the failure on the complaint")

            [failed] = await failed_events.heard(1)
        handler_address = next(a for a in sink.collector.offered if a.startswith("pharmacy."))
        masked = f"p***@{handler_address.partition('@')[2]}"
        # Failed at once: one attempt, no retry, and the complainant's receipt still went.
        assert sink.offered(handler_address) == 1
        await sink.wait_for(lambda m: m["To"] == "zhou@patients.example.org")
        assert failed.payload["attempts"] == 1
        assert failed.payload["reason_code"] == "recipient_rejected"
        assert failed.payload["recipient"] == masked
        assert handler_address not in failed.payload["error"]

        [problem] = complaint["delivery_problems"]
        assert problem["recipient_role"] == "handler" and problem["role_label"] == "承办人"
        assert problem["recipient"] == masked and problem["attempts"] == 1
        assert problem["reason_code"] == "recipient_rejected"
        assert "收件地址被拒收" in problem["reason"] and handler_address not in problem["reason"]
        [entry] = [e for e in complaint["timeline"] if e["type"] == "notification_failed"]
        assert entry["note"].startswith("通知发送失败") and masked in entry["note"]
        assert "承办人" in entry["note"] and "收件地址被拒收" in entry["note"]

        logged = await delivery(platform, failed.payload["delivery_id"])
        assert logged is not None and logged["status"] == "failed"
        assert outcomes(logged) == ["failed"]


async def test_nothing_listening_is_retried_across_a_restart_until_the_server_is_up(
    infrastructure: Infrastructure, sink_factory: Sinks, retry_steps: Callable[..., None]
) -> None:
    retry_steps(1.0, 2.0, 2.0, 2.0)
    port = free_port()
    async with running_platform(infrastructure, smtp_port=port, only=("notification",)) as platform:
        envelope = assignment(LEADER)
        key = delivery_id(envelope, LEADER)
        await publish(platform, envelope)

        async def refused_twice() -> dict[str, Any] | None:
            found = await delivery(platform, key)
            return found if found and len(found.get("history", [])) >= 2 else None

        logged = await eventually(refused_twice, what="two refused attempts")
        assert outcomes(logged)[:2] == ["retrying", "retrying"]
        assert logged["history"][0]["reason_code"] == "connection_refused"

        # notification restarts while the retry waits in the broker; nothing is lost.
        service = platform.services["notification"]
        await service.stop()
        sink = sink_factory(port=port)
        settings = platform.settings["notification"]
        platform.services["notification"] = await serve(
            notification_app(settings), settings.http_port
        )
        await sink.wait_for(lambda m: m["To"] == LEADER.email, timeout=30)

        async def recorded() -> dict[str, Any] | None:
            found = await delivery(platform, key)
            return found if found and found["status"] == "sent" else None

        logged = await eventually(recorded, what="the delivery recorded sent")
        assert outcomes(logged)[-1] == "sent"
        assert set(outcomes(logged)[:-1]) == {"retrying"}
        assert len(sink.messages) == 1


# --- an outcome is recorded once, with its event -----------------------------------------


async def test_an_outcome_written_again_after_its_answer_was_lost_is_recorded_once(
    infrastructure: Infrastructure,
) -> None:
    client = mongo_client(infrastructure.mongo_url)
    name = f"t{secrets.token_hex(4)}_notification"
    try:
        # The relay is never started: the outcome's event only waits in the outbox.
        log = DeliveryLog(client[name], relay=OutboxRelay(client[name][DELIVERIES]))
        envelope = assignment(LEADER)
        key = delivery_id(envelope, LEADER)
        owner = {"hospital_id": envelope.hospital_id, "complaint_id": envelope.complaint_id}
        assert await log.claim(key, owner) is None
        sent = sample.notification_sent(
            delivery_id=key, source_event_id=str(envelope.event_id), recipient_role="handler"
        )
        for _ in range(2):  # the second as _recorded tries again when an answer is lost
            await log.finish(
                key,
                attempt=1,
                status=DeliveryStatus.SENT,
                entry=history_entry(1, DeliveryStatus.SENT),
                event=sent,
            )
        document = await log.collection.find_one({"_id": key})
        assert document is not None and outcomes(document) == ["sent"]
        [queued] = document["outbox"].values()
        assert queued["type"] == "notification.sent" and document["outbox_pending"]
        assert (queued["hospital_id"], queued["complaint_id"]) == ("hz-001", "c-delivery")
    finally:
        await client.drop_database(name)
        await client.close()
