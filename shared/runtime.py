"""The connections one service holds for its lifetime, and their start/stop order.

Built by a service's bootstrap from settings; nothing connects at import time. Start:
database, broker (with retries, so a service may start before its broker), topology,
consumers, relays. Stop in reverse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from shared.consumer import EventConsumer, Handler
from shared.http import ReadinessCheck
from shared.metrics import ServiceMetrics
from shared.outbox import OutboxRelay, ensure_outbox_index
from shared.publisher import EventPublisher
from shared.settings import ServiceSettings
from shared.topology import declare_topology

log = logging.getLogger(__name__)

SHUTDOWN_STEP_SECONDS = 5.0


def mongo_client(url: str, *, timeout_seconds: float = 30.0) -> AsyncMongoClient:
    """Every round trip is bounded: a database that is down fails server selection within
    seconds, and one that stops answering (FerretDB holding a lock) fails the socket read,
    instead of waiting forever."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        uuidRepresentation="standard",
        connect=False,
        serverSelectionTimeoutMS=int(min(timeout_seconds, 5.0) * 1000),
        connectTimeoutMS=int(min(timeout_seconds, 5.0) * 1000),
        socketTimeoutMS=int(timeout_seconds * 1000),
    )


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, *, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.mongo: AsyncMongoClient = mongo_client(
            settings.mongo_url, timeout_seconds=settings.database_timeout_seconds
        )
        self.db: AsyncDatabase = self.mongo[settings.database]
        self.amqp: AbstractRobustConnection | None = None
        self.publisher: EventPublisher | None = None
        self.relays: list[OutboxRelay] = []
        self.consumers: list[EventConsumer] = []
        self._handlers: Mapping[str, Handler] | None = None
        self._outbox_collections: list[AsyncCollection] = []
        self._extra_checks: dict[str, ReadinessCheck] = {}

    def check_readiness_of(self, name: str, check: ReadinessCheck) -> None:
        """A service-specific condition /readyz must also report (e.g. calendar coverage)."""
        self._extra_checks[name] = check

    def consume(self, handlers: Mapping[str, Handler]) -> None:
        self._handlers = handlers

    def relay_outbox_of(self, collection: AsyncCollection) -> None:
        self._outbox_collections.append(collection)

    async def start(self, *, connect_timeout: float = 60) -> None:
        s = self.settings
        await self.mongo.admin.command("ping")
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(
                (ConnectionError, OSError, aio_pika.exceptions.AMQPError)
            ),
            wait=wait_exponential(multiplier=0.2, max=5),
            stop=stop_after_delay(connect_timeout),
            reraise=True,
        ):
            with attempt:
                self.amqp = await aio_pika.connect_robust(
                    s.amqp_url, client_properties={"connection_name": s.service_name}
                )
        channel = await self.amqp.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_topology(
            channel, exchange=s.exchange, prefix=s.queue_prefix, delivery_limit=s.delivery_limit
        )
        self.publisher = EventPublisher(
            exchange,
            timeout=s.publish_timeout_seconds,
            confirmed=self.metrics.events_published.labels(self.metrics.service),
        )
        for collection in self._outbox_collections:
            await ensure_outbox_index(collection)
            relay = OutboxRelay(
                collection,
                self.publisher,
                sweep_seconds=s.outbox_sweep_seconds,
                stale_seconds=s.outbox_stale_seconds,
            )
            relay.start()
            self.relays.append(relay)
        if self._handlers:
            consumer = EventConsumer(
                connection=self.amqp,
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

    def relay_for(self, collection: AsyncCollection) -> OutboxRelay:
        for relay, owned in zip(self.relays, self._outbox_collections, strict=True):
            if owned.name == collection.name:
                return relay
        raise LookupError(f"no outbox relay for {collection.name}")

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
        for relay in self.relays:
            await bounded(relay.stop(), "stop outbox relay")
        self.consumers, self.relays = [], []
        if self.amqp is not None:
            await bounded(self.amqp.close(), "close broker connection")
            self.amqp = None
        await bounded(self.mongo.close(), "close database client")

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        async def database() -> None:
            await self.mongo.admin.command("ping")

        async def broker() -> None:
            if self.amqp is None or self.amqp.is_closed or not self.amqp.connected.is_set():
                raise ConnectionError("not connected to RabbitMQ")

        return {"database": database, "broker": broker, **self._extra_checks}
