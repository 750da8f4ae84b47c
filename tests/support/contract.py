"""Schemathesis over every OpenAPI operation of a running service: each response must be a
status the operation declares, with the declared content type, headers and body schema,
and never a 5xx. Bounded (a fixed number of examples per operation) and reproducible
(derandomized: the same examples on every run)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks as st_checks
from schemathesis.generation import GenerationMode

EXAMPLES = 12  # per operation and generation mode

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)


@dataclass
class ContractReport:
    operations: int = 0
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _exercise(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: Callable[[str, str], dict[str, str]],
    session: requests.Session,
    chosen: list[Any],
    report: ContractReport,
) -> Callable[[], None]:
    method, path = operation.method.upper(), operation.path

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def exercise(case: Any) -> None:
        sent = headers(method, path)
        response = case.call(base_url=base_url, session=session, headers=sent, timeout=15)
        report.requests += 1
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=chosen, headers=sent)

    return exercise


def check_contract(
    base_url: str,
    *,
    headers: Callable[[str, str], dict[str, str]],
    skip: Callable[[str, str], bool] = lambda method, path: False,
) -> ContractReport:
    """Run the checks on every operation of the service at `base_url` (blocking: call it
    from a worker thread when the service runs on this process's event loop).

    `headers(method, path)` gives each call its credentials (fresh each time, so a
    single-use staff assertion is never replayed)."""
    raw = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(raw)
    chosen = [getattr(st_checks, name) for name in CHECKS]
    report = ContractReport()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        method, path = operation.method.upper(), operation.path
        if skip(method, path):
            continue
        report.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            exercise = _exercise(operation, mode, base_url, headers, session, chosen, report)
            try:
                exercise()
            except Unsatisfiable:
                continue  # nothing to negate (no parameters, or any string is valid)
            except (Exception, BaseExceptionGroup) as failure:  # every operation's first failure
                text = str(failure).strip().splitlines()
                report.failures.append(f"{method} {path} ({mode.value}): {' | '.join(text[:12])}")
    return report
