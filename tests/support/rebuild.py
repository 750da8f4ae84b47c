"""`python -m services.reporting.rebuild` against one test's platform, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from services.reporting.domain.classification import counter_documents, figures
from services.reporting.domain.intake_records import facts_of_record
from services.reporting.rebuild import RECORD_PROJECTION
from shared.runtime import mongo_client
from tests.support.platform import Platform
from tests.support.polling import eventually


def rebuild_command(platform: Platform, *arguments: str) -> str:
    """Its output. `--counters-only` for tests that publish events with no complaint in
    intake: the default rebuilds every fact from intake's records first."""
    env = {
        **os.environ,
        "HUIYIN_MONGO_URL": platform.infra.mongo_url,
        "HUIYIN_DATABASE": platform.settings["reporting"].database,
        "HUIYIN_INTAKE_DATABASE": platform.settings["intake"].database,
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.reporting.rebuild", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def figures_of(documents: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each counter document's figures, without the documents left with none."""
    kept = {doc_id: figures(document) for doc_id, document in documents.items()}
    return {doc_id: values for doc_id, values in kept.items() if len(values) > 1}


async def live_figures(platform: Platform) -> dict[str, dict[str, Any]]:
    counters = platform.services["reporting"].app.state.counters.collection
    return figures_of({doc["_id"]: doc async for doc in counters.find({})})


async def assert_intake_gives_the_live_figures(platform: Platform, timeout: float = 30) -> None:
    """Wait until the counters rebuilt in memory from intake's records (as the command
    rebuilds them) are the live ones: reporting applies the events in its own time."""
    client = mongo_client(platform.infra.mongo_url)
    records = client[platform.settings["intake"].database]["complaints"]
    try:

        async def from_intake() -> dict[str, dict[str, Any]]:
            rebuilt = [facts_of_record(r) async for r in records.find({}, RECORD_PROJECTION)]
            return figures_of(counter_documents(rebuilt))

        async def caught_up() -> bool:
            return await live_figures(platform) == await from_intake()

        await eventually(caught_up, timeout=timeout, what="the live counters to match intake's")
    finally:
        await client.close()
