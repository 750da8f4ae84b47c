"""Priority, case type and deadline targets of a complaint (docs/rules.md#routing,
#deadlines). Pure: the text and the receipt's facts in, a decision out.

- Urgent: the text signals danger to a patient's health or safety — act at once, an
  action deadline in hours, 24 by default (立即采取积极措施, 《首诉负责制》六;
  docs/rules.md#routing P5).
- High: direct complaints that skipped the hospital (越级, to leadership or transferred
  from the bureau/hotline) and group complaints go first (docs/rules.md#routing P6).
- Case types carry separate targets for the acceptance decision and for the reply; the
  bureau ships the defaults of docs/rules.md#deadlines and a hospital may override any of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.routing.domain.categories import DEFAULT_KEYWORDS, Category, normalise
from services.routing.domain.escalation_ladder import (
    DEFAULT_LADDER,
    EscalationLadder,
    LadderRules,
)
from shared.contracts import CaseType, Priority


class DeadlineTarget(BaseModel):
    """Working days for the acceptance decision and for the reply; `reply_hours` replaces
    the reply's working days for cases counted in hours (adverse events)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    acceptance_working_days: int = Field(default=5, ge=0, le=30)
    reply_working_days: int = Field(default=5, ge=0, le=60)
    reply_hours: int | None = Field(default=None, ge=1, le=240)


# Defaults and their sources: docs/rules.md#deadlines D1 (acceptance: #acceptance C1).
DEFAULT_TARGETS: dict[CaseType, DeadlineTarget] = {
    CaseType.ON_SPOT: DeadlineTarget(acceptance_working_days=0, reply_working_days=0),
    CaseType.SIMPLE: DeadlineTarget(reply_working_days=3),
    CaseType.INVESTIGATION: DeadlineTarget(reply_working_days=5),
    CaseType.MULTI_DEPARTMENT: DeadlineTarget(reply_working_days=10),
    CaseType.COMPLEX: DeadlineTarget(reply_working_days=15),
    CaseType.TRANSFERRED: DeadlineTarget(reply_working_days=15),
    CaseType.LEADERSHIP_RECEPTION: DeadlineTarget(acceptance_working_days=2, reply_working_days=15),
    CaseType.ADVERSE_EVENT: DeadlineTarget(acceptance_working_days=0, reply_hours=48),
}

DEFAULT_DANGER_SIGNALS: tuple[str, ...] = (
    "大出血",
    "出血不止",
    "昏迷",
    "意识不清",
    "抢救",
    "呼吸困难",
    "喘不上气",
    "心跳骤停",
    "心脏骤停",
    "休克",
    "过敏性休克",
    "自杀",
    "轻生",
    "坠床",
    "跌倒",
    "用错药",
    "发错药",
    "误服",
    "输错血",
    "病危",
    "生命危险",
    "高烧不退",
    "抽搐",
    "窒息",
    "感染扩散",
    "走失",
    "跳楼",
)


class Conflict(BaseModel):
    """A hospital's 回避 record: `staff_id` must not handle complaints about `about_staff`
    (e.g. a relative: the complaint's target staff) or about `about_department` (the
    department the case is routed to, e.g. a spouse heads it). The person complained
    about never handles their own case and needs no record.

        conflicts:
        - {staff_id: hz-001-finance-1, about_staff: hz-001-finance-3, reason: 亲属关系}
        - {staff_id: hz-001-discipline-2, about_department: pharmacy}
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    staff_id: str = Field(min_length=1, max_length=64)
    about_staff: str | None = Field(default=None, max_length=64)
    about_department: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="利害关系", max_length=200)

    @model_validator(mode="after")
    def _names_what(self) -> Conflict:
        if not (self.about_staff or self.about_department):
            raise ValueError("conflicts: name about_staff or about_department")
        return self


class RoutingRules(BaseModel):
    """A hospital's (or the bureau's) routing rules; every part optional. Category keys are
    the stable codes of `Category` (fees, nursing, ...), so a typo is refused at load time.

    Keywords: `keywords` adds words to a category, `replace_keywords` replaces the
    category's inherited words; a word added here leaves whichever category it had before
    (the later layer wins), but one layer may not put a word in two categories."""

    model_config = ConfigDict(extra="forbid")
    keywords: dict[Category, list[str]] = Field(
        default_factory=dict, description="category → extra keywords"
    )
    replace_keywords: dict[Category, list[str]] = Field(
        default_factory=dict, description="category → keywords replacing the inherited ones"
    )
    departments: dict[Category, str] = Field(
        default_factory=dict, description="category → lead department code"
    )
    danger_signals: list[str] = Field(default_factory=list, description="added to the default")
    deadlines: dict[CaseType, DeadlineTarget] = Field(default_factory=dict)
    category_case_types: dict[Category, CaseType] = Field(
        default_factory=dict, description="e.g. fees → simple"
    )
    urgent_action_hours: int | None = Field(default=None, ge=1, le=72)
    conflicts: list[Conflict] = Field(default_factory=list)
    ladder: LadderRules | None = Field(
        default=None, description="the escalation ladder (domain/escalation_ladder.py)"
    )

    @model_validator(mode="after")
    def _one_category_per_word(self) -> RoutingRules:
        seen: dict[str, Category] = {}
        for table in (self.replace_keywords, self.keywords):
            for category, words in table.items():
                for word in words:
                    key = normalise(word).strip()
                    if not key:
                        raise ValueError(f"keywords.{category.value}: empty keyword")
                    other = seen.setdefault(key, category)
                    if other is not category:
                        raise ValueError(
                            f"keywords: {word!r} is given for both {other.value} and "
                            f"{category.value}"
                        )
        for signal in self.danger_signals:
            if not normalise(signal).strip():
                raise ValueError("danger_signals: empty signal")
        return self


def keyword_map(*layers: RoutingRules | None) -> dict[Category, list[str]]:
    """The bureau's default keywords with each layer applied in turn (bureau, hospital)."""
    keywords: dict[Category, list[str]] = {c: list(w) for c, w in DEFAULT_KEYWORDS.items()}
    for layer in filter(None, layers):
        keywords |= {c: list(w) for c, w in layer.replace_keywords.items()}
        moved = {normalise(w) for words in layer.replace_keywords.values() for w in words}
        moved |= {normalise(w) for words in layer.keywords.values() for w in words}
        for category in keywords:
            given = [*layer.replace_keywords.get(category, ()), *layer.keywords.get(category, ())]
            elsewhere = moved - set(map(normalise, given))
            keywords[category] = [w for w in keywords[category] if normalise(w) not in elsewhere]
        for category, words in layer.keywords.items():
            have = set(map(normalise, keywords.setdefault(category, [])))
            keywords[category] += [w for w in words if normalise(w) not in have]
    return keywords


URGENT_ACTION_HOURS = 24


@dataclass(frozen=True)
class EffectiveRules:
    """The bureau's default overlaid with one hospital's rules."""

    danger_signals: tuple[str, ...]
    targets: Mapping[CaseType, DeadlineTarget]
    category_case_types: Mapping[str, CaseType]
    departments: Mapping[str, str]
    urgent_action_hours: int
    conflicts: tuple[Conflict, ...]
    keywords: Mapping[Category, Sequence[str]] = field(default_factory=lambda: DEFAULT_KEYWORDS)
    ladder: EscalationLadder = DEFAULT_LADDER

    @classmethod
    def combine(
        cls, *layers: RoutingRules | None, investigation_days: int | None = None
    ) -> EffectiveRules:
        """Layers apply in order (bureau, then hospital); `investigation_days` is the
        deployment's default reply target for an ordinary investigation (settings). The
        ladder of a later layer may only tighten the first's (raises LadderLoosened)."""
        signals = list(DEFAULT_DANGER_SIGNALS)
        targets: dict[CaseType, DeadlineTarget] = dict(DEFAULT_TARGETS)
        if investigation_days is not None:
            targets[CaseType.INVESTIGATION] = targets[CaseType.INVESTIGATION].model_copy(
                update={"reply_working_days": investigation_days}
            )
        case_types: dict[str, CaseType] = {}
        departments: dict[str, str] = {}
        hours = URGENT_ACTION_HOURS
        conflicts: list[Conflict] = []
        for layer in filter(None, layers):
            signals += [s for s in layer.danger_signals if s not in signals]
            targets |= layer.deadlines
            case_types |= {c.value: t for c, t in layer.category_case_types.items()}
            departments |= {c.value: d for c, d in layer.departments.items()}
            hours = layer.urgent_action_hours or hours
            conflicts += layer.conflicts
        ladder = DEFAULT_LADDER
        for n, given in enumerate(layers):
            if given is not None:
                ladder = ladder.overlaid(given.ladder, where="rules.ladder", tighten_only=n > 0)
        return cls(
            tuple(signals),
            targets,
            case_types,
            departments,
            hours,
            tuple(conflicts),
            keyword_map(*layers),
            ladder,
        )


def danger_signals_in(text: str, signals: Iterable[str]) -> list[str]:
    folded = normalise(text)
    return [s for s in signals if normalise(s) in folded]


def priority_of(*, danger: list[str], direct: bool, group: bool, channel: str) -> Priority:
    if danger:
        return Priority.URGENT
    if direct or group or channel == "transferred":
        return Priority.HIGH
    return Priority.NORMAL


def case_type_of(
    *,
    stated: str | None,
    channel: str,
    category: str,
    co_departments: int,
    rules: EffectiveRules,
) -> CaseType:
    """The office's own judgement wins; then the channel, several departments, the
    hospital's category rule; investigation otherwise."""
    if stated and stated in CaseType.__members__.values():
        return CaseType(stated)
    if channel == "transferred":
        return CaseType.TRANSFERRED
    if co_departments:
        return CaseType.MULTI_DEPARTMENT
    return rules.category_case_types.get(category, CaseType.INVESTIGATION)


def conflicted_staff(
    conflicts: Iterable[Conflict], *, about_staff: str | None, department: str
) -> set[str]:
    """Staff who must step aside for a complaint about `about_staff` in `department`."""
    return {
        c.staff_id
        for c in conflicts
        if (about_staff and c.about_staff == about_staff) or c.about_department == department
    }
