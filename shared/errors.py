"""One error shape for every service and every status (401, 403, 404, 409, 422, 503, 500).

    {"code": "invalid_request",
     "message": "invalid request: complainant.email: value is not a valid email address",
     "errors": [{"field": "complainant.email", "location": "body",
                 "message": "value is not a valid email address", "code": "value_error"}]}

`code` is stable English for programs; `message` is for people; `errors` names each field
(dotted path) that is wrong, and is empty when no field is to blame. A 409 about the state
machine adds `status` and `allowed`. Every operation declares the statuses it can return
with this schema (`error_responses`), and the test suite checks the contract with
schemathesis.

Raise `ApiError` (or one of the helpers below) anywhere in a request; `install` turns it,
FastAPI's own validation errors, Starlette's HTTP errors, an unavailable database and any
unexpected exception into this shape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pymongo.errors import ConnectionFailure, PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class ErrorItem(BaseModel):
    field: str = Field(description="dotted path of the field at fault (complainant.email)")
    location: str = Field(description="body, query, path or header")
    message: str
    code: str = Field(description="stable machine code, e.g. missing, value_error, unknown")


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine code: invalid_request, unauthorized, ...")
    message: str
    errors: list[ErrorItem] = Field(default_factory=list)
    status: str | None = Field(default=None, description="409 illegal transition: the state")
    allowed: list[str] | None = Field(
        default=None, description="409 illegal transition: the actions allowed now"
    )


class ApiError(Exception):
    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        errors: Iterable[ErrorItem] = (),
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = ErrorBody(code=code, message=message, errors=list(errors), **extra)
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.body.model_dump(exclude_none=True),
            status_code=self.status_code,
            headers=self.headers,
        )


def invalid(field: str, message: str, *, location: str = "body", code: str = "invalid") -> ApiError:
    """422 naming one field. `message` may start with "field: "; it is not repeated."""
    message = message.removeprefix(f"{field}: ")
    item = ErrorItem(field=field, location=location, message=message, code=code)
    return ApiError(422, "invalid_request", f"{field}: {message}", errors=[item])


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str, *, code: str = "forbidden") -> ApiError:
    return ApiError(403, code, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str, *, code: str = "conflict", **extra: Any) -> ApiError:
    return ApiError(409, code, message, **extra)


def unavailable(message: str, *, retry_after: int = RETRY_AFTER_SECONDS) -> ApiError:
    return ApiError(503, "unavailable", message, headers={"Retry-After": str(retry_after)})


_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or unknown API key, or an invalid staff assertion",
    403: "Authenticated, but not allowed to do this",
    404: "Not found (or not visible to this principal)",
    409: "Conflicts with the current state",
    422: "Invalid input; `errors` names each field",
    500: "Unexpected failure (reported, never a stack trace)",
    503: "A dependency (the database) did not answer in time; retry after `Retry-After`",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these statuses, each with the shared ErrorBody schema."""
    declared: dict[int | str, dict[str, Any]] = {}
    for code in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _DESCRIPTIONS[code]}
        if code == 503:
            entry["headers"] = {
                "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
            }
        declared[code] = entry
    return declared


def _validation_items(error: RequestValidationError) -> list[ErrorItem]:
    items = []
    for problem in error.errors():
        location, *path = [str(part) for part in problem.get("loc", ())] or ["body"]
        message = str(problem.get("msg", "invalid")).removeprefix("Value error, ")
        if not path and ": " in message:  # a model-level rule that names its field first
            field, message = message.split(": ", 1)
            path = field.split(".")
        elif path and ": " in message and message.split(": ", 1)[0] == path[-1]:
            message = message.split(": ", 1)[1]
        items.append(
            ErrorItem(
                field=".".join(path) or location,
                location=location,
                message=message,
                code=str(problem.get("type", "invalid")),
            )
        )
    return items


def validation_error(items: Sequence[ErrorItem]) -> ApiError:
    summary = "; ".join(f"{item.field}: {item.message}" for item in items[:5])
    return ApiError(422, "invalid_request", f"invalid request: {summary}", errors=items)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


def database_unavailable(error: PyMongoError) -> bool:
    """A database that is down or too slow to answer, as opposed to a bad command."""
    return isinstance(error, ConnectionFailure) or bool(getattr(error, "timeout", False))


def install(app: FastAPI) -> None:
    """Register the handlers that give every failure the shared shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return validation_error(_validation_items(error)).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and request.method in ("POST", "PUT", "PATCH"):
            # FastAPI's "error parsing the body" (not JSON, or not the declared media type)
            # is bad input like any other: a 422 that names the body.
            item = ErrorItem(
                field="body",
                location="body",
                message="must be a JSON document (Content-Type: application/json)",
                code="json_invalid",
            )
            return validation_error([item]).response()
        code = _HTTP_CODES.get(error.status_code, "error")
        message = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
        return ApiError(error.status_code, code, message, headers=error.headers).response()

    @app.exception_handler(PyMongoError)
    async def database_error(request: Request, error: PyMongoError) -> JSONResponse:
        if database_unavailable(error):
            log.warning("database unavailable", extra={"error": type(error).__name__})
            return unavailable("the database did not answer in time; retry shortly").response()
        log.error("database error", exc_info=error)
        return ApiError(500, "internal", "unexpected database error").response()

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=error)
        return ApiError(500, "internal", "unexpected error; it has been logged").response()
