"""One httpx client per process for the HTTP channels, and reading their replies."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

from services.notification.delivery_policy import (
    Codes,
    FailureKind,
    SendFailure,
    SendResult,
    classify_code,
    classify_http_error,
    classify_status,
    retry_after_seconds,
    scrub,
)

USER_AGENT = "huiyin-notification/1"


class HttpClient:
    """Made on first use in the process that uses it, and made again after a fork (a
    forked worker must not share its parent's sockets). `timeout` bounds each phase of a
    request: connecting, writing, waiting for the reply."""

    def __init__(self, *, timeout: float) -> None:
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._client: httpx.Client | None = None
        self._pid = 0

    @property
    def client(self) -> httpx.Client:
        if self._client is None or self._pid != os.getpid():
            self._client = httpx.Client(
                timeout=self._timeout,
                headers={"user-agent": USER_AGENT},
                follow_redirects=False,
                trust_env=False,  # no proxy from the environment in front of a signed request
            )
            self._pid = os.getpid()
        return self._client

    def post(self, url: str, **request: Any) -> httpx.Response | SendFailure:
        try:
            return self.client.post(url, **request)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return classify_http_error(error)

    def close(self) -> None:
        if self._client is not None and self._pid == os.getpid():
            self._client.close()
        self._client = None


def json_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def status_result(response: httpx.Response) -> SendResult | None:
    """The result an HTTP status alone decides (None: a 2xx, read the body)."""
    failure = classify_status(response.status_code, response.reason_phrase)
    if failure is None:
        return None
    return SendResult(failure, retry_after=retry_after_seconds(response.headers.get("retry-after")))


def coded_result(
    response: httpx.Response | SendFailure,
    *,
    field: str,
    success: object,
    message_field: str,
    codes: Codes,
    receipt_field: str = "",
) -> SendResult:
    """A service that answers in JSON with its own code (`field`), `success` when it took
    the request. Throttling and server errors by status come first; a 4xx carrying a code
    is read by the code (Aliyun refuses a bad signature with 400 and its own code); a 2xx
    that cannot be read leaves the outcome unknown (the service took the request)."""
    if isinstance(response, SendFailure):
        return SendResult(response)
    by_status = status_result(response)
    body = json_body(response)
    code = body.get(field) if body is not None else None
    if by_status is not None and (code is None or response.status_code in (429, 504)):
        return by_status
    if by_status is not None and response.status_code >= 500:
        return by_status
    if body is None or code is None:
        detail = scrub(f"HTTP {response.status_code} {response.text[:120]}")
        return SendResult(SendFailure(FailureKind.UNKNOWN, "bad_reply", detail))
    if code == success:
        return by_status or SendResult(receipt=str(body.get(receipt_field, "")))
    return SendResult(classify_code(str(code), str(body.get(message_field, "")), codes))
