"""The connections one service holds for its lifetime, and their start/stop order.

Built by a service's bootstrap from settings; nothing connects at import time. Start:
database, broker (with retries, so a service may start before its broker), topology,
consumers, relays. Stop in reverse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import aio_pika
import pymongo
from aio_pika.abc import AbstractRobustConnection
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from shared.consumer import EventConsumer, Handler
from shared.http import ReadinessCheck
from shared.metrics import ServiceMetrics
from shared.mongo_clients import mongo_client as mongo_client  # where most code finds it
from shared.outbox import OutboxRelay, ensure_outbox_index
from shared.parking import ParkedMessages, ParkingDrain
from shared.publisher import EventPublisher
from shared.settings import ServiceSettings
from shared.topology import declare_topology, parking_queue_name, queue_name

log = logging.getLogger(__name__)

SHUTDOWN_STEP_SECONDS = 5.0
# Under /readyz's 3 s per check (shared/http.py), so the probe's own error is reported.
READINESS_PROBE_SECONDS = 2.0
READINESS_COLLECTION = "readiness"


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, *, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        operations = metrics.store_operations
        self.mongo: AsyncMongoClient[dict[str, Any]] = mongo_client(
            settings.mongo_url,
            timeout_seconds=settings.database_timeout_seconds,
            operations=lambda command, collection: operations.labels(
                metrics.service, command, collection
            ).inc(),
        )
        self.db: AsyncDatabase[dict[str, Any]] = self.mongo[settings.database]
        self.amqp: AbstractRobustConnection | None = None
        self.publisher: EventPublisher | None = None
        self.relays: list[OutboxRelay] = []
        self.consumers: list[EventConsumer] = []
        self._handlers: Mapping[str, Handler] | None = None
        self._extra_checks: dict[str, ReadinessCheck] = {}
        self._database_probe: asyncio.Task[None] | None = None
        # The operators' view of this service's parking queue (shared/parking.py).
        self.parked = ParkedMessages(
            self.db,
            service=metrics.service,
            queue=queue_name(settings.queue_prefix, metrics.service),
            registry=metrics.registry,
            publish_timeout=settings.publish_timeout_seconds,
        )
        self.parking_drain: ParkingDrain | None = None

    def check_readiness_of(self, name: str, check: ReadinessCheck) -> None:
        """A service-specific condition /readyz must also report (e.g. calendar coverage)."""
        self._extra_checks[name] = check

    def consume(self, handlers: Mapping[str, Handler]) -> None:
        self._handlers = handlers

    def relay_outbox_of(
        self, collection: AsyncCollection[dict[str, Any]], *, written_elsewhere: bool = False
    ) -> OutboxRelay:
        """The relay of this collection's outbox, built now and started with the service:
        bootstrap hands it to the records that queue events (shared/records.py).
        `written_elsewhere`: other processes (Celery workers) put events in this outbox
        too, and never tell this relay: it scans the collection at every sweep."""
        for relay in self.relays:
            if relay.collection.name == collection.name:
                return relay
        s = self.settings
        relay = OutboxRelay(
            collection,
            sweep_seconds=s.outbox_sweep_seconds,
            full_sweep_seconds=(
                s.outbox_sweep_seconds if written_elsewhere else s.outbox_full_sweep_seconds
            ),
            stale_seconds=s.outbox_stale_seconds,
        )
        self.relays.append(relay)
        # huiyin_outbox_pending: what this service's relays know to be waiting.
        self.metrics.outbox_pending.labels(self.metrics.service).set_function(
            lambda: sum(each.pending for each in self.relays)
        )
        return relay

    async def start(self, *, connect_timeout: float = 60) -> None:
        s = self.settings
        await self.once_the_database_answers(
            lambda: self.mongo.admin.command("ping"), within=connect_timeout
        )
        self.amqp = amqp = await self._connect_broker(timeout=connect_timeout)
        channel = await amqp.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_topology(
            channel, exchange=s.exchange, prefix=s.queue_prefix, delivery_limit=s.delivery_limit
        )
        self.publisher = EventPublisher(
            exchange,
            timeout=s.publish_timeout_seconds,
            confirmed=self.metrics.events_published.labels(self.metrics.service),
        )
        self.parked.replay_through(lambda: channel.default_exchange)
        self.parking_drain = ParkingDrain(
            connection=amqp,
            parked=self.parked,
            parking_queue=parking_queue_name(s.queue_prefix, self.metrics.service),
        )
        await self.parking_drain.start()
        for relay in self.relays:
            await self.once_the_database_answers(
                partial(ensure_outbox_index, relay.collection), within=connect_timeout
            )
            relay.start(self.publisher)
        if self._handlers:
            consumer = EventConsumer(
                connection=amqp,
                service=self.metrics.service,
                handlers=self._handlers,
                metrics=self.metrics,
                exchange=s.exchange,
                prefix=s.queue_prefix,
                prefetch=s.prefetch,
                publish_timeout=s.publish_timeout_seconds,
            )
            await consumer.start()
            self.consumers.append(consumer)

    async def once_the_database_answers(
        self, step: Callable[[], Awaitable[object]], *, within: float = 60
    ) -> None:
        """Run a start step that reaches the database, again while the database cannot be
        reached (it may be restarting as the service starts): a service waits for it, as
        for the broker, instead of exiting. Start steps are written to run at every start,
        so running one again is harmless."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(pymongo.errors.ConnectionFailure),
            wait=wait_exponential(multiplier=0.2, max=5),
            stop=stop_after_delay(within),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "database not reachable at start; trying again",
                extra={"attempt": state.attempt_number},
            ),
        ):
            with attempt:
                await step()

    async def _connect_broker(self, *, timeout: float) -> AbstractRobustConnection:
        """Retried while the broker is not up yet (a service may start before it)."""
        s = self.settings
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(
                (ConnectionError, OSError, aio_pika.exceptions.AMQPError)
            ),
            wait=wait_exponential(multiplier=0.2, max=5),
            stop=stop_after_delay(timeout),
            reraise=True,
        ):
            with attempt:
                return await aio_pika.connect_robust(
                    s.amqp_url, client_properties={"connection_name": s.service_name}
                )
        raise AssertionError("unreachable: reraise=True raises the last attempt's error")

    async def stop(self) -> None:
        """Each step is bounded: with the broker gone, a robust connection would wait for it
        to come back before cancelling or closing, and the process would never exit."""

        async def bounded(step: Awaitable[None], what: str) -> None:
            try:
                await asyncio.wait_for(step, timeout=SHUTDOWN_STEP_SECONDS)
            except Exception:
                log.warning("shutdown step did not finish: %s", what, exc_info=True)

        for consumer in self.consumers:
            await bounded(consumer.stop(), "cancel consumer")
        if self.parking_drain is not None:
            await bounded(self.parking_drain.stop(), "stop parking drain")
            self.parking_drain = None
        for relay in self.relays:
            await bounded(relay.stop(), "stop outbox relay")
        self.consumers = []
        if self._database_probe is not None:
            self._database_probe.cancel()
        if self.amqp is not None:
            await bounded(self.amqp.close(), "close broker connection")
            self.amqp = None
        await bounded(self.mongo.close(), "close database client")

    async def _probe_database(self) -> None:
        """Read one document by `_id` from this service's own database (writing it once):
        FerretDB answers ping even when that database is stuck, and an `_id` read is cheap."""
        probes = self.db[READINESS_COLLECTION]
        with pymongo.timeout(READINESS_PROBE_SECONDS):
            if await probes.find_one({"_id": "probe"}) is None:
                await probes.update_one(
                    {"_id": "probe"},
                    {"$setOnInsert": {"service": self.metrics.service}},
                    upsert=True,
                )

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        async def database() -> None:
            # One probe at a time: while one waits, /readyz asks it again rather than
            # starting another, so a database that hangs never collects a pooled
            # connection per probe.
            if self._database_probe is None or self._database_probe.done():
                self._database_probe = asyncio.create_task(self._probe_database())
                # Its outcome is reported by whichever check awaits it, or by none.
                self._database_probe.add_done_callback(
                    lambda probe: probe.cancelled() or probe.exception()
                )
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._database_probe), timeout=READINESS_PROBE_SECONDS + 0.5
                )
            except TimeoutError:
                raise TimeoutError(
                    f"no answer within {READINESS_PROBE_SECONDS + 0.5:.1f}s"
                ) from None

        async def broker() -> None:
            if self.amqp is None or self.amqp.is_closed or not self.amqp.connected.is_set():
                raise ConnectionError("not connected to RabbitMQ")

        return {"database": database, "broker": broker, **self._extra_checks}
