"""All four services in this process, on real HTTP ports, against real RabbitMQ and the
MongoDB-wire server, with names unique to one test so tests never see each other's data."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI

from deploy.admin import load_region
from deploy.servers import Infrastructure
from services.intake.adapters.staff_assertions import AssertionKeyStore
from services.intake.bootstrap import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notification.bootstrap import create_app as notification_app
from services.notification.settings import NotificationSettings
from services.reporting.bootstrap import create_app as reporting_app
from services.reporting.settings import ReportingSettings
from services.routing.bootstrap import create_app as routing_app
from services.routing.domain.calendar import WorkingCalendar
from services.routing.settings import RoutingSettings
from shared.auth import BUREAU, hash_key
from shared.runtime import mongo_client
from shared.staff_assertion import ASSERTION_HEADER, public_pem, sign_staff_assertion, thumbprint
from shared.topology import (
    CONSUMER_QUEUES,
    parking_exchange_name,
    parking_queue_name,
    queue_name,
    retry_queue_name,
)

REPO = Path(__file__).resolve().parents[2]
REGION_FILE = REPO / "deploy" / "region.example.yaml"
HOSPITALS = ("hz-001", "hz-002", "hz-003")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Names:
    """Per-test database names, exchange and queue prefix."""

    suffix: str = field(default_factory=lambda: secrets.token_hex(4))

    def database(self, service: str) -> str:
        return f"t{self.suffix}_{service}"

    @property
    def exchange(self) -> str:
        return f"t{self.suffix}.events"

    @property
    def prefix(self) -> str:
        return f"t{self.suffix}"


@dataclass
class ApiKeys:
    clear: dict[str, str] = field(
        default_factory=lambda: {name: secrets.token_urlsafe(24) for name in ("bureau", *HOSPITALS)}
    )

    @property
    def spec(self) -> str:
        return ",".join(f"{name}:{hash_key(key)}" for name, key in self.clear.items())

    def headers(self, principal: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.clear[principal]}"}


@dataclass
class StaffSigning:
    """Each test hospital's system: an Ed25519 key whose public half the bureau registers,
    signing a fresh assertion for the staff member acting in each request. The bureau's
    system too (issuer `bureau`), for its supervisors: `assertion("bureau", supervisor)`."""

    audience: str = "huiyin"
    keys: dict[str, ed25519.Ed25519PrivateKey] = field(
        default_factory=lambda: {
            issuer: ed25519.Ed25519PrivateKey.generate() for issuer in (*HOSPITALS, BUREAU)
        }
    )

    def kid(self, hospital: str) -> str:
        return thumbprint(self.keys[hospital].public_key())

    def assertion(self, hospital: str, staff_id: str, **claims: Any) -> str:
        """A valid assertion; keyword arguments override claims (for refusal tests)."""
        return sign_staff_assertion(
            private_key=self.keys[hospital],
            kid=self.kid(hospital),
            hospital_id=hospital,
            staff_id=staff_id,
            audience=self.audience,
            **claims,
        )

    async def register(self, infra: Infrastructure, database: str) -> None:
        """What the bureau does with `huiyin-admin assertion-keys register`."""
        client = mongo_client(infra.mongo_url)
        try:
            store = AssertionKeyStore(client[database])
            for hospital, key in self.keys.items():
                await store.register(
                    hospital_id=hospital, public_key=public_pem(key.public_key()), by="bureau"
                )
        finally:
            await client.close()


class SignsForStaff(httpx.Auth):
    """Signs each request for the staff member it names: the X-Huiyin-Staff header, else
    the JSON body's `actor`, else `received_by` when the body accepts at registration."""

    def __init__(self, signing: StaffSigning, hospital: str) -> None:
        self.signing = signing
        self.hospital = hospital

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        staff = request.headers.get("X-Huiyin-Staff")
        if staff is None and request.content:
            try:
                body = json.loads(request.content)
            except ValueError:
                body = None
            if isinstance(body, dict):
                staff = body.get("actor") or (body.get("accepted") and body.get("received_by"))
        if staff and ASSERTION_HEADER not in request.headers:
            request.headers[ASSERTION_HEADER] = self.signing.assertion(self.hospital, staff)
        yield request


def common_settings(infra: Infrastructure, names: Names, service: str) -> dict[str, Any]:
    return {
        "env": "test",
        "mongo_url": infra.mongo_url,
        "amqp_url": infra.amqp_url,
        "database": names.database(service),
        "exchange": names.exchange,
        "queue_prefix": names.prefix,
        "http_port": free_port(),
        "outbox_sweep_seconds": 0.2,
        "outbox_full_sweep_seconds": 3600.0,  # scans at start; then only what it suspects
        "outbox_stale_seconds": 0.5,
        "publish_timeout_seconds": 3.0,
    }


@dataclass
class RunningService:
    app: FastAPI
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=15)


async def serve(app: FastAPI, port: int) -> RunningService:
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # re-raise the start-up failure
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.01)
    return RunningService(app, server, task, f"http://127.0.0.1:{port}")


@dataclass
class Platform:
    infra: Infrastructure
    names: Names
    keys: ApiKeys
    services: dict[str, RunningService]
    settings: dict[str, Any]
    signing: StaffSigning = field(default_factory=StaffSigning)

    def url(self, service: str) -> str:
        return self.services[service].url

    def client(self, service: str, principal: str | None = None) -> httpx.AsyncClient:
        headers = self.keys.headers(principal) if principal else {}
        return httpx.AsyncClient(base_url=self.url(service), headers=headers, timeout=10)

    def staff_client(self, service: str, hospital: str) -> httpx.AsyncClient:
        """The hospital's system acting for its staff: every request that names a staff
        member (actor, X-Huiyin-Staff, received_by with accepted) carries their assertion."""
        return httpx.AsyncClient(
            base_url=self.url(service),
            headers=self.keys.headers(hospital),
            auth=SignsForStaff(self.signing, hospital),
            timeout=10,
        )

    def staff_headers(self, hospital: str, staff_id: str, **claims: Any) -> dict[str, str]:
        """Fresh headers of the hospital's system acting for one staff member (`bureau`:
        the bureau's key and system acting for one of its supervisors)."""
        assertion = self.signing.assertion(hospital, staff_id, **claims)
        return self.keys.headers(hospital) | {ASSERTION_HEADER: assertion}


def stand_in_calendar_file() -> Path:
    """Stand-ins for the two years after the official calendar's last one, so end-to-end
    tests run at any date (deadlines in late December reach into next year). Lawful but
    invented (tests/support/calendar_years.py): routing refuses a year that breaks the
    holiday law. Test data only: real deployments load the State Council's notice."""
    from tests.support.calendar_years import lawful_stand_in

    last = WorkingCalendar().covered_until().year
    path = Path(tempfile.gettempdir()) / f"huiyin-test-calendar-{last}-lawful.yaml"
    if not path.exists():
        text = "# TEST DATA ONLY: invented stand-in years, not a State Council notice\nyears:\n"
        for year in (last + 1, last + 2):
            holidays, workdays = lawful_stand_in(year)
            text += f"  {year}:\n    holidays: [{', '.join(map(str, holidays))}]\n"
            text += f"    workdays: [{', '.join(map(str, workdays))}]\n"
        # Written whole, then renamed: tests running side by side never read half a file.
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    return path


def build_settings(
    infra: Infrastructure,
    names: Names,
    keys: ApiKeys,
    smtp_port: int,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Each service's settings; `overrides`: a test's own values, by service."""
    built = {
        "intake": IntakeSettings(
            **common_settings(infra, names, "intake"),
            api_keys=keys.spec,
            identity_key=base64.b64encode(os.urandom(32)).decode(),
        ),
        "routing": RoutingSettings(
            **common_settings(infra, names, "routing"),
            api_keys=keys.spec,
            calendar_file=str(stand_in_calendar_file()),
        ),
        "notification": NotificationSettings(
            **common_settings(infra, names, "notification"),
            smtp_port=smtp_port,
            api_keys=keys.spec,
        ),
        "reporting": ReportingSettings(
            **common_settings(infra, names, "reporting"),
            api_keys=keys.spec,
            overdue_refresh_seconds=0.2,
        ),
    }
    for service, values in (overrides or {}).items():
        built[service] = built[service].model_copy(update=dict(values))
    return built


FACTORIES = {
    "intake": intake_app,
    "routing": routing_app,
    "notification": notification_app,
    "reporting": reporting_app,
}


@contextlib.asynccontextmanager
async def running_platform(
    infra: Infrastructure,
    *,
    smtp_port: int,
    only: tuple[str, ...] = tuple(FACTORIES),
    names: Names | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    region_file: Path = REGION_FILE,
) -> AsyncIterator[Platform]:
    names = names or Names()
    keys = ApiKeys()
    signing = StaffSigning()
    settings = build_settings(infra, names, keys, smtp_port, overrides)
    await load_region(
        region_file,
        settings["routing"],
        intake_database=settings["intake"].database,
        notification_database=settings["notification"].database,
    )
    await signing.register(infra, settings["intake"].database)
    services: dict[str, RunningService] = {}
    try:
        for name in only:
            app = FACTORIES[name](settings[name])
            services[name] = await serve(app, settings[name].http_port)
        yield Platform(infra, names, keys, services, settings, signing)
    finally:
        for service in reversed(list(services.values())):
            await service.stop()
        await drop_everything(
            infra, names, retry_delays=settings["notification"].delivery_retry_delays_seconds
        )


async def drop_everything(
    infra: Infrastructure, names: Names, *, retry_delays: tuple[float, ...] = ()
) -> None:
    client = mongo_client(infra.mongo_url)
    try:
        for service in FACTORIES:
            await client.drop_database(names.database(service))
    finally:
        await client.close()
    with contextlib.suppress(Exception):
        connection = await aio_pika.connect(infra.amqp_url, timeout=5)
        async with connection:
            channel = await connection.channel()
            for consumer in CONSUMER_QUEUES:
                for name in (
                    queue_name(names.prefix, consumer.service),
                    parking_queue_name(names.prefix, consumer.service),
                ):
                    await channel.queue_delete(name)
            for delay in retry_delays:  # notification's backoff steps
                await channel.queue_delete(retry_queue_name(names.prefix, "notification", delay))
            await channel.exchange_delete(names.exchange)
            await channel.exchange_delete(parking_exchange_name(names.exchange))
