"""Every bulk write goes out in commands of at most STATEMENTS_PER_COMMAND statements."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from shared.bulk_writes import STATEMENTS_PER_COMMAND, bulk_write_in_chunks


@dataclass
class Result:
    modified_count: int


@dataclass
class RecordingCollection:
    commands: list[tuple[list[Any], bool]] = field(default_factory=list)

    async def bulk_write(self, requests: list[Any], *, ordered: bool) -> Result:
        self.commands.append((list(requests), ordered))
        return Result(modified_count=len(requests))


@given(st.integers(min_value=0, max_value=5 * STATEMENTS_PER_COMMAND + 7), st.booleans())
def test_statements_go_out_in_order_in_bounded_commands(count: int, ordered: bool) -> None:
    collection = RecordingCollection()
    requests = list(range(count))

    modified = asyncio.run(bulk_write_in_chunks(collection, requests, ordered=ordered))

    assert all(0 < len(chunk) <= STATEMENTS_PER_COMMAND for chunk, _ in collection.commands)
    assert [r for chunk, _ in collection.commands for r in chunk] == requests
    assert all(flag is ordered for _, flag in collection.commands)
    assert len(collection.commands) == -(-count // STATEMENTS_PER_COMMAND)
    assert modified == count
