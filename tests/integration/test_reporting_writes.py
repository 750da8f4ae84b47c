"""Reporting's writes against the real MongoDB-wire server: the facts it keeps in memory are
the stored ones, whatever order and however often a complaint's events come (so one write
and no read applies an event of a complaint seen recently); a burst of events handled at
once costs one command per collection and round (shared/group_commit.py); a write that
fails fails its own event only."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from deploy.servers import Infrastructure
from services.reporting.adapters.complaint_facts import ComplaintFacts
from services.reporting.adapters.report_counters import ReportCounters
from services.reporting.domain.classification import counter_documents, figures
from services.reporting.domain.facts import change_for, version_of
from services.reporting.metrics import ComplaintMetrics
from services.reporting.service import record
from shared.contracts import EVENT_TYPES, Envelope
from shared.metrics import ServiceMetrics
from shared.runtime import mongo_client
from tests.support import events as sample
from tests.unit.reporting.test_facts import HISTORY, envelope


@dataclass
class Store:
    db: Any
    commands: Counter[str]


@pytest.fixture
async def store(infrastructure: Infrastructure) -> AsyncIterator[Store]:
    commands: Counter[str] = Counter()
    client = mongo_client(
        infrastructure.mongo_url, operations=lambda command, _: commands.update([command])
    )
    name = f"t{secrets.token_hex(4)}_reporting"
    try:
        yield Store(client[name], commands)
    finally:
        await client.drop_database(name)
        await client.close()


async def apply(facts: ComplaintFacts, envelope: Envelope) -> None:
    event = EVENT_TYPES[envelope.type].model_validate(envelope.payload)
    await facts.apply(
        complaint_id=envelope.complaint_id,
        hospital_id=envelope.hospital_id,
        event_id=str(envelope.event_id),
        version=version_of(envelope.occurred_at),
        change=change_for(event, occurred_at=envelope.occurred_at),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_facts_kept_in_memory_are_the_stored_ones(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    order = list(range(len(HISTORY)))
    rng.shuffle(order)
    order += rng.sample(order, 5)  # redeliveries
    facts = ComplaintFacts(store.db)
    for n in order:
        hours, event = HISTORY[n]
        await apply(facts, envelope(hours, event, n))
        stored = await facts.collection.find_one({"_id": "c-1"})
        assert facts.recent.get("c-1") == stored
    # A process that kept nothing (a restart) reads them once and goes on from there.
    again = ComplaintFacts(store.db)
    hours, event = HISTORY[order[0]]
    await apply(again, envelope(hours, event, order[0]))
    assert again.recent.get("c-1") == await facts.collection.find_one({"_id": "c-1"})


async def test_an_event_of_a_complaint_seen_recently_is_one_write_and_no_read(
    store: Store,
) -> None:
    facts = ComplaintFacts(store.db)
    for n, (hours, event) in enumerate(HISTORY[:3]):
        before = dict(store.commands)
        await apply(facts, envelope(hours, event, n))
        sent = Counter(store.commands) - Counter(before)
        # The receipt creates the facts without reading; later events write only.
        assert sent == Counter({"insert" if n == 0 else "update": 1}), (n, sent)


async def test_a_burst_of_events_costs_one_command_per_collection_and_round(
    store: Store,
) -> None:
    facts, counters = ComplaintFacts(store.db), ReportCounters(store.db)
    metrics = ComplaintMetrics(ServiceMetrics("reporting"))
    received = [
        Envelope(
            event_id=UUID(int=n),
            type="complaint.received",
            occurred_at=sample.RECEIVED_AT,
            hospital_id="hz-001",
            complaint_id=f"c-{n}",
            payload=sample.received().model_dump(mode="json"),
        )
        for n in range(40)
    ]
    store.commands.clear()
    await asyncio.gather(
        *(
            record(e, sample.received(), facts=facts, counters=counters, metrics=metrics)
            for e in received
        )
    )
    # 40 complaints' facts and their counters (each complaint moves the same 8 documents):
    # one bulk write per collection and round, where one write per document took 360.
    assert sum(store.commands.values()) <= 4, store.commands
    live = {doc["_id"]: figures(doc) async for doc in counters.collection.find({})}
    stored = [doc async for doc in facts.collection.find({})]
    expected = {k: figures(v) for k, v in counter_documents(stored).items()}
    assert {k: v for k, v in live.items() if len(v) > 1} == {
        k: v for k, v in expected.items() if len(v) > 1
    }


async def test_facts_created_meanwhile_elsewhere_get_the_event(store: Store) -> None:
    """The receipt's insert finds the facts there (another process, or the rebuild): the
    event is applied to those instead."""
    facts = ComplaintFacts(store.db)
    hours, event = HISTORY[2]  # assigned, applied elsewhere first
    await apply(ComplaintFacts(store.db), envelope(hours, event, 2))
    hours, event = HISTORY[0]
    await apply(facts, envelope(hours, event, 0))
    stored = await facts.collection.find_one({"_id": "c-1"})
    assert stored is not None and len(stored["applied"]) == 2
    assert facts.recent.get("c-1") == stored
