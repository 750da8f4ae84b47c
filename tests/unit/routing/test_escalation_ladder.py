"""The escalation ladder's rules (services/routing/domain/escalation_ladder.py): the
bureau's default, a hospital's tightening, a loosening refused at load time naming the
rule; who each level reaches; which cases enter the ladder higher at once."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.routing.domain.case_rules import EffectiveRules, RoutingRules
from services.routing.domain.escalation_ladder import (
    DEFAULT_LADDER,
    EscalationLadder,
    LadderLoosened,
    LadderRules,
    at_once,
    recipients,
)
from services.routing.domain.region import Region, Role
from shared.contracts import LadderLevel
from tests.unit.routing.fakes import example_region


def region_with(bureau: dict[str, Any] | None, hospital: dict[str, Any] | None) -> Region:
    document = example_region().model_dump(mode="json")
    if bureau is not None:
        document["bureau"]["rules"] = {**(document["bureau"]["rules"] or {}), "ladder": bureau}
    if hospital is not None:
        hz1 = document["hospitals"][0]
        hz1["rules"] = {**(hz1["rules"] or {}), "ladder": hospital}
    return Region.model_validate(document)


def test_the_platform_default_is_the_issues_ladder() -> None:
    assert DEFAULT_LADDER.warning_percent == 80
    assert [(level, days) for level, days in DEFAULT_LADDER.overdue_steps] == [
        (LadderLevel.COMPLAINT_OFFICE, 2),
        (LadderLevel.LEADERSHIP, 5),
        (LadderLevel.BUREAU, 10),
    ]


def test_a_hospital_may_reach_every_level_sooner() -> None:
    region = region_with(
        None,
        {
            "warning_percent": 60,
            "complaint_office_after_working_days": 1,
            "leadership_after_working_days": 3,
            "bureau_after_working_days": 8,
            "urgent_bureau_after_hours": 12,
            "major_dispute_signals": ["抬棺"],
        },
    )
    rules = region.hospitals[0].rules
    assert rules is not None
    ladder = EffectiveRules.combine(region.bureau.rules, rules).ladder
    assert (ladder.warning_percent, ladder.leadership_after_working_days) == (60, 3)
    assert ladder.urgent_bureau_after_hours == 12
    assert ladder.is_major("家属在门口抬棺") and ladder.is_major("患者术后死亡")


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("warning_percent", 90),
        ("complaint_office_after_working_days", 3),
        ("leadership_after_working_days", 7),
        ("bureau_after_working_days", 15),
        ("urgent_bureau_after_hours", 48),
    ],
)
def test_a_hospital_loosening_a_step_is_refused_at_load_naming_the_rule(
    rule: str, value: int
) -> None:
    with pytest.raises(ValidationError, match=rf"hospitals\[hz-001\]\.rules\.ladder\.{rule}"):
        region_with(None, {rule: value})


def test_the_bureau_sets_the_default_a_hospital_must_keep() -> None:
    region = region_with({"leadership_after_working_days": 7}, {"leadership_after_working_days": 6})
    assert region.hospitals[0].rules is not None
    ladder = EffectiveRules.combine(region.bureau.rules, region.hospitals[0].rules).ladder
    assert ladder.leadership_after_working_days == 6
    with pytest.raises(ValidationError, match="later than the bureau's 3"):
        region_with(
            {"complaint_office_after_working_days": 3}, {"complaint_office_after_working_days": 4}
        )


def test_steps_out_of_order_are_refused() -> None:
    with pytest.raises(ValidationError, match="complaint_office_after_working_days <"):
        region_with(None, {"leadership_after_working_days": 2})
    with pytest.raises(LadderLoosened, match=r"bureau\.rules\.ladder"):
        EscalationLadder.combine(LadderRules(bureau_after_working_days=4), None)


def test_unknown_ladder_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="warn_at"):
        RoutingRules.model_validate({"ladder": {"warn_at": 50}})


@pytest.mark.parametrize(
    ("urgent", "major", "group", "levels"),
    [
        (False, False, False, []),
        (True, False, False, ["leadership"]),
        (False, True, False, ["bureau"]),
        (False, False, True, ["bureau"]),
        (True, True, True, ["leadership", "bureau"]),
    ],
)
def test_which_cases_enter_the_ladder_at_once(
    urgent: bool, major: bool, group: bool, levels: list[str]
) -> None:
    assert [s.level for s in at_once(urgent=urgent, major=major, group=group)] == levels


def who(level: LadderLevel, **changes: Any) -> list[str]:
    region = example_region()
    hospital = region.hospitals[0]
    for key, value in changes.items():
        setattr(hospital, key, value)
    people = recipients(
        level,
        hospital=hospital,
        department="finance",
        handler_id="hz-001-finance-2",
        supervisors=region.bureau.supervisors,
    )
    return [p.staff_id for p in people]


@pytest.mark.parametrize(
    ("level", "staff"),
    [
        (LadderLevel.WARNING, ["hz-001-finance-2"]),
        (LadderLevel.ACCEPTANCE_DUE, ["hz-001-finance-2", "hz-001-finance-1"]),
        (LadderLevel.REPLY_DUE, ["hz-001-finance-2", "hz-001-finance-1"]),
        (LadderLevel.COMPLAINT_OFFICE, ["hz-001-complaint_office-1", "hz-001-complaint_office-2"]),
        (LadderLevel.LEADERSHIP, ["hz-001-leadership-1"]),
        (LadderLevel.BUREAU, ["bureau-sup-1"]),
    ],
)
def test_each_level_reaches_its_people(level: LadderLevel, staff: list[str]) -> None:
    assert who(level) == staff


def test_a_level_nobody_holds_reaches_the_next_one_up() -> None:
    staff = example_region().hospitals[0].staff
    no_heads = [
        m for m in staff if m.department != "finance" or Role.DEPARTMENT_HEAD not in m.roles
    ]
    assert who(LadderLevel.REPLY_DUE, staff=no_heads) == [
        "hz-001-finance-2",
        "hz-001-complaint_office-1",
        "hz-001-complaint_office-2",
    ]
    no_leaders = [m for m in staff if Role.LEADERSHIP not in m.roles]
    assert who(LadderLevel.LEADERSHIP, staff=no_leaders) == ["bureau-sup-1"]
