"""One fixture picks the infrastructure: URLs from the environment (HUIYIN_MONGO_URL,
HUIYIN_AMQP_URL), else testcontainers when a Docker engine answers, else throwaway native
RabbitMQ and FerretDB servers on free ports. Tracing goes to an in-memory exporter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from deploy.servers import Infrastructure, provide_infrastructure
from tests.support.mail import MailSink
from tests.support.platform import Platform, free_port, running_platform

SPANS = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    infra = provide_infrastructure()
    yield infra
    infra.close()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    SPANS.clear()
    yield SPANS


@pytest.fixture
def mail() -> Iterator[MailSink]:
    sink = MailSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
async def platform(infrastructure: Infrastructure, mail: MailSink) -> AsyncIterator[Platform]:
    async with running_platform(infrastructure, smtp_port=mail.port) as running:
        yield running
