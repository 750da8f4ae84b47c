"""Adding up the read model's grouped rows into the counts a summary shows. Pure.

Satisfaction counts only complaints whose status is closed (a complaint reopened since
its last return visit has no satisfaction yet); reasons count only not-accepted ones.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.reporting.domain.status import status_of

GROUPS = ("by_category", "by_status", "by_satisfaction", "not_accepted_reasons")
STEPS = ("extensions", "escalations")


class Tally:
    """Adds up the read model's grouped rows into one Counts."""

    def __init__(self) -> None:
        self.groups: dict[str, Counter[str]] = {name: Counter() for name in GROUPS}
        self.steps: Counter[str] = Counter()

    def add(self, row: dict[str, Any]) -> None:
        key: dict[str, Any] = row["_id"]
        n = row["n"]
        status = status_of(key.get("status_rank"))
        self.groups["by_category"][key.get("category") or "unrouted"] += n
        self.groups["by_status"][status] += n
        if status == "closed" and key.get("satisfaction"):
            self.groups["by_satisfaction"][key["satisfaction"]] += n
        if status == "not_accepted" and key.get("not_accepted_reason"):
            self.groups["not_accepted_reasons"][key["not_accepted_reason"]] += n
        for step in STEPS:  # per complaint, so a group of n complaints has n times as many
            self.steps[step] += n * int(key.get(step) or 0)

    def merge(self, other: Tally) -> None:
        for name, counter in other.groups.items():
            self.groups[name].update(counter)
        self.steps.update(other.steps)

    def counts(self) -> dict[str, Any]:
        return {
            "total": sum(self.groups["by_status"].values()),
            **{name: dict(counter) for name, counter in self.groups.items()},
            **{step: self.steps[step] for step in STEPS},
        }
