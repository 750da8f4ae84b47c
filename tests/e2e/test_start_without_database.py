"""A service started while its database is down (restarting after a crash, or not up yet)
waits for it and comes up, as it does for the broker; before, its first start step failed
server selection after 5 s and the process exited, leaving that service dead (the chaos
test caught it: notification restarted just before the database was killed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.servers import Infrastructure, native
from tests.support.mail import MailSink
from tests.support.processes import ServiceProcesses

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def own_infrastructure() -> Iterator[Infrastructure]:
    """Servers of this test alone: it stops the database."""
    infra = native()
    yield infra
    infra.close()


def test_a_service_started_without_its_database_waits_for_it(
    own_infrastructure: Infrastructure, mail: MailSink, tmp_path: Path
) -> None:
    infra = own_infrastructure
    platform = ServiceProcesses(infra, smtp_port=mail.port, logs=tmp_path, overrides={})
    assert infra.database is not None
    infra.database.stop()
    try:
        platform.start("notification")
        time.sleep(8)  # past server selection's 5 s: the first attempt has failed
        assert platform.processes["notification"].poll() is None, "exited without its database"
        infra.database.start()
        platform.wait_ready("notification", timeout=90)
        log = (tmp_path / "notification.log").read_text(errors="replace")
        assert "database not reachable at start" in log
    finally:
        platform.stop_all()
