"""Words every service uses the same way, defined once: the codes the API, storage and
events carry (stable English) and the Chinese labels people read.

- `CHINA`: the zone of working days, deadlines and every date shown to people (storage
  is UTC). Asia/Shanghai has had no daylight saving time since 1991.
- `CaseType`: the deadline class of a complaint (docs/rules.md#deadlines D1). The office
  may state it at registration (intake); routing decides it otherwise and owns its
  working days.
- `Priority`: routing's judgement of how soon a case must be acted on
  (docs/rules.md#routing P5, P6); the handler reads its label.
"""

from __future__ import annotations

from enum import StrEnum
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


class CaseType(StrEnum):
    ON_SPOT = "on_spot"
    SIMPLE = "simple"
    INVESTIGATION = "investigation"
    MULTI_DEPARTMENT = "multi_department"
    COMPLEX = "complex"
    TRANSFERRED = "transferred"
    LEADERSHIP_RECEPTION = "leadership_reception"
    ADVERSE_EVENT = "adverse_event"


CASE_TYPE_LABELS: dict[CaseType, str] = {
    CaseType.ON_SPOT: "当场处理/价格差错",
    CaseType.SIMPLE: "简单书面投诉",
    CaseType.INVESTIGATION: "需调查核实",
    CaseType.MULTI_DEPARTMENT: "涉及多个科室",
    CaseType.COMPLEX: "疑难复杂",
    CaseType.TRANSFERRED: "上级转办/信访",
    CaseType.LEADERSHIP_RECEPTION: "院领导接待日",
    CaseType.ADVERSE_EVENT: "院内不良事件",
}


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"


PRIORITY_LABELS: dict[Priority, str] = {
    Priority.URGENT: "紧急",
    Priority.HIGH: "优先",
    Priority.NORMAL: "一般",
}
