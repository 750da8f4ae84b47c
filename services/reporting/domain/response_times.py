"""Response-time statistics from histogram counters: each first reply adds 1 to one bucket
in hours and one in working days; the median and p90 are read back from the buckets. Pure.

The approximation: a quantile is the upper edge of the bucket it falls in, so "median 48"
means half the replies came within at most 48 hours (never an underestimate). A quantile
in the last, open bucket has no upper edge: it is reported as None with `over` the last
edge. Exact values would need every reply's time, which a bounded read cannot have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Upper edges, inclusive; a value above the last one falls in the open bucket "inf".
HOUR_EDGES: tuple[int, ...] = (4, 8, 24, 48, 72, 120, 168, 240, 360, 480, 720)
DAY_EDGES: tuple[int, ...] = (0, 1, 2, 3, 5, 7, 10, 15, 20, 30)
OPEN_BUCKET = "inf"
UNITS = {"hr": HOUR_EDGES, "wd": DAY_EDGES}
UNIT_LABELS = {"hr": "小时", "wd": "工作日"}


def bucket_of(value: float, edges: Sequence[int]) -> str:
    for edge in edges:
        if value <= edge:
            return str(edge)
    return OPEN_BUCKET


def bucket_order(edges: Sequence[int]) -> list[str]:
    return [*(str(edge) for edge in edges), OPEN_BUCKET]


@dataclass(frozen=True)
class Quantile:
    at_most: int | None  # the bucket's upper edge; None in the open bucket
    over: int | None = None  # the open bucket: more than this


def quantile(counts: Mapping[str, int], edges: Sequence[int], q: float) -> Quantile | None:
    """The q-quantile (0 < q <= 1) of the values counted in `counts` (bucket → n): the
    bucket holding the ceil(q·n)-th smallest value. None when nothing was counted."""
    if not 0 < q <= 1:
        raise ValueError("q: must be in (0, 1]")
    total = sum(counts.get(bucket, 0) for bucket in bucket_order(edges))
    if total <= 0:
        return None
    rank, seen = math.ceil(q * total), 0
    for bucket in bucket_order(edges):
        seen += counts.get(bucket, 0)
        if seen >= rank:
            if bucket == OPEN_BUCKET:
                return Quantile(at_most=None, over=edges[-1])
            return Quantile(at_most=int(bucket))
    raise AssertionError("unreachable: the ranks add up to the total")  # pragma: no cover


@dataclass(frozen=True)
class Response:
    """One complaint's first reply as the statistics count it."""

    priority: str
    hours: str  # bucket
    working_days: str | None  # bucket; None: the calendar does not cover the dates
    on_time: bool


def response_of(
    *, response_seconds: float, working_days: int | None, priority: str, on_time: bool
) -> Response:
    return Response(
        priority=priority,
        hours=bucket_of(response_seconds / 3600, HOUR_EDGES),
        working_days=None if working_days is None else bucket_of(working_days, DAY_EDGES),
        on_time=on_time,
    )


def increments(response: Response) -> dict[str, int]:
    """The counter paths (below a group such as `c.<category>`) one reply adds 1 to."""
    paths = {"n": 1, f"hr.{response.hours}": 1, "on_time" if response.on_time else "late": 1}
    if response.working_days is not None:
        paths[f"wd.{response.working_days}"] = 1
    return paths


@dataclass(frozen=True)
class Statistics:
    replied: int
    on_time: int
    late: int
    hours: Mapping[str, int]
    working_days: Mapping[str, int]

    @property
    def on_time_rate(self) -> float | None:
        return round(self.on_time / self.replied, 4) if self.replied else None


def statistics_of(node: Mapping[str, object]) -> Statistics:
    """A group's counters (`n`, `on_time`, `late`, `hr.*`, `wd.*`) as numbers."""

    def number(value: object) -> int:
        return int(value) if isinstance(value, int | float) else 0

    def buckets(name: str) -> dict[str, int]:
        found = node.get(name)
        return (
            {key: number(n) for key, n in found.items() if number(n)}
            if isinstance(found, Mapping)
            else {}
        )

    return Statistics(
        replied=number(node.get("n")),
        on_time=number(node.get("on_time")),
        late=number(node.get("late")),
        hours=buckets("hr"),
        working_days=buckets("wd"),
    )
