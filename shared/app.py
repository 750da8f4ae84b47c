"""The FastAPI application shell every service shares: lifespan, errors, operations routes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pymongo
from fastapi import APIRouter, FastAPI, Request, Response

from shared import errors
from shared.http import instrument, operations_router
from shared.logs import configure_logging
from shared.parking_routes import router as parking_router
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing

StartHook = Callable[[], Awaitable[None]]


def build_app(
    *,
    title: str,
    description: str,
    runtime: ServiceRuntime,
    routers: Sequence[APIRouter] = (),
    on_start: Sequence[StartHook] = (),
    on_stop: Sequence[StartHook] = (),
) -> FastAPI:
    configure_tracing(runtime.settings.service_name)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        for hook in on_start:
            await runtime.once_the_database_answers(hook)
        try:
            yield
        finally:
            for hook in on_stop:
                await hook()
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI opens the server span; Prometheus, not OTel metrics, serves the ops team.
        telemetry={"tracing": True, "metrics": False, "operation_spans": False},
    )
    app.state.runtime = runtime
    instrument(app, runtime.metrics)
    errors.install(app)

    @app.middleware("http")
    async def bounded_database_time(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """All database operations of one request share one deadline (PyMongo's
        client-side timeout); past it the request is a 503, never a hang."""
        with pymongo.timeout(runtime.settings.request_timeout_seconds):
            return await call_next(request)

    app.include_router(operations_router(runtime.metrics, runtime.readiness_checks))
    app.include_router(parking_router)  # every service: its parked messages (bureau only)
    for router in routers:
        app.include_router(router)
    return app


def run_service(create_app: Callable[[Any], FastAPI], settings: ServiceSettings) -> None:
    """What `python -m services.<name>` does: JSON logs, then uvicorn in this process."""
    import uvicorn

    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=10,  # then drop idle keep-alive clients and exit
    )
