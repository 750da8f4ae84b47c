from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.mail import MailSink
from tests.support.platform import Platform, running_platform


@pytest.fixture
async def intake_only(infrastructure, mail: MailSink) -> AsyncIterator[Platform]:  # type: ignore[no-untyped-def]
    """Intake alone: its events wait in the other services' durable queues."""
    async with running_platform(infrastructure, smtp_port=mail.port, only=("intake",)) as running:
        yield running


def pytest_collection_modifyitems(items):  # type: ignore[no-untyped-def]
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
