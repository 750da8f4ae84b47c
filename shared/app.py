"""The FastAPI application shell every service shares: lifespan, errors, operations routes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared.http import instrument, operations_router
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing

StartHook = Callable[[], Awaitable[None]]


def field_errors(error: RequestValidationError) -> list[dict[str, str]]:
    """Each problem as {field, location, message}; the field is dotted (complainant.email)."""
    out = []
    for problem in error.errors():
        location, *path = [str(part) for part in problem.get("loc", ())] or ["body"]
        message = str(problem.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        if not path and ": " in message:  # model-level rule that names its field first
            field, message = message.split(": ", 1)
            path = [field]
        out.append({"field": ".".join(path) or location, "location": location, "message": message})
    return out


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
            await hook()
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

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = field_errors(error)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return JSONResponse(
            status_code=422, content={"detail": f"invalid request: {summary}", "errors": errors}
        )

    app.include_router(operations_router(runtime.metrics, runtime.readiness_checks))
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
