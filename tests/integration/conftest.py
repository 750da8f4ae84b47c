"""Fixtures of the integration tests: the platform with only some services running. What
the others would consume waits in their durable queues; what they would publish, a test
publishes itself (tests/support/bus.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from deploy.servers import Infrastructure
from tests.support.mail import MailSink
from tests.support.platform import Platform, running_platform


def platform_of(*services: str, name: str) -> Callable[..., Any]:
    """A fixture `name`: the platform with only `services` running."""

    @pytest.fixture(name=name)
    async def only(infrastructure: Infrastructure, mail: MailSink) -> AsyncIterator[Platform]:
        async with running_platform(infrastructure, smtp_port=mail.port, only=services) as up:
            yield up

    return only


intake_only = platform_of("intake", name="intake_only")
routing_only = platform_of("routing", name="routing_only")
notification_only = platform_of("notification", name="notification_only")
reporting_only = platform_of("reporting", name="reporting_only")
intake_and_routing = platform_of("intake", "routing", name="intake_and_routing")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
