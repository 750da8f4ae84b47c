"""The escalation ladder (docs/rules.md#escalation E7-E12): when an unanswered case reaches
each level, who each level reaches, and which cases enter the ladder higher at once.

The bureau's default for every hospital is the platform's (`DEFAULT_LADDER`) overlaid with
the region file's `bureau.rules.ladder`; a hospital's `rules.ladder` overlays the bureau's
and may only tighten it: reach a level sooner (fewer working days, fewer hours, an earlier
warning) and add signals, never loosen a step. A region file that loosens one is refused at
load time, naming the rule (`LadderLoosened`).

Who each level reaches is one table (`AUDIENCE`), and which event tells of it another
(`EVENT_OF`): one screen answers "who hears of a case five working days overdue?".

Pure: rules and a region's people in, a ladder and recipients out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from services.routing.domain.categories import normalise
from shared.contracts import (
    ComplaintEscalated,
    ComplaintOverdue,
    ComplaintSlaWarning,
    LadderLevel,
    LadderStep,
    Person,
)

if TYPE_CHECKING:  # region.py imports the rules, which import LadderRules from here
    from services.routing.domain.region import Hospital, StaffMember, Supervisor

# Escalation levels, lowest first: a case that reached one of them is not sent back down
# to a lower one in the same round (the higher supervisor already knows).
ESCALATIONS: tuple[LadderLevel, ...] = (
    LadderLevel.COMPLAINT_OFFICE,
    LadderLevel.LEADERSHIP,
    LadderLevel.BUREAU,
)
RANK: dict[LadderLevel, int] = {level: n for n, level in enumerate(LadderLevel)}


class Audience(StrEnum):
    """Whom a level reaches, as routing's region copy names them: the staff audiences are
    the region's roles by the same code (region.py Role)."""

    HANDLER = "handler"
    DEPARTMENT_HEAD = "department_head"  # of the case's lead department
    COMPLAINT_OFFICE = "complaint_office"
    LEADERSHIP = "leadership"
    BUREAU = "bureau"  # the bureau's supervisors (督办)


AUDIENCE: dict[LadderLevel, tuple[Audience, ...]] = {
    LadderLevel.WARNING: (Audience.HANDLER,),
    LadderLevel.ACCEPTANCE_DUE: (Audience.HANDLER, Audience.DEPARTMENT_HEAD),
    LadderLevel.ACTION_DUE: (Audience.HANDLER, Audience.DEPARTMENT_HEAD),
    LadderLevel.REPLY_DUE: (Audience.HANDLER, Audience.DEPARTMENT_HEAD),
    LadderLevel.COMPLAINT_OFFICE: (Audience.COMPLAINT_OFFICE,),
    LadderLevel.LEADERSHIP: (Audience.LEADERSHIP,),
    LadderLevel.BUREAU: (Audience.BUREAU,),
}

# Nobody in an audience (a hospital without a department head, say): the next one up hears.
FALLBACK: dict[Audience, Audience | None] = {
    Audience.HANDLER: Audience.DEPARTMENT_HEAD,
    Audience.DEPARTMENT_HEAD: Audience.COMPLAINT_OFFICE,
    Audience.COMPLAINT_OFFICE: Audience.LEADERSHIP,
    Audience.LEADERSHIP: Audience.BUREAU,
    Audience.BUREAU: None,
}

EVENT_OF: dict[LadderLevel, type[LadderStep]] = {
    LadderLevel.WARNING: ComplaintSlaWarning,
    LadderLevel.ACCEPTANCE_DUE: ComplaintOverdue,
    LadderLevel.ACTION_DUE: ComplaintOverdue,
    LadderLevel.REPLY_DUE: ComplaintOverdue,
    LadderLevel.COMPLAINT_OFFICE: ComplaintEscalated,
    LadderLevel.LEADERSHIP: ComplaintEscalated,
    LadderLevel.BUREAU: ComplaintEscalated,
}

# Words that mark a major medical dispute (重大医疗纠纷: a death or a lasting harm, or the
# word itself), reported to the bureau at once. A hospital or the bureau may add words.
DEFAULT_MAJOR_SIGNALS: tuple[str, ...] = (
    "死亡",
    "身亡",
    "去世",
    "过世",
    "致死",
    "致残",
    "残疾",
    "瘫痪",
    "植物人",
    "医疗事故",
    "重大医疗纠纷",
    "尸检",
)


class LadderRules(BaseModel):
    """`rules.ladder` of the bureau or of a hospital; every key optional.

    Working days overdue count after the reply deadline's day (2: the end of the second
    working day after it); the urgent climb counts clock hours after the action deadline."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    warning_percent: int | None = Field(
        default=None, ge=1, le=99, description="warning at this share of the working time"
    )
    complaint_office_after_working_days: int | None = Field(default=None, ge=1, le=60)
    leadership_after_working_days: int | None = Field(default=None, ge=1, le=60)
    bureau_after_working_days: int | None = Field(default=None, ge=1, le=60)
    urgent_bureau_after_hours: int | None = Field(
        default=None, ge=1, le=240, description="an urgent case past its action deadline"
    )
    major_dispute_signals: list[str] = Field(
        default_factory=list, description="added to the built-in list"
    )


# The numeric steps of a ladder, each of which a hospital may only lower.
STEPS = (
    "warning_percent",
    "complaint_office_after_working_days",
    "leadership_after_working_days",
    "bureau_after_working_days",
    "urgent_bureau_after_hours",
)


class LadderLoosened(ValueError):
    """A region file's ladder that a hospital loosens, or whose steps are out of order."""


@dataclass(frozen=True)
class EscalationLadder:
    """The effective ladder of one hospital."""

    warning_percent: int = 80
    complaint_office_after_working_days: int = 2
    leadership_after_working_days: int = 5
    bureau_after_working_days: int = 10
    urgent_bureau_after_hours: int = 24
    major_dispute_signals: tuple[str, ...] = DEFAULT_MAJOR_SIGNALS

    @property
    def overdue_steps(self) -> tuple[tuple[LadderLevel, int], ...]:
        """Escalation levels by working days overdue, in order."""
        return (
            (LadderLevel.COMPLAINT_OFFICE, self.complaint_office_after_working_days),
            (LadderLevel.LEADERSHIP, self.leadership_after_working_days),
            (LadderLevel.BUREAU, self.bureau_after_working_days),
        )

    def overlaid(
        self, rules: LadderRules | None, *, where: str, tighten_only: bool
    ) -> EscalationLadder:
        """This ladder with `rules` over it; `where` names the rules in a refusal."""
        if rules is None:
            return self
        steps = {name: int(getattr(self, name)) for name in STEPS}
        for name in STEPS:
            value = getattr(rules, name)
            if value is None:
                continue
            if tighten_only and value > steps[name]:
                raise LadderLoosened(
                    f"{where}.{name}: {value} is later than the bureau's {steps[name]}; "
                    "a hospital may reach a level sooner, never later"
                )
            steps[name] = value
        signals = [s for s in rules.major_dispute_signals if s not in self.major_dispute_signals]
        for signal in signals:
            if not normalise(signal).strip():
                raise LadderLoosened(f"{where}.major_dispute_signals: empty signal")
        ladder = EscalationLadder(
            warning_percent=steps["warning_percent"],
            complaint_office_after_working_days=steps["complaint_office_after_working_days"],
            leadership_after_working_days=steps["leadership_after_working_days"],
            bureau_after_working_days=steps["bureau_after_working_days"],
            urgent_bureau_after_hours=steps["urgent_bureau_after_hours"],
            major_dispute_signals=(*self.major_dispute_signals, *signals),
        )
        days = [n for _, n in ladder.overdue_steps]
        if days != sorted(set(days)):
            raise LadderLoosened(
                f"{where}: complaint_office_after_working_days < leadership_after_working_days "
                f"< bureau_after_working_days must hold (now {days[0]}, {days[1]}, {days[2]})"
            )
        return ladder

    @classmethod
    def combine(
        cls, bureau: LadderRules | None, hospital: LadderRules | None, *, hospital_id: str = ""
    ) -> EscalationLadder:
        """The platform's default, the bureau's rules over it (any value), then the
        hospital's (tighten only). Raises LadderLoosened naming the rule."""
        bureau_ladder = cls().overlaid(bureau, where="bureau.rules.ladder", tighten_only=False)
        where = f"hospitals[{hospital_id}].rules.ladder" if hospital_id else "rules.ladder"
        return bureau_ladder.overlaid(hospital, where=where, tighten_only=True)

    def is_major(self, text: str) -> bool:
        folded = normalise(text)
        return any(normalise(signal) in folded for signal in self.major_dispute_signals)


DEFAULT_LADDER = EscalationLadder()


# --- entering the ladder higher at once -------------------------------------------------

URGENT_REASON = "紧急投诉（涉及患者健康或安全），立即报告院领导"
MAJOR_REASON = "疑似重大医疗纠纷，立即报告卫健委"
GROUP_REASON = "群体投诉，立即报告卫健委"


@dataclass(frozen=True)
class AtOnce:
    """A level a case reaches the moment routing decides it, and why (never the
    complainant's words: the kind of case only)."""

    level: LadderLevel
    reason: str


def at_once(*, urgent: bool, major: bool, group: bool) -> tuple[AtOnce, ...]:
    """Urgent cases go to leadership at once; major medical disputes and group complaints
    to the bureau at once (docs/rules.md#escalation E9, E10). Lowest level first."""
    steps: list[AtOnce] = []
    if urgent:
        steps.append(AtOnce(LadderLevel.LEADERSHIP, URGENT_REASON))
    if major:
        steps.append(AtOnce(LadderLevel.BUREAU, MAJOR_REASON))
    elif group:
        steps.append(AtOnce(LadderLevel.BUREAU, GROUP_REASON))
    return tuple(steps)


# --- recipients -------------------------------------------------------------------------


def person(member: StaffMember) -> Person:
    return Person(staff_id=member.id, name=member.name, email=member.email)


def supervisor(member: Supervisor) -> Person:
    return Person(staff_id=member.staff_id, name=member.name, email=member.email)


def audience_members(
    audience: Audience,
    *,
    hospital: Hospital | None,
    department: str | None,
    handler_id: str | None,
    supervisors: Sequence[Supervisor],
) -> list[Person]:
    """The people of one audience; empty when the region names nobody."""
    staff = hospital.staff if hospital else []
    if audience is Audience.BUREAU:
        return [supervisor(s) for s in supervisors]
    if audience is Audience.HANDLER:
        return [person(m) for m in staff if m.id == handler_id]
    role = audience.value  # the staff audiences are roles of the same code
    chosen = (
        m
        for m in staff
        if role in m.roles
        and (audience is not Audience.DEPARTMENT_HEAD or m.department == department)
    )
    return [person(m) for m in chosen]


def recipients(
    level: LadderLevel,
    *,
    hospital: Hospital | None,
    department: str | None,
    handler_id: str | None,
    supervisors: Sequence[Supervisor],
) -> list[Person]:
    """Who `level` reaches (`AUDIENCE`), each audience without anybody replaced by the
    next one up (`FALLBACK`), once each. Notification finds their channels by staff id."""
    found: dict[str, Person] = {}
    for audience in AUDIENCE[level]:
        step: Audience | None = audience
        while step is not None:
            members = audience_members(
                step,
                hospital=hospital,
                department=department,
                handler_id=handler_id,
                supervisors=supervisors,
            )
            if members:
                for member in members:
                    found.setdefault(member.staff_id, member)
                break
            step = FALLBACK[step]
    return list(found.values())


def highest(levels: Iterable[str]) -> LadderLevel | None:
    """The highest escalation level among `levels` (codes), if any."""
    ranked = [LadderLevel(code) for code in levels if code in ESCALATIONS]
    return max(ranked, key=RANK.__getitem__, default=None)
