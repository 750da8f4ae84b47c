"""Priority, co-handling departments, case types and their deadline targets, per-hospital
overrides and 回避 records, on realistic Chinese complaint texts (no servers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.case_rules import (
    DEFAULT_TARGETS,
    Conflict,
    EffectiveRules,
    RoutingRules,
    case_type_of,
    conflicted_staff,
    danger_signals_in,
    priority_of,
)
from services.routing.domain.categories import DEFAULT_DEPARTMENT, Category, KeywordClassifier
from services.routing.domain.deadline import DeadlineRule, count
from services.routing.domain.handler_choice import choose_handler
from services.routing.domain.region import Role, StaffMember
from services.routing.service import deadlines
from shared.contracts import CHINA, CaseType, Priority

DEFAULT = EffectiveRules.combine()
CLASSIFIER = KeywordClassifier()
CALENDAR = WorkingCalendar()

# --- danger signals: urgent ---------------------------------------------------------------

URGENT_TEXTS = [
    "我父亲术后大出血，值班医生半小时都没来。",
    "母亲输液后过敏性休克，护士还说没事。",
    "孩子高烧不退还抽搐，急诊让我们排队等。",
    "老人夜里坠床，头部着地，没有人发现。",
    "药房发错药，我父亲已经误服了两片。",
    "病人呼吸困难，护士站一直没人应答。",
    "家属说病人有轻生念头，病房窗户却没有防护。",
    "手术后伤口感染扩散，医生只让继续观察。",
    "产妇大出血抢救，家属被挡在外面没人说明情况。",
    "病人昏迷两小时才通知医生。",
]
NOT_URGENT_TEXTS = [
    "挂号排队等了两个小时，导诊台无人指引。",
    "出院结算时发现CT费重复收取。",
    "病房卫生间太脏，空调也不制冷。",
    "医生态度冷漠，问两句就不耐烦。",
    "停车场收费太贵。",
]


@pytest.mark.parametrize("text", URGENT_TEXTS)
def test_danger_to_a_patient_makes_a_case_urgent(text: str) -> None:
    danger = danger_signals_in(text, DEFAULT.danger_signals)
    assert danger, text
    assert priority_of(danger=danger, direct=False, group=False, channel="web") is Priority.URGENT


@pytest.mark.parametrize("text", NOT_URGENT_TEXTS)
def test_ordinary_complaints_are_not_urgent(text: str) -> None:
    assert danger_signals_in(text, DEFAULT.danger_signals) == []


def test_danger_signals_match_full_width_and_case_folded_text() -> None:
    assert danger_signals_in("ＩＣＵ里病人昏迷", ["icu"]) == ["icu"]


@pytest.mark.parametrize(
    ("direct", "group", "channel", "expected"),
    [
        (False, False, "web", Priority.NORMAL),
        (True, False, "web", Priority.HIGH),  # 越级: went to leadership first
        (False, True, "phone", Priority.HIGH),  # 群体投诉
        (False, False, "transferred", Priority.HIGH),  # 上级转办/12345
        (True, True, "transferred", Priority.HIGH),
    ],
)
def test_direct_group_and_transferred_complaints_go_first(
    direct: bool, group: bool, channel: str, expected: Priority
) -> None:
    assert priority_of(danger=[], direct=direct, group=group, channel=channel) is expected


def test_danger_outranks_everything() -> None:
    assert priority_of(danger=["昏迷"], direct=True, group=True, channel="transferred") is (
        Priority.URGENT
    )


# --- mixed categories: lead and co-handling departments -----------------------------------

MIXED = [
    ("护士扎针扎了五次，还重复收费，态度也很差。", {Category.NURSING, Category.FEES}),
    ("医保卡刷不了只能自费，药房还发错药。", {Category.MEDICAL_INSURANCE, Category.DRUGS}),
    ("手术后伤口感染，住院费清单也看不懂。", {Category.INFECTION_CONTROL, Category.FEES}),
    ("病房卫生间太脏，护工不给老人翻身。", {Category.LOGISTICS, Category.NURSING}),
    ("医生误诊延误治疗，还要红包。", {Category.MEDICAL_QUALITY, Category.CONDUCT}),
]


@pytest.mark.parametrize(("text", "categories"), MIXED)
def test_several_categories_give_a_lead_and_co_handling_departments(
    text: str, categories: set[Category]
) -> None:
    found = CLASSIFIER.classify(text)
    matched = {m.category for m in found.matches}
    assert categories <= matched, (text, matched)
    departments = [DEFAULT_DEPARTMENT[m.category] for m in found.matches]
    lead, co = departments[0], set(departments[1:]) - {departments[0]}
    assert co and lead not in co
    case_type = case_type_of(
        stated=None, channel="web", category=found.primary, co_departments=len(co), rules=DEFAULT
    )
    assert case_type is CaseType.MULTI_DEPARTMENT


# --- case types and their targets ---------------------------------------------------------


def test_case_type_order_of_precedence() -> None:
    def kind(**given: object) -> CaseType:
        arguments = {
            "stated": None,
            "channel": "web",
            "category": "nursing",
            "co_departments": 0,
            "rules": DEFAULT,
        } | given
        return case_type_of(**arguments)

    assert kind() is CaseType.INVESTIGATION
    assert kind(co_departments=2) is CaseType.MULTI_DEPARTMENT
    assert kind(channel="transferred", co_departments=2) is CaseType.TRANSFERRED
    assert kind(stated="complex", channel="transferred") is CaseType.COMPLEX  # office decides
    assert kind(stated="nonsense") is CaseType.INVESTIGATION
    fees_simple = EffectiveRules.combine(RoutingRules(category_case_types={"fees": "simple"}))
    assert kind(category="fees", rules=fees_simple) is CaseType.SIMPLE


@pytest.mark.parametrize(
    ("case_type", "acceptance_by", "reply_by"),
    [
        # docs/rules.md#deadlines D1: same day, 3, 5, 10, 15 working days for the reply;
        # #acceptance C1: the acceptance decision within 5 working days, 2 for a case from
        # the leadership's reception day, the same day for on-the-spot cases. Received on
        # Monday 2026-11-02 (a working day, office hours); the Monday counts as day 0.
        (CaseType.ON_SPOT, date(2026, 11, 2), date(2026, 11, 2)),
        (CaseType.SIMPLE, date(2026, 11, 9), date(2026, 11, 5)),
        (CaseType.INVESTIGATION, date(2026, 11, 9), date(2026, 11, 9)),
        (CaseType.MULTI_DEPARTMENT, date(2026, 11, 9), date(2026, 11, 16)),
        (CaseType.COMPLEX, date(2026, 11, 9), date(2026, 11, 23)),
        (CaseType.TRANSFERRED, date(2026, 11, 9), date(2026, 11, 23)),
        (CaseType.LEADERSHIP_RECEPTION, date(2026, 11, 4), date(2026, 11, 23)),
    ],
)
def test_each_case_type_is_due_as_the_domain_says(
    case_type: CaseType, acceptance_by: date, reply_by: date
) -> None:
    received = datetime(2026, 11, 2, 1, tzinfo=UTC)  # Monday 09:00 in China
    _, due = deadlines(received, case_type, DEFAULT, CALENDAR)
    assert due.acceptance_due_at is not None and due.due_at is not None
    assert due.acceptance_due_at.astimezone(CHINA).date() == acceptance_by
    assert due.due_at.astimezone(CHINA).date() == reply_by


def test_adverse_events_are_counted_in_hours() -> None:
    received = datetime(2026, 10, 1, 2, tzinfo=UTC)  # National Day: hours still run
    _, due = deadlines(received, CaseType.ADVERSE_EVENT, DEFAULT, CALENDAR)
    assert due.due_at == received + timedelta(hours=48)


def test_acceptance_and_reply_have_separate_targets() -> None:
    received = datetime(2026, 11, 2, 1, tzinfo=UTC)  # Monday 09:00 in China
    _, due = deadlines(received, CaseType.COMPLEX, DEFAULT, CALENDAR)
    assert due.acceptance_due_at is not None and due.due_at is not None
    assert due.acceptance_due_at.astimezone(UTC).date() == date(2026, 11, 9)
    assert due.due_at.astimezone(UTC).date() == date(2026, 11, 23)
    assert due.counting_day == date(2026, 11, 2)


def test_a_hospital_overrides_one_target_and_keeps_the_rest() -> None:
    own = RoutingRules(
        deadlines={"complex": {"acceptance_working_days": 3, "reply_working_days": 12}}
    )
    rules = EffectiveRules.combine(None, own)
    assert rules.targets[CaseType.COMPLEX].reply_working_days == 12
    assert rules.targets[CaseType.SIMPLE] == DEFAULT_TARGETS[CaseType.SIMPLE]


def test_layers_apply_bureau_then_hospital() -> None:
    bureau = RoutingRules(danger_signals=["误吸"], urgent_action_hours=12)
    hospital = RoutingRules(danger_signals=["新生儿黄疸加重"], urgent_action_hours=6)
    rules = EffectiveRules.combine(bureau, hospital)
    assert {"误吸", "新生儿黄疸加重", "昏迷"} <= set(rules.danger_signals)
    assert rules.urgent_action_hours == 6
    assert EffectiveRules.combine(bureau).urgent_action_hours == 12
    assert DEFAULT.urgent_action_hours == 24  # 24 hours (docs/rules.md#routing P5)


def test_rules_refuse_unknown_fields_and_case_types() -> None:
    with pytest.raises(ValidationError, match="extra"):
        RoutingRules.model_validate({"keyword": {}})
    with pytest.raises(ValidationError):
        RoutingRules.model_validate({"deadlines": {"urgentish": {"reply_working_days": 1}}})


# --- recusal (回避) -------------------------------------------------------------------------

STAFF = [
    StaffMember(
        id="f1", name="王", department="finance", roles=(Role.DEPARTMENT_HEAD, Role.HANDLER)
    ),
    StaffMember(id="f2", name="李", department="finance"),
    StaffMember(id="f3", name="张", department="finance"),
    StaffMember(id="f4", name="赵", department="finance", absent=True),
]


def test_a_conflict_record_needs_a_target() -> None:
    with pytest.raises(ValidationError, match="about_staff or about_department"):
        Conflict(staff_id="f1")


def test_conflicted_staff_for_a_person_or_a_department() -> None:
    conflicts = [
        Conflict(staff_id="f1", about_staff="f3", reason="亲属"),
        Conflict(staff_id="n9", about_department="nursing"),
    ]
    assert conflicted_staff(conflicts, about_staff="f3", department="finance") == {"f1"}
    assert conflicted_staff(conflicts, about_staff=None, department="nursing") == {"n9"}
    assert conflicted_staff(conflicts, about_staff="f2", department="finance") == set()


def test_neither_the_person_complained_about_nor_the_conflicted_handle_it() -> None:
    choice = choose_handler(
        STAFF, department="finance", open_cases={"f2": 9}, complained_about="f3", conflicted={"f1"}
    )
    assert choice.handler is not None and choice.handler.id == "f2"  # busy, but the only one
    assert set(choice.recused) == {"f1", "f3"}


def test_nobody_eligible_falls_back_to_the_head_and_records_it() -> None:
    choice = choose_handler(
        [STAFF[0], STAFF[3]], department="finance", open_cases={}, complained_about=None
    )
    assert choice.handler is not None and choice.handler.id == "f1"
    only_absent = choose_handler([STAFF[3]], department="finance", open_cases={})
    assert only_absent.handler is None and only_absent.fallback_to_head


# --- extension arithmetic -----------------------------------------------------------------

due_dates = st.dates(min_value=date(2005, 1, 1), max_value=date(2026, 10, 31))


def _due_after(due_at: datetime, working_days: int, calendar: WorkingCalendar) -> datetime:
    """An extension of a known deadline, as routing counts it (domain/deadline.py)."""
    after = due_at.astimezone(CHINA).date()
    rule = DeadlineRule(reason="延期", after=after, extra_working_days=working_days)
    moved = count(rule, calendar).due_at
    assert moved is not None
    return moved


@settings(max_examples=200, deadline=None)
@given(due_dates, st.integers(min_value=1, max_value=15), st.integers(min_value=1, max_value=15))
def test_two_extensions_equal_one_of_their_sum(day: date, n: int, m: int) -> None:
    start = datetime(day.year, day.month, day.day, 15, 59, 59, tzinfo=UTC)
    once = _due_after(_due_after(start, n, CALENDAR), m, CALENDAR)
    assert once == _due_after(start, n + m, CALENDAR)
    moved = once.astimezone(UTC) + timedelta(hours=8)
    assert CALENDAR.is_working_day(moved.date())  # always lands on a working day
    assert once > start


def test_a_hospital_rule_naming_an_unknown_department_is_refused() -> None:
    from services.routing.domain.region import Hospital

    with pytest.raises(ValidationError, match="unknown department pharmacy"):
        Hospital(
            id="h",
            name="某医院",
            departments=[{"code": "finance", "name": "财务科"}],
            rules=RoutingRules(departments={"drugs": "pharmacy"}),
        )


def test_the_bureau_reloads_the_calendar_in_place_and_a_bad_year_changes_nothing() -> None:
    from services.routing.domain.calendar import CalendarCorrection, CalendarNotCovered

    calendar = WorkingCalendar()
    last = calendar.covered_until().year
    with pytest.raises(CalendarNotCovered):
        calendar.add_working_days(date(last, 12, 31), 3)
    new_year = date(last + 1, 1, 1)
    calendar.reload([CalendarCorrection(year=last + 1, holidays=frozenset({new_year}))])
    assert calendar.covered_until() == date(last + 1, 12, 31)
    assert not calendar.is_working_day(new_year)
    with pytest.raises(ValueError, match="given twice"):
        calendar.reload([CalendarCorrection(year=last + 1), CalendarCorrection(year=last + 1)])
    assert calendar.covered_until() == date(last + 1, 12, 31)


def test_an_explicit_target_department_overrides_the_keywords() -> None:
    from services.routing.domain.region import Hospital
    from services.routing.service import HospitalRouting

    hospital = Hospital(
        id="h",
        name="某医院",
        departments=[
            {"code": "finance", "name": "财务科"},
            {"code": "nursing", "name": "护理部"},
            {"code": "complaint_office", "name": "投诉管理办公室"},
        ],
        rules=RoutingRules(departments={"drugs": "nursing"}),
    )
    routing = HospitalRouting(hospital, EffectiveRules.combine(hospital.rules), CLASSIFIER)
    assert routing.lead_department(Category.FEES, None) == "finance"
    assert routing.lead_department(Category.FEES, "nursing") == "nursing"  # the target wins
    assert routing.lead_department(Category.FEES, "no_such") == "finance"  # unknown: ignored
    assert routing.lead_department(Category.DRUGS, None) == "nursing"  # the hospital's map
    assert routing.lead_department(Category.SECURITY, None) == "complaint_office"  # fallback
    assert routing.department_label("nursing") == "护理部"
