"""How many statements one write command carries: at most `STATEMENTS_PER_COMMAND`.

FerretDB v1 holds a pooled SQLite connection for every statement of an update until the
command ends, and 100 statements hang the whole database (deploy/ferretdb/main.go). Our
relay runs the statements one at a time, but the application bounds every bulk write as
well: it must not depend on one relay in front of one server, and the relay holds the
collection's write lock for a whole command (50 statements: about 35 ms), during which the
collection's other writers, such as a complaint being registered, wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

STATEMENTS_PER_COMMAND = 50


async def bulk_write_in_chunks(
    collection: AsyncCollection[dict[str, Any]], requests: Sequence[Any], *, ordered: bool = True
) -> int:
    """`bulk_write` in commands of at most STATEMENTS_PER_COMMAND, one after another.
    A failing command raises and the later ones are not sent, whether or not `ordered`
    (which applies within each command); returns how many documents were modified."""
    modified = 0
    for start in range(0, len(requests), STATEMENTS_PER_COMMAND):
        chunk = list(requests[start : start + STATEMENTS_PER_COMMAND])
        result = await collection.bulk_write(chunk, ordered=ordered)
        modified += result.modified_count
    return modified


DUPLICATE_KEY = 11000
