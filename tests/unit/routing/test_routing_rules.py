"""The rules of the region file's `rules:` sections: validation with clear errors, and
how the bureau's default and a hospital's rules combine (keywords added or replaced,
departments, danger signals, deadline targets, 回避 records)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.routing.domain.case_rules import (
    DEFAULT_DANGER_SIGNALS,
    DEFAULT_TARGETS,
    EffectiveRules,
    RoutingRules,
    danger_signals_in,
    keyword_map,
    priority_of,
)
from services.routing.domain.categories import DEFAULT_KEYWORDS, Category, KeywordClassifier
from services.routing.domain.region import Bureau, Hospital, Region
from shared.contracts import CaseType, Priority
from tests.unit.routing.fakes import REGION_FILE, example_region


def hospital(**rules: Any) -> dict[str, Any]:
    return {
        "id": "h",
        "name": "某医院",
        "departments": [
            {"code": "finance", "name": "财务科"},
            {"code": "nursing", "name": "护理部"},
        ],
        "staff": [
            {"id": "f1", "name": "王", "department": "finance"},
            {"id": "f2", "name": "李", "department": "finance"},
        ],
        "rules": rules,
    }


# --- validation ---------------------------------------------------------------------------


def test_the_example_region_loads_with_bureau_and_hospital_rules() -> None:
    region = example_region()
    assert region.bureau.rules is not None and "误吸" in region.bureau.rules.danger_signals
    hz1 = region.hospitals[0]
    assert hz1.rules is not None and hz1.rules.category_case_types[Category.FEES] is CaseType.SIMPLE
    assert REGION_FILE.exists()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"keywords": {"fee": ["扣费"]}}, "keywords.fee"),
        ({"departments": {"drug": "finance"}}, "departments.drug"),
        ({"category_case_types": {"fees": "easy"}}, "category_case_types.fees"),
        ({"deadlines": {"urgentish": {"reply_working_days": 1}}}, "deadlines.urgentish"),
        ({"deadlines": {"simple": {"reply_days": 1}}}, "reply_days"),
        ({"deadlines": {"simple": {"reply_working_days": -1}}}, "reply_working_days"),
        ({"urgent_action_hours": 0}, "urgent_action_hours"),
        ({"keyword": {}}, "keyword"),
        ({"keywords": {"fees": ["  "]}}, "empty keyword"),
        ({"danger_signals": [""]}, "empty signal"),
        ({"keywords": {"fees": ["扣费"], "nursing": ["扣费"]}}, "both fees and nursing"),
        ({"replace_keywords": {"fees": ["扣费"]}, "keywords": {"drugs": ["扣费"]}}, "both"),
        ({"conflicts": [{"staff_id": "f1"}]}, "about_staff or about_department"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_place(rules: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RoutingRules.model_validate(rules)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"departments": {"drugs": "pharmacy"}}, "unknown department pharmacy"),
        ({"conflicts": [{"staff_id": "x9", "about_staff": "f1"}]}, "unknown staff x9"),
        ({"conflicts": [{"staff_id": "f1", "about_staff": "x9"}]}, "unknown staff x9"),
        (
            {"conflicts": [{"staff_id": "f1", "about_department": "icu"}]},
            "unknown department icu",
        ),
    ],
)
def test_a_hospital_rule_naming_what_it_lacks_is_refused(
    rules: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Hospital.model_validate(hospital(**rules))


def test_conflict_records_belong_to_a_hospital_not_the_bureau() -> None:
    with pytest.raises(ValidationError, match="belong to a hospital"):
        Bureau.model_validate(
            {
                "id": "b",
                "name": "卫健委",
                "rules": {"conflicts": [{"staff_id": "f1", "about_staff": "f2"}]},
            }
        )


def test_a_region_without_rules_still_loads() -> None:
    region = Region.model_validate(
        {
            "region": {"id": "r", "name": "某市"},
            "bureau": {"id": "b", "name": "卫健委"},
            "hospitals": [hospital() | {"rules": None}],
        }
    )
    assert region.bureau.rules is None and region.hospitals[0].rules is None
    assert EffectiveRules.combine(None, None).targets == DEFAULT_TARGETS


# --- keywords: added, replaced, moved -----------------------------------------------------


def test_no_layer_keeps_the_bureaus_keywords() -> None:
    assert keyword_map() == {c: list(w) for c, w in DEFAULT_KEYWORDS.items()}


def test_a_hospital_adds_keywords_to_a_category() -> None:
    words = keyword_map(RoutingRules(keywords={"fees": ["自助机扣费", "收费"]}))
    assert words[Category.FEES][:-1] == list(DEFAULT_KEYWORDS[Category.FEES])
    assert words[Category.FEES][-1] == "自助机扣费"  # 收费 was there already: not twice


def test_a_hospital_replaces_a_categorys_keywords() -> None:
    words = keyword_map(RoutingRules(replace_keywords={"equipment": ["呼吸机", "监护仪"]}))
    assert words[Category.EQUIPMENT] == ["呼吸机", "监护仪"]
    assert words[Category.FEES] == list(DEFAULT_KEYWORDS[Category.FEES])
    classifier = KeywordClassifier(words)
    assert classifier.classify("监护仪一直报警没人管").primary is Category.EQUIPMENT
    assert classifier.classify("仪器坏了").primary is Category.OTHER  # 仪器 was replaced


def test_a_word_given_to_another_category_moves_there() -> None:
    # 停车 is logistics by default; a hospital whose parking is run by security says so.
    rules = RoutingRules(keywords={"security": ["停车", "停车场"]})
    words = keyword_map(rules)
    assert "停车" in words[Category.SECURITY] and "停车" not in words[Category.LOGISTICS]
    classifier = KeywordClassifier(words)  # would refuse a word in two categories
    assert classifier.classify("停车场里车被剐蹭").matches[0].category is Category.SECURITY


def test_the_hospital_layer_applies_after_the_bureaus() -> None:
    bureau = RoutingRules(replace_keywords={"equipment": ["呼吸机"]}, keywords={"fees": ["扣费"]})
    own = RoutingRules(keywords={"equipment": ["监护仪"]}, replace_keywords={"fees": ["收费"]})
    words = keyword_map(bureau, own)
    assert words[Category.EQUIPMENT] == ["呼吸机", "监护仪"]
    assert words[Category.FEES] == ["收费"]
    assert EffectiveRules.combine(bureau, own).keywords == words


# --- other parts of the layers ------------------------------------------------------------


def test_danger_signals_add_to_the_built_in_list() -> None:
    rules = EffectiveRules.combine(RoutingRules(danger_signals=["误吸", "昏迷"]))
    assert rules.danger_signals[: len(DEFAULT_DANGER_SIGNALS)] == DEFAULT_DANGER_SIGNALS
    assert rules.danger_signals.count("昏迷") == 1 and "误吸" in rules.danger_signals


@pytest.mark.parametrize(
    "signal", ["大出血", "昏迷", "抢救", "呼吸困难", "自杀", "坠床", "用错药", "病危", "过敏性休克"]
)
def test_each_danger_the_rules_name_makes_a_case_urgent_by_default(signal: str) -> None:
    # docs/rules.md#routing P5: no hospital needs to add these.
    text = f"家属反映：病人{signal}，值班医生很久才来。"
    danger = danger_signals_in(text, EffectiveRules.combine().danger_signals)
    assert signal in danger
    assert priority_of(danger=danger, direct=False, group=False, channel="web") is Priority.URGENT


def test_department_map_and_category_case_types_combine_by_category() -> None:
    bureau = RoutingRules(
        departments={"equipment": "general_affairs"}, category_case_types={"fees": "simple"}
    )
    own = RoutingRules(departments={"drugs": "nursing"}, category_case_types={"fees": "on_spot"})
    rules = EffectiveRules.combine(bureau, own)
    assert rules.departments == {"equipment": "general_affairs", "drugs": "nursing"}
    assert rules.category_case_types == {"fees": CaseType.ON_SPOT}


def test_deadline_targets_replace_per_case_type() -> None:
    bureau = RoutingRules(deadlines={"multi_department": {"reply_working_days": 7}})
    own = RoutingRules(deadlines={"adverse_event": {"reply_hours": 24}})
    rules = EffectiveRules.combine(bureau, own)
    assert rules.targets[CaseType.MULTI_DEPARTMENT].reply_working_days == 7  # some texts: 7
    assert rules.targets[CaseType.ADVERSE_EVENT].reply_hours == 24
    assert rules.targets[CaseType.COMPLEX] == DEFAULT_TARGETS[CaseType.COMPLEX]


def test_the_deployments_investigation_days_sit_under_every_layer() -> None:
    assert (
        EffectiveRules.combine(investigation_days=7)
        .targets[CaseType.INVESTIGATION]
        .reply_working_days
        == 7
    )
    own = RoutingRules(deadlines={"investigation": {"reply_working_days": 4}})
    rules = EffectiveRules.combine(None, own, investigation_days=7)
    assert rules.targets[CaseType.INVESTIGATION].reply_working_days == 4


def test_urgent_action_hours_and_conflicts() -> None:
    own = RoutingRules(
        urgent_action_hours=6,
        conflicts=[{"staff_id": "f1", "about_department": "nursing"}],
    )
    rules = EffectiveRules.combine(RoutingRules(urgent_action_hours=12), own)
    assert rules.urgent_action_hours == 6
    assert [c.staff_id for c in rules.conflicts] == ["f1"]
