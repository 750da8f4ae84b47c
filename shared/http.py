"""What every service's HTTP side has in common: /healthz, /readyz, /metrics, one
middleware that records request metrics per route template, and the routes' access to what
bootstrap built (`from_app_state`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from shared.metrics import ServiceMetrics


class Readiness(BaseModel):
    status: str = Field(description="ready or not ready")
    checks: dict[str, str] = Field(description="each check: ok (with a note) or failed: why")


# A check raises when not ready; it may return a note that is shown with "ok".
ReadinessCheck = Callable[[], Awaitable[str | None]]


def from_app_state(name: str) -> Any:
    """A route dependency on what bootstrap built once and kept as `app.state.<name>`:
    `ClocksDep = Annotated[ClockStore, from_app_state("clocks")]`."""

    def built(request: Request) -> Any:
        return getattr(request.app.state, name)

    return Depends(built)


def _route_template(request: Request) -> str:
    """The matched route's template (low-cardinality label); routing sets it on the scope."""
    route = request.scope.get("route")
    return getattr(route, "path", "unmatched")


def instrument(app: FastAPI, metrics: ServiceMetrics) -> None:
    """Request metrics per route template. The server span itself comes from FastAPI's
    native OpenTelemetry support, which continues an incoming `traceparent`; handlers
    copy the current context into every event envelope they write."""

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = _route_template(request)
        if route not in ("/metrics", "/healthz", "/readyz"):
            metrics.http_requests.labels(
                metrics.service, request.method, route, f"{response.status_code // 100}xx"
            ).inc()
            metrics.http_seconds.labels(metrics.service, request.method, route).observe(
                time.perf_counter() - started
            )
        return response


def operations_router(
    metrics: ServiceMetrics, checks: Callable[[], Mapping[str, ReadinessCheck]]
) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": metrics.service}

    @router.get(
        "/readyz",
        summary="Readiness: broker, database and service checks answer",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "a check failed"}},
    )
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                note = await asyncio.wait_for(check(), timeout=3)
                results[name] = f"ok; {note}" if note else "ok"
            except Exception as error:  # report, never raise: this is a probe
                results[name] = f"failed: {type(error).__name__}: {error}"[:300]
        # A check may pass with a note for the operators (e.g. a calendar ending soon).
        ready = all(value.startswith("ok") for value in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
