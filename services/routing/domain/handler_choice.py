"""Who handles a complaint within its department.

The least-loaded eligible handler; never the person complained about (回避,
docs/rules.md#recusal) and never someone absent. Nobody eligible: the department head takes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.routing.domain.region import Role, StaffMember


@dataclass(frozen=True)
class HandlerChoice:
    handler: StaffMember | None
    recused: tuple[str, ...] = ()
    fallback_to_head: bool = False


def choose_handler(
    staff: Iterable[StaffMember],
    *,
    department: str,
    open_cases: Mapping[str, int],
    complained_about: str | None = None,
    conflicted: Iterable[str] = (),
) -> HandlerChoice:
    """`conflicted`: staff the hospital marks 回避 for this complaint (see case_rules)."""
    members = [s for s in staff if s.department == department]
    excluded = set(conflicted) | ({complained_about} if complained_about else set())
    recused = tuple(s.id for s in members if s.id in excluded)
    eligible = [
        s for s in members if Role.HANDLER in s.roles and not s.absent and s.id not in recused
    ]
    if eligible:
        best = min(eligible, key=lambda s: (open_cases.get(s.id, 0), s.id))
        return HandlerChoice(best, recused)
    heads = [
        s
        for s in members
        if Role.DEPARTMENT_HEAD in s.roles and not s.absent and s.id not in recused
    ]
    return HandlerChoice(heads[0] if heads else None, recused, fallback_to_head=True)
