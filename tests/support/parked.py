"""Reading a service's parked messages the way an operator does: its admin API (each service
drains its broker parking queue into its own database, shared/parking.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.support.platform import Platform


async def wait_for_parked(
    platform: Platform, service: str, count: int, *, timeout: float = 20, **params: Any
) -> list[dict[str, Any]]:
    """The parked messages (oldest first) once at least `count` are listed."""
    deadline = time.monotonic() + timeout
    async with platform.client(service, "bureau") as client:
        while True:
            response = await client.get(
                "/v1/admin/parked", params={"order": "oldest", "limit": 200, **params}
            )
            assert response.status_code == 200, response.text
            items: list[dict[str, Any]] = response.json()["items"]
            if len(items) >= count:
                return items
            assert time.monotonic() < deadline, f"{service}: {len(items)} parked, not {count}"
            await asyncio.sleep(0.05)
