"""A broker restart with a backlog of more than 100 events hung intake's database (issue 9,
finding 1): the outbox cleared every confirmed event in one bulk write, and FerretDB v1
deadlocks on an update of 100 statements or more. Now bulk writes are bounded in the
application and split by our FerretDB relay; the backlog clears and intake keeps answering.
"""

from __future__ import annotations

import asyncio
import re
import time

import aio_pika
import httpx
import pytest

from shared.runtime import mongo_client
from shared.topology import queue_name
from tests.support.mail import MailSink
from tests.support.platform import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

COMPLAINTS = 120
HANDLER_SUBJECT = re.compile(r"新投诉待处理 (\S+)")


def accepted_complaint(n: int) -> dict[str, object]:
    return {
        "channel": "letter",
        "content": f"第{n}件：药房发错药，药品名称与处方不符。",
        "received_by": "hz-002-complaint_office-1",
        "accepted": True,  # the office accepts at registration: the handler is told at once
    }


async def outbox_entries(platform: Platform) -> int:
    client = mongo_client(platform.infra.mongo_url)
    try:
        complaints = client[platform.settings["intake"].database]["complaints"]
        documents = await complaints.find({}, {"outbox": 1}).to_list()
        return sum(len(document.get("outbox") or {}) for document in documents)
    finally:
        await client.close()


async def queues_drained(platform: Platform) -> bool:
    connection = await aio_pika.connect(platform.infra.amqp_url)
    async with connection:
        channel = await connection.channel()
        for service in ("routing", "intake", "notification"):
            queue = await channel.declare_queue(
                queue_name(platform.names.prefix, service), passive=True
            )
            if queue.declaration_result.message_count:
                return False
    return True


class Watch:
    """Reads one complaint again and again; records the slowest answer and any failure."""

    def __init__(self, client: httpx.AsyncClient, path: str) -> None:
        self.client, self.path = client, path
        self.slowest = 0.0
        self.failures: list[str] = []
        self.reads = 0

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                response = await self.client.get(self.path)
                if response.status_code != 200:
                    self.failures.append(f"{response.status_code} {response.text[:200]}")
            except httpx.HTTPError as error:
                self.failures.append(repr(error))
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.reads += 1
            await asyncio.sleep(0.1)


@pytest.mark.timeout(240)
async def test_a_broker_restart_with_a_backlog_of_over_100_events_loses_and_hangs_nothing(
    platform: Platform, mail: MailSink
) -> None:
    broker = platform.infra.broker
    if broker is None:
        pytest.skip("the broker is external; this test needs to stop and start it")
    started = time.monotonic()
    async with platform.staff_client("intake", "hz-002") as intake:
        first = await intake.post("/v1/complaints", json=accepted_complaint(0))
        assert first.status_code == 201, first.text
        await mail.wait_for(lambda m: first.json()["case_number"] in m["Subject"], timeout=30)
        watch = Watch(intake, f"/v1/complaints/{first.json()['id']}")
        watching = asyncio.create_task(watch.run())
        try:
            await asyncio.to_thread(broker.stop)
            try:
                limit = asyncio.Semaphore(8)

                async def post(n: int) -> httpx.Response:
                    async with limit:
                        return await intake.post("/v1/complaints", json=accepted_complaint(n))

                responses = await asyncio.gather(*(post(n) for n in range(1, COMPLAINTS + 1)))
                assert {r.status_code for r in responses} == {201}, responses[0].text
                backlog = await outbox_entries(platform)
                assert backlog > 100, backlog
            finally:
                await asyncio.to_thread(broker.start)

            cases = {r.json()["case_number"] for r in responses}
            handler_mail = await mail.wait_for(
                lambda m: (
                    (found := HANDLER_SUBJECT.search(str(m["Subject"]))) is not None
                    and found.group(1) in cases
                ),
                count=COMPLAINTS,
                timeout=150,
            )
            deadline = time.monotonic() + 60
            while await outbox_entries(platform) or not await queues_drained(platform):
                assert time.monotonic() < deadline, "the outbox or the queues did not drain"
                await asyncio.sleep(0.2)
        finally:
            watching.cancel()

        assert watch.reads > 10 and not watch.failures, watch.failures[:3]
        assert watch.slowest < 5.0, watch.slowest
        handler_mail = [m for m in mail.messages if HANDLER_SUBJECT.search(str(m["Subject"]))]
        told = [HANDLER_SUBJECT.search(str(m["Subject"])).group(1) for m in handler_mail]
        assert sorted(c for c in told if c in cases) == sorted(cases)  # each exactly once
        for response in responses:
            complaint = (await intake.get(f"/v1/complaints/{response.json()['id']}")).json()
            assert complaint["status"] == "assigned", complaint["status"]
    print(f"broker restart with {COMPLAINTS} complaints: {time.monotonic() - started:.1f}s")
