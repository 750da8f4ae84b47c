"""A complaint as intake's API shows it, read again until routing's decision is applied."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.support.polling import eventually


async def complaint_when(
    intake: httpx.AsyncClient,
    complaint_id: str,
    ready: Callable[[dict[str, Any]], bool] = lambda assignment: True,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> dict[str, Any]:
    """The complaint once it has an assignment for which `ready` holds."""

    async def applied() -> dict[str, Any] | None:
        response = await intake.get(f"/v1/complaints/{complaint_id}", headers=headers)
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        assignment = document["assignment"]
        return document if assignment and ready(assignment) else None

    return await eventually(applied, timeout=timeout, what=f"routing's decision on {complaint_id}")
