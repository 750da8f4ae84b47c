"""Every service keeps its OpenAPI contract (issue 9, finding 13): schemathesis generates
valid and invalid requests for every operation, and every answer must be declared: its
status, content type, headers and body (one error shape everywhere), never a 5xx."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.contract import check_contract
from tests.support.platform import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

# Who calls: a hospital's office for intake's cases, the bureau for every admin API.
CALLERS = {"intake": "bureau", "routing": "bureau", "notification": "bureau", "reporting": "bureau"}


@pytest.mark.parametrize("service", list(CALLERS))
async def test_every_operation_answers_as_documented(platform: Platform, service: str) -> None:
    def headers(method: str, path: str) -> dict[str, str]:
        if service == "intake" and not path.startswith("/v1/admin"):
            # The hospital's system acting for its complaint office, with a fresh proof.
            return platform.staff_headers("hz-001", "hz-001-complaint_office-1")
        return platform.keys.headers(CALLERS[service])

    report = await asyncio.to_thread(check_contract, platform.url(service), headers=headers)
    assert report.operations > 0 and report.requests > 0
    # Credentials work: valid requests got through, not only refusals.
    assert any(200 <= status < 300 for status in report.statuses), report.statuses
    assert not report.failures, "\n\n".join(report.failures)
