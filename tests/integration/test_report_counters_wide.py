"""The bureau's packed counters (services/reporting/domain/classification.py) on the real
MongoDB-wire server: FerretDB wraps a 32-bit field that `$inc` takes past 2**31 instead of
widening it as MongoDB does, and the second of three columns packed in a field counts in
units of 2**21, so its 1,024th complaint would wrap. Packed fields are 64-bit from their
first write; a year of one large hospital's nursing complaints reads back exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.collection import AsyncCollection

from deploy.servers import Infrastructure
from services.reporting.domain.classification import (
    Contribution,
    category_id,
    counter_moves,
    unpacked,
)
from shared.runtime import mongo_client

pytestmark = pytest.mark.timeout(120)

COMPLAINTS = 1_100  # past 1,024: the second digit's 32-bit limit


@pytest.fixture
async def counters(
    infrastructure: Infrastructure,
) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client = mongo_client(infrastructure.mongo_url)
    database = client[f"huiyin_test_wide_{uuid4().hex[:8]}"]
    try:
        yield database["report_counters"]
    finally:
        await client.drop_database(database.name)
        await client.close()


async def test_a_packed_column_counts_past_what_32_bits_hold(
    counters: AsyncCollection[dict[str, Any]],
) -> None:
    complaint = Contribution(
        month="202603",
        hospital="hz-001",
        category="nursing",
        department="nursing",
        columns=frozenset({"received", "accepted", "transferred"}),
    )
    year = category_id("2026", "nursing")
    [update] = [u for doc_id, u in counter_moves(None, complaint).items() if doc_id == year]
    for _ in range(COMPLAINTS):
        await counters.update_one({"_id": year}, update, upsert=True)

    document = await counters.find_one({"_id": year})
    assert document is not None
    row = unpacked(document["h"]["hz-001"])
    assert row == {"received": COMPLAINTS, "accepted": COMPLAINTS, "transferred": COMPLAINTS}
