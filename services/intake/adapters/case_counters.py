"""The case-number counters: one document per hospital and month (`domain/numbering.py`).

Registrations of one hospital that arrive together (a hospital system syncing its backlog,
a busy morning) draw their numbers with one increment of the counter by how many are
waiting, then share the range in arrival order: a burst costs the server one command per
round trip instead of one per complaint. A registration alone draws at once (no timer), so
a quiet hospital waits for nothing. Numbers stay gapless as before: a number is lost only
when its registration fails after drawing it, as with a counter drawn one at a time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from shared.mongo_clients import within_callers_deadline, writer_task


class CaseCounters:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self._waiting: dict[str, list[asyncio.Future[int]]] = {}
        self._drawing: dict[str, asyncio.Task[None]] = {}

    async def next(self, key: str) -> int:
        """The next number of counter `key`."""
        drawn: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(drawn)
        if key not in self._drawing:
            self._drawing[key] = writer_task(self._draw(key))
        # A caller cancelled after its draw was sent leaves its number unused (a gap, as
        # when a registration fails after drawing).
        return await within_callers_deadline(drawn)

    async def _draw(self, key: str) -> None:
        try:
            while waiting := self._waiting.pop(key, None):
                try:
                    counter = await self.collection.find_one_and_update(
                        {"_id": key},
                        {"$inc": {"seq": len(waiting)}},
                        upsert=True,
                        return_document=ReturnDocument.AFTER,
                    )
                except Exception as failed:
                    for drawn in waiting:
                        drawn.set_exception(failed)
                        drawn.exception()  # retrieved: its caller may have stopped waiting
                    continue
                assert counter is not None  # upserted: the counter exists after this
                first = int(counter["seq"]) - len(waiting) + 1
                for n, drawn in enumerate(waiting):
                    drawn.set_result(first + n)
        except BaseException as stopped:  # cancelled: the service stops
            for drawn in self._waiting.pop(key, []):
                drawn.set_exception(stopped)
            raise
        finally:
            self._drawing.pop(key, None)
