"""Which lifecycle status a complaint's facts show, whatever order events arrive in.

Reporting writes each event with one `$max` on `status_rank`, so a rank must grow along
the lifecycle: `round * 10 + stage`, where `round` counts re-reviews (a dispute starts the
next round) and `stage` orders the steps within a round. A late `assigned` can then never
undo `replied`, and a second round's reply outranks the first round's closure. Facts
other than the status combine by the rules in domain/facts.py.
"""

from __future__ import annotations

STAGES: tuple[str, ...] = (
    "received",
    "needs_supplement",
    "accepted",
    "assigned",
    "reopened",
    "replied",
    "closed",
    "not_accepted",
    "transferred",
    "resolved_on_spot",
)
STAGE = {status: stage for stage, status in enumerate(STAGES)}

# Still being worked on (the reply deadline runs); needs_supplement waits for the
# complainant, so its clock is paused and it is never overdue.
RUNNING = frozenset({"received", "accepted", "assigned", "reopened"})


def rank(status: str, round_: int = 0) -> int:
    if round_ < 0:
        raise ValueError("round: must not be negative")
    return round_ * 10 + STAGE[status]


def status_of(status_rank: int | None) -> str:
    return STAGES[(status_rank or 0) % 10]


def is_running(status_rank: int | None) -> bool:
    return status_of(status_rank) in RUNNING
