"""huiyin_outbox_pending comes from what the relay already knows, without a query: events
notified and not yet published, and those the broker did not confirm, until a sweep has
seen them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts import Envelope
from shared.outbox import OutboxRelay
from shared.publisher import EventPublisher
from tests.support.polling import eventually


class Collection:
    name = "complaints"


class RefusingBroker:
    async def publish(self, envelope: Envelope) -> None:
        raise ConnectionError("broker gone")


def envelope() -> Envelope:
    return Envelope(type="complaint.received", hospital_id="hz-001", complaint_id="c-1", payload={})


async def test_waiting_and_refused_events_count_until_a_sweep_has_seen_them() -> None:
    relay = OutboxRelay(cast(AsyncCollection[dict[str, Any]], Collection()), sweep_seconds=3600)
    relay.notify("c-1", [envelope(), envelope()])
    relay.notify("c-2", [envelope()])
    assert relay.pending == 3  # waiting for the broker's publisher

    relay.start(cast(EventPublisher, RefusingBroker()))
    try:
        await eventually(lambda: asyncio.sleep(0, relay._queue.empty()), what="the fast path")
        await asyncio.sleep(0.05)
        assert relay.pending == 3  # refused: still in the outbox
        relay._swept(datetime.now(UTC) - timedelta(hours=1), left=0)
        assert relay.pending == 3  # too recent for that sweep to have read them
        relay._swept(datetime.now(UTC), left=2)
        assert relay.pending == 2  # what the sweep read and could not publish
    finally:
        await relay.stop()
