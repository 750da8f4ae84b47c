"""Routing decisions on realistic Chinese complaint texts against the example region
(deploy/region.example.yaml): mixed categories give a lead and co-handling departments,
danger to a patient makes a case urgent, and one hospital's rules change the outcome
where another hospital keeps the bureau's default."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.routing.domain.calendar import WorkingCalendar
from services.routing.service import HospitalRouting, HospitalRulebook, first_decision
from shared.contracts import ComplaintRouted
from tests.support import events as sample
from tests.unit.routing.fakes import FakeRegion

CALENDAR = WorkingCalendar()
MONDAY_9AM = sample.RECEIVED_AT  # 09:00 in China, a working day: the samples' receipt
RULEBOOK = HospitalRulebook(FakeRegion())


def routing_of(hospital_id: str) -> HospitalRouting:
    return asyncio.run(RULEBOOK.of(hospital_id))


def decide(
    text: str,
    hospital_id: str = "hz-002",
    *,
    open_cases: dict[str, int] | None = None,
    **extra: Any,
) -> ComplaintRouted:
    routing = routing_of(hospital_id)
    received = sample.received(content=text, **extra)  # received Monday 09:00 unless given
    departments = routing.departments(text, received.target_department)
    return first_decision(
        received, routing, CALENDAR, departments=departments, open_cases=open_cases or {}
    ).routed


# --- mixed categories: one lead (牵头), co-handlers (配合) ---------------------------------

MIXED = [
    (
        "父亲做完手术后伤口感染，住院费清单里还多了一项床位费。",
        "infection_control",
        {"finance", "medical_affairs"},
    ),
    ("护士给母亲输液扎了四次，护士长还态度恶劣地骂人。", "discipline", {"nursing"}),
    ("挂号排队两小时，导诊台的工作人员态度恶劣。", "discipline", {"outpatient_office"}),
    ("病房厕所漏水好几天，护士巡视也不来。", "nursing", {"general_affairs"}),
    ("CT设备故障导致检查延误，误诊成肺炎。", "equipment", {"medical_affairs"}),
    ("停车场有小偷，车窗被砸，保安不管。", "general_affairs", {"security"}),
    ("医生收红包，还把我母亲的手术安排往后拖。", "discipline", {"medical_affairs"}),
    ("异地就医报销被拒，缴费窗口说不清楚收费标准。", "finance", {"insurance_office"}),
    ("孩子在病房被隔离，消毒不到位，护工也不翻身。", "nursing", {"infection_control"}),
    ("缴费时收费员态度很差。", "finance", {"discipline"}),
]


@pytest.mark.parametrize(("text", "lead", "co"), MIXED)
def test_mixed_complaints_have_a_lead_and_co_handling_departments(
    text: str, lead: str, co: set[str]
) -> None:
    routed = decide(text)
    assert routed.department == lead
    assert {d.code for d in routed.co_departments} == co
    assert all(d.label for d in routed.co_departments)  # 护理部, 财务科, ... for people
    assert routed.case_type == "multi_department"  # 10 working days (docs/rules.md#deadlines D1)
    assert routed.working_days == 10
    assert routed.priority == "normal"
    assert routed.matched_keywords  # the explanation


def test_a_text_that_names_nothing_goes_to_the_complaint_office() -> None:
    routed = decide("我想表扬一下王医生，服务很周到。")
    assert (routed.category, routed.department) == ("other", "complaint_office")
    assert routed.department_label == "投诉管理办公室"  # the hospital's own name for it
    assert routed.matched_keywords == [] and routed.co_departments == []


def test_a_co_handling_department_is_never_the_lead_and_never_twice() -> None:
    # 护士 (nursing) and 护理 (nursing) and 床位费/多收 (fees): nursing once, not the lead.
    routed = decide("护士护理不到位，床位费还多收了。")
    codes = [d.code for d in routed.co_departments]
    assert len(codes) == len(set(codes))
    assert routed.department not in codes


def test_an_explicit_target_department_leads_and_the_keywords_co_handle() -> None:
    routed = decide("医生态度冷漠，还重复收费。", target_department="pharmacy")
    assert routed.department == "pharmacy"
    assert {d.code for d in routed.co_departments} == {"discipline", "finance"}


# --- danger signals: urgent, act within hours ---------------------------------------------

URGENT = [
    ("术后大出血，值班医生半小时没来。", "大出血"),
    ("老人夜里坠床头部受伤，护士说不归她管。", "坠床"),
    ("药房发错药，父亲误服后呼吸困难被送去抢救。", "呼吸困难"),
    ("产妇羊水栓塞病危，家属要求说明抢救经过。", "病危"),
    ("病人有轻生念头，病房窗户没有防护栏。", "轻生"),
    ("孩子输液后过敏性休克，护士还说没事。", "过敏性休克"),
    ("老年痴呆的父亲在住院期间走失，保卫科说不归他们管。", "走失"),
    ("护士给我母亲用错药，现在昏迷不醒。", "用错药"),
    ("母亲吃饭时误吸，护工没有及时处理。", "误吸"),  # the bureau's own signal
]


@pytest.mark.parametrize(("text", "signal"), URGENT)
def test_danger_to_a_patient_is_urgent_with_an_action_deadline(text: str, signal: str) -> None:
    routed = decide(text)
    assert routed.priority == "urgent"
    assert signal in routed.matched_keywords
    assert routed.action_due_at == MONDAY_9AM + timedelta(hours=24)  # docs/rules.md#routing P5
    assert routed.action_due_at < routed.due_at
    assert len(routed.matched_keywords) == len(set(routed.matched_keywords))


def test_an_urgent_mixed_case_is_urgent_and_multi_department() -> None:
    routed = decide("药房发错药，父亲误服后呼吸困难被送去抢救。")
    assert routed.department == "pharmacy"
    assert {d.code for d in routed.co_departments} == {"medical_affairs"}
    assert (routed.priority, routed.case_type) == ("urgent", "multi_department")


@pytest.mark.parametrize(
    ("extra", "priority"),
    [
        ({"direct": True}, "high"),
        ({"group": True}, "high"),
        ({"channel": "transferred"}, "high"),
        ({}, "normal"),
    ],
)
def test_direct_group_and_transferred_go_first(extra: dict[str, Any], priority: str) -> None:
    routed = decide("挂号排队等了两个小时。", **extra)
    assert routed.priority == priority
    assert routed.action_due_at is None


def test_a_transferred_complaint_gets_fifteen_working_days() -> None:
    routed = decide("挂号排队等了两个小时。", channel="transferred")
    assert (routed.case_type, routed.working_days) == ("transferred", 15)
    assert routed.due_at.astimezone(UTC).date() == date(2026, 11, 23)


def test_the_offices_case_type_wins() -> None:
    routed = decide("挂号排队等了两个小时。", case_type="on_spot")
    assert (routed.case_type, routed.working_days) == ("on_spot", 0)
    assert routed.due_at.astimezone(UTC).date() == date(2026, 11, 2)
    assert routed.acceptance_due_at == routed.due_at


# --- one hospital's rules over the bureau's default ---------------------------------------


def test_a_hospitals_own_danger_signal_is_urgent_there_only() -> None:
    text = "新生儿黄疸加重，医生一直说再观察。"
    own, other = decide(text, "hz-001"), decide(text, "hz-002")
    assert own.priority == "urgent"
    assert own.action_due_at == MONDAY_9AM + timedelta(hours=12)  # hz-001: within 12 hours
    assert other.priority == "normal" and other.action_due_at is None


def test_a_hospitals_own_keyword_routes_to_its_category() -> None:
    text = "自助机扣费两次没有退回。"
    assert decide(text, "hz-001").department == "finance"  # hz-001 added 自助机扣费 to fees
    assert decide(text, "hz-002").department == "outpatient_office"  # 自助机: the default


def test_a_hospitals_category_case_type_sets_the_reply_target() -> None:
    text = "出院结算时发现重复收费。"
    own, other = decide(text, "hz-001"), decide(text, "hz-002")
    assert (own.case_type, own.working_days) == ("simple", 3)  # hz-001: fees are simple
    assert (other.case_type, other.working_days) == ("investigation", 5)
    assert own.due_at.astimezone(UTC).date() == date(2026, 11, 5)


def test_a_hospitals_conflict_record_recuses_a_relative() -> None:
    routed = decide("收费员吴晓东多收了我的检查费。", "hz-001", target_staff_id="hz-001-finance-3")
    assert routed.department == "finance"
    assert set(routed.recused) == {"hz-001-finance-1", "hz-001-finance-3"}
    assert routed.handler is not None and routed.handler.staff_id == "hz-001-finance-2"
    # hz-002 has no such record: only the person complained about steps aside.
    there = decide("收费员多收了我的检查费。", "hz-002", target_staff_id="hz-002-finance-3")
    assert there.recused == ["hz-002-finance-3"]


def test_the_least_loaded_handler_gets_the_case() -> None:
    routed = decide(
        "收费员多收了我的检查费。",
        open_cases={"hz-002-finance-1": 4, "hz-002-finance-2": 1, "hz-002-finance-3": 2},
    )
    assert routed.handler is not None and routed.handler.staff_id == "hz-002-finance-2"


def test_a_night_receipt_counts_from_the_next_working_day() -> None:
    friday_night = datetime(2026, 11, 6, 13, tzinfo=UTC)  # 21:00 Friday in China
    routed = decide("挂号排队等了两个小时。", received_at=friday_night)
    assert routed.counting_day == date(2026, 11, 9)  # Monday
    assert routed.due_at.astimezone(UTC).date() == date(2026, 11, 16)
