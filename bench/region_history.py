"""A region's history for benchmarks: hospitals, and every complaint of some years with its
events, deterministic from a seed (issues 12 and 13).

What it makes, and why this way:
- Hospitals: the region file's (deploy/region.example.yaml: their ids, names and
  departments), then generated ones up to `hospitals` (`hz-004`…), of very different sizes
  (a city hospital takes twenty times the complaints of a district one), each with 10–30
  departments: always the complaint office, medical affairs, nursing and finance, some of
  the other functional departments of the region file, the rest clinical. A category's
  lead department is routing's default (services/routing/domain/categories.py) where the
  hospital has it, else the complaint office; medical-quality complaints go to a clinical
  department half the time (the department complained about).
- Complaints: about `total` over the months, spread by hospital size, the season (fewer
  at the Spring Festival, more in summer), growth over the years and noise; received in
  office hours (China time). Each has a history of contract events (`Step`: the event type,
  its payload as the producer publishes it, when it occurred, its event id) in time order:
  received and routed; then ~8% not accepted (with a reason), ~1.5% transferred, ~4%
  resolved on the spot, the rest accepted (some after a supplement) and assigned; some
  extended; replied on time or late (late ones flagged overdue and escalated as working
  days pass); closed after a return visit with a finding and the complainant's
  satisfaction; some disputed once or twice (re-reviewed, the second time flagged and
  escalated to leadership). What has not happened by `now` (the start of the month after
  the last one) has not happened: recent complaints are still open, some overdue.
- Deadlines are calendar-day approximations of the working-day ones (5, 15 or 30 working
  days ≈ 7, 21 or 42 days, end of day China time): the counters only compare a reply with
  its deadline, and the official calendar (chinese-calendar) ends in 2026.

Complainants: most complain once; one complaint in twenty comes from one of a few
people per hospital who complain again and again; 5% are anonymous. A quarter of the
complaints name the staff member complained about, a few of them often.

`facts_of(history)` is the fact document reporting holds once every event is applied:
each event validated as its contract and folded through reporting's own `change_for` and
`fact_update` (services/reporting/domain/facts.py, adapters/complaint_facts.py), so the
facts follow reporting's code as it changes; tests/unit/bench/test_region_history.py
checks the fold against the one reporting's tests use. `complaint_document(history)` is
intake's record of the same complaint: reporting's rebuild reads it (tests/unit/reporting/
test_intake_records.py checks that it counts like the facts).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from deploy.demo import REGION_FILE
from services.intake.change import Entry, chained
from services.intake.domain.authority import ACKNOWLEDGERS
from services.intake.escalations import level_label
from services.reporting.domain.classification import NOT_ACCEPTED_REASONS
from services.reporting.domain.facts import (
    apply_fact_update,
    change_for,
    fact_update,
    new_facts,
    version_of,
)
from services.routing.admin import read_region
from services.routing.domain.categories import DEFAULT_DEPARTMENT, DEPARTMENT_LABELS, Category
from shared.contracts import CHINA, EVENT_TYPES, ComplaintReceived
from shared.matching import DEV_MATCH_KEY, complainant_key

FUNCTIONAL = tuple(DEPARTMENT_LABELS)
ALWAYS = ("complaint_office", "medical_affairs", "nursing", "finance")
CLINICAL: dict[str, str] = {
    "internal_medicine": "内科",
    "surgery": "外科",
    "pediatrics": "儿科",
    "obstetrics": "妇产科",
    "emergency": "急诊科",
    "orthopedics": "骨科",
    "ophthalmology": "眼科",
    "stomatology": "口腔科",
    "dermatology": "皮肤科",
    "cardiology": "心血管内科",
    "neurology": "神经内科",
    "respiratory": "呼吸内科",
    "gastroenterology": "消化内科",
    "oncology": "肿瘤科",
    "rehabilitation": "康复医学科",
    "tcm": "中医科",
    "laboratory": "检验科",
    "radiology": "放射科",
    "anesthesiology": "麻醉科",
    "icu": "重症医学科",
}
# Share of complaints per category (a regional bureau's usual mix).
CATEGORY_SHARES: dict[Category, float] = {
    Category.MEDICAL_QUALITY: 0.22,
    Category.CONDUCT: 0.18,
    Category.FEES: 0.12,
    Category.NURSING: 0.10,
    Category.OUTPATIENT: 0.09,
    Category.MEDICAL_INSURANCE: 0.06,
    Category.LOGISTICS: 0.06,
    Category.DRUGS: 0.05,
    Category.OTHER: 0.05,
    Category.EQUIPMENT: 0.03,
    Category.INFECTION_CONTROL: 0.02,
    Category.SECURITY: 0.02,
}
# Complaints per month of the year, relative: the Spring Festival's dip, summer's peak.
SEASON = (1.0, 0.7, 1.0, 1.0, 1.05, 1.1, 1.2, 1.2, 1.05, 0.95, 1.0, 0.95)
GROWTH_PER_YEAR = 0.06
# Intake's channel codes (services/intake/domain/complaint.py `Channel`).
CHANNELS = (
    ("web", 0.3),
    ("phone", 0.3),
    ("in_person", 0.2),
    ("sms_wechat", 0.1),
    ("transferred", 0.05),
    ("letter", 0.05),
)
REASON_SHARES = {
    "outside_remit": 0.35,
    "no_clear_target_or_facts": 0.25,
    "handled_by_authority_or_petition": 0.2,
    "in_court_or_mediation": 0.15,
    "police_or_criminal": 0.05,
}
FINDINGS = (("substantiated", 0.3), ("partly_substantiated", 0.35), ("unsubstantiated", 0.35))
SATISFACTION = (("satisfied", 0.62), ("basically_satisfied", 0.26), ("dissatisfied", 0.12))
CASE_TYPES = (("simple", 0.45), ("investigation", 0.45), ("complex", 0.10))
# Case type → reply deadline: working days, and calendar days near them.
DEADLINES = {"simple": (5, 7), "investigation": (15, 21), "complex": (30, 42)}
# Working days past the deadline at which each escalation comes (≈ calendar days).
ESCALATION_DAYS = (("complaint_office", 3), ("leadership", 7), ("bureau", 14))
# Whether complaint.received carries the complainant's match key (shared/matching.py).
COMPLAINANT_KEYS = "complainant_key" in ComplaintReceived.model_fields


@dataclass(frozen=True)
class HospitalProfile:
    id: str
    name: str
    departments: dict[str, str]  # code → name
    leads: dict[str, str]  # category → lead department code
    clinical: tuple[str, ...]  # its clinical departments
    weight: float  # its share of the region's complaints, relative


@dataclass(frozen=True)
class Step:
    """One event as its producer publishes it (shared/contracts): `payload` validates as
    `EVENT_TYPES[type]`."""

    type: str
    at: datetime
    event_id: str
    payload: dict[str, Any]


@dataclass
class ComplaintHistory:
    complaint_id: str
    hospital_id: str
    case_number: str
    tracking_code: str
    received_at: datetime
    complainant: dict[str, str] | None  # name and phone; None: anonymous
    steps: list[Step] = field(default_factory=list)


@dataclass(frozen=True)
class HistoryShape:
    hospitals: int = 200
    months: int = 36
    total: int = 1_000_000
    seed: int = 12
    last_month: str | None = None  # YYYY-MM; None: the last full month (China time)

    def month_list(self) -> list[date]:
        """The first day of each month of the history, oldest first."""
        if self.last_month:
            year, month = (int(part) for part in self.last_month.split("-"))
        else:
            today = datetime.now(CHINA).date()
            year, month = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
        index = year * 12 + month - 1
        return [date(k // 12, k % 12 + 1, 1) for k in range(index - self.months + 1, index + 1)]

    def now(self) -> datetime:
        """When the history is looked at: the first moment of the month after the last."""
        last = self.month_list()[-1]
        following = date(last.year + last.month // 12, last.month % 12 + 1, 1)
        return datetime(following.year, following.month, 1, tzinfo=CHINA).astimezone(UTC)


def hospitals(count: int, rng: random.Random) -> list[HospitalProfile]:
    """The region file's hospitals, then generated ones up to `count`."""
    made: list[HospitalProfile] = []
    for known in read_region(REGION_FILE).hospitals[:count]:
        departments = {d.code: d.name for d in known.departments}
        made.append(_profile(known.id, known.name, departments, weight=3.0))
    kinds = (
        "人民医院",
        "中医院",
        "妇幼保健院",
        "第二人民医院",
        "中西医结合医院",
        "社区卫生服务中心",
    )
    districts = ("上城", "拱墅", "西湖", "滨江", "萧山", "余杭", "临平", "钱塘", "富阳", "临安")
    for n in range(len(made) + 1, count + 1):
        size = rng.randint(10, 30)
        functional = list(ALWAYS) + [
            code for code in FUNCTIONAL if code not in ALWAYS and rng.random() < 0.6
        ]
        functional = functional[: max(len(ALWAYS), size - 3)]
        clinical = rng.sample(sorted(CLINICAL), k=min(len(CLINICAL), size - len(functional)))
        departments = {code: DEPARTMENT_LABELS[code] for code in functional} | {
            code: CLINICAL[code] for code in clinical
        }
        name = f"杭州市{districts[n % len(districts)]}区{kinds[n % len(kinds)]}（{n}）"
        # Sizes spread over ~20×: lognormal, larger hospitals with more departments.
        weight = math.exp(rng.gauss(0, 0.7)) * (0.5 + len(departments) / 20)
        made.append(_profile(f"hz-{n:03d}", name, departments, weight=weight))
    return made


def _profile(
    hospital_id: str, name: str, departments: dict[str, str], *, weight: float
) -> HospitalProfile:
    leads = {
        category.value: (
            DEFAULT_DEPARTMENT[category]
            if DEFAULT_DEPARTMENT[category] in departments
            else "complaint_office"
        )
        for category in Category
    }
    clinical = tuple(code for code in departments if code not in DEPARTMENT_LABELS)
    return HospitalProfile(hospital_id, name, departments, leads, clinical, weight)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    roll, total = rng.random(), 0.0
    for value, share in weighted:
        total += share
        if roll < total:
            return value
    return weighted[-1][0]


def _end_of_day(moment: datetime, days: int) -> datetime:
    """The end of the day `days` calendar days after `moment`, China time, in UTC."""
    day = moment.astimezone(CHINA).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=CHINA).astimezone(UTC)


class _Case:
    """Builds one complaint's steps in time order; nothing after `now` happens."""

    def __init__(
        self, history: ComplaintHistory, *, now: datetime, event_base: int, person: dict[str, Any]
    ) -> None:
        self.history, self.now, self.event_base, self.person = history, now, event_base, person
        self.ref = {"case_number": history.case_number, "tracking_code": history.tracking_code}

    def add(self, type_: str, at: datetime, payload: dict[str, Any]) -> bool:
        if at > self.now:
            return False
        steps = self.history.steps
        if steps and at <= steps[-1].at:  # strictly later: latest-wins groups need it
            at = steps[-1].at + timedelta(seconds=1)
        event_id = str(UUID(int=self.event_base + len(steps)))
        steps.append(Step(type_, at, event_id, payload))
        return True

    def lifecycle(self, type_: str, at: datetime, **payload: Any) -> bool:
        return self.add(type_, at, self.ref | {"at": at, "by": self.person["staff_id"]} | payload)


def histories(shape: HistoryShape) -> Iterator[ComplaintHistory]:
    """Every complaint of the region's history, month by month (then hospital by
    hospital), each with its events; the same `shape` gives the same histories."""
    rng = random.Random(shape.seed)
    profiles = hospitals(shape.hospitals, rng)
    months = shape.month_list()
    now = shape.now()
    weights = [
        SEASON[m.month - 1] * (1 + GROWTH_PER_YEAR) ** (k / 12) for k, m in enumerate(months)
    ]
    scale = shape.total / (sum(p.weight for p in profiles) * sum(weights))
    categories = tuple((c.value, share) for c, share in CATEGORY_SHARES.items())
    id_base = rng.getrandbits(128) & ~((1 << 64) - 1)
    n = 0
    for month, month_weight in zip(months, weights, strict=True):
        days = (date(month.year + month.month // 12, month.month % 12 + 1, 1) - month).days
        for profile in profiles:
            expected = profile.weight * month_weight * scale
            count = max(0, round(rng.gauss(expected, math.sqrt(expected) + expected * 0.05)))
            for seq in range(1, count + 1):
                n += 1
                yield _complaint(
                    rng,
                    profile,
                    n=n,
                    seq=seq,
                    month=month,
                    days=days,
                    now=now,
                    categories=categories,
                    id_base=id_base,
                )


def _complaint(
    rng: random.Random,
    profile: HospitalProfile,
    *,
    n: int,
    seq: int,
    month: date,
    days: int,
    now: datetime,
    categories: tuple[tuple[str, float], ...],
    id_base: int,
) -> ComplaintHistory:
    day = rng.randrange(days)
    hour = min(21, max(0, int(rng.gauss(11.5, 2.8))))
    local = datetime(month.year, month.month, day + 1, hour, tzinfo=CHINA) + timedelta(
        seconds=rng.randrange(3600)
    )
    received_at = local.astimezone(UTC)
    anonymous = rng.random() < 0.05
    if anonymous:
        complainant = None
    elif rng.random() < 0.05:  # one of the hospital's repeat complainants
        complainant = {"name": "王某", "phone": f"138{profile.id[-3:]}{rng.randrange(12):05d}"}
    else:
        complainant = {"name": "李某", "phone": f"139{n:08d}"}
    history = ComplaintHistory(
        complaint_id=str(UUID(int=id_base + (n << 8))),
        hospital_id=profile.id,
        case_number=f"HZ-{profile.id[-3:]}-{month:%Y%m}-{seq:05d}",
        tracking_code=f"{n:012d}",
        received_at=received_at,
        complainant=complainant,
    )
    category = _pick(rng, categories)
    department = profile.leads[category]
    if category == Category.MEDICAL_QUALITY and profile.clinical and rng.random() < 0.5:
        department = rng.choice(profile.clinical)
    office = {"staff_id": f"{profile.id}-complaint_office-1", "name": "投诉办"}
    handler = {"staff_id": f"{profile.id}-{department}-1", "name": "经办人"}
    case = _Case(history, now=now, event_base=id_base + (n << 8), person=office)
    case_type = _pick(rng, CASE_TYPES)
    working_days, deadline_days = DEADLINES[case_type]
    priority = "urgent" if rng.random() < 0.03 else "high" if rng.random() < 0.1 else "normal"
    due = _end_of_day(received_at, deadline_days)
    work = {
        "category": category,
        "category_label": Category(category).label,
        "department": department,
        "department_label": profile.departments[department],
        "handler": handler,
        "priority": priority,
        "revision": 1,
        "due_at": due,
    }
    received: dict[str, Any] = {
        "case_number": history.case_number,
        "channel": _pick(rng, CHANNELS),
        "kind": "complaint",
        "anonymous": anonymous,
        "received_at": received_at,
        "content": "（基准测试）投诉内容",
        "group": rng.random() < 0.01,
    }
    if rng.random() < 0.25:  # names whom it is about; a few of them often
        staff = 1 + int(rng.paretovariate(1.2)) % 12
        received["target_staff_id"] = f"{profile.id}-{department}-{staff}"
    if COMPLAINANT_KEYS and complainant is not None:
        received["complainant_key"] = complainant_key(DEV_MATCH_KEY, complainant)
    case.add("complaint.received", received_at, received)
    routed_at = received_at + timedelta(seconds=rng.randint(1, 30))
    case.add(
        "complaint.routed",
        routed_at,
        work
        | {
            "case_type": case_type,
            "working_days": working_days,
            "counting_day": received_at.astimezone(CHINA).date(),
        },
    )
    roll = rng.random()
    if roll < 0.08:
        reason = _pick(rng, tuple(REASON_SHARES.items()))
        case.lifecycle(
            "complaint.not_accepted",
            received_at + timedelta(hours=rng.uniform(2, 72)),
            reason=reason,
            reason_label=NOT_ACCEPTED_REASONS[reason],
            explanation="不予受理的理由",
        )
        return history
    if roll < 0.095:
        case.lifecycle(
            "complaint.transferred",
            received_at + timedelta(hours=rng.uniform(2, 48)),
            to_body="杭州市医疗保障局",
        )
        return history
    if roll < 0.135:
        case.lifecycle(
            "complaint.resolved_on_spot",
            received_at + timedelta(minutes=rng.uniform(5, 60)),
            outcome="当场解释，投诉人满意",
        )
        return history
    accepted_at = received_at + timedelta(hours=rng.uniform(0.5, 30))
    if rng.random() < 0.04:
        if not case.lifecycle("complaint.supplement_requested", accepted_at, missing="就诊记录"):
            return history
        waited = timedelta(days=rng.uniform(1, 12))
        if rng.random() < 0.1 or not case.lifecycle("complaint.supplemented", accepted_at + waited):
            return history  # the complainant never sent it (yet): awaiting a supplement
        accepted_at += waited
        due = _end_of_day(accepted_at, deadline_days)  # the clock restarts on supplement
        work["due_at"] = due
    elif not case.lifecycle("complaint.accepted", accepted_at):
        return history
    assigned = work | {
        **case.ref,
        "received_at": received_at,
        "complainant_email": None,
    }
    if not case.add("complaint.assigned", accepted_at + timedelta(seconds=5), assigned):
        return history
    if rng.random() < 0.06:  # extended a few days before the deadline
        extended_at = due - timedelta(days=rng.uniform(1, 3))
        longer = _end_of_day(due, 14)
        reason = "需调取病历、组织专家会诊"
        if case.add(
            "complaint.deadline_changed",
            extended_at,
            {"due_at": longer, "previous_due_at": due, "working_days": 10, "reason": reason},
        ):
            case.lifecycle("complaint.extended", extended_at, due_at=longer, reason=reason)
            due = longer
    handled = due - accepted_at
    if rng.random() < 0.07:  # late: 1 to 20 days past the deadline
        replied_at = due + timedelta(days=rng.uniform(0.2, 20))
    else:
        replied_at = accepted_at + handled * min(0.98, rng.betavariate(2, 3))
    _overdue(case, due=due, until=replied_at, department=department, round_=0)
    if not _reply(case, replied_at, round_=0):
        return history
    closed_at = replied_at + timedelta(days=rng.uniform(1, 7))
    satisfaction = _pick(rng, SATISFACTION)
    closure = {"category": category, "department": department}
    if not case.lifecycle(
        "complaint.closed",
        closed_at,
        satisfaction=satisfaction,
        finding=_pick(rng, FINDINGS),
        round=0,
        **closure,
    ):
        return history
    disputes = 0.12 if satisfaction == "dissatisfied" else 0.015
    at = closed_at
    for count in (1, 2):
        if rng.random() >= (disputes if count == 1 else 0.2):
            break
        at += timedelta(days=rng.uniform(1, 10))
        flagged = count >= 2
        if not case.lifecycle(
            "complaint.reopened",
            at,
            reason="对处理结果不满意",
            reopen_count=count,
            flagged=flagged,
            department=department,
        ):
            break
        case.add(
            "complaint.deadline_changed",
            at + timedelta(seconds=1),
            {"due_at": _end_of_day(at, 21), "working_days": 15, "reason": "重新核实"},
        )
        if flagged:
            case.add(
                "complaint.escalated",
                at + timedelta(seconds=2),
                {
                    "case_number": history.case_number,
                    "level": "leadership",
                    "reason": f"投诉第{count}次被申请复核",
                    "round": count,
                },
            )
        replied_at = at + timedelta(days=rng.uniform(2, 18))
        if not _reply(case, replied_at, round_=count):
            break
        at = replied_at + timedelta(days=rng.uniform(1, 5))
        if not case.lifecycle(
            "complaint.closed",
            at,
            satisfaction=_pick(rng, SATISFACTION),
            finding=_pick(rng, FINDINGS),
            round=count,
            **closure,
        ):
            break
    return history


def _reply(case: _Case, replied_at: datetime, *, round_: int) -> bool:
    received_at = case.history.received_at
    return case.add(
        "complaint.replied",
        replied_at,
        {
            **case.ref,
            "received_at": received_at,
            "replied_at": replied_at,
            "replied_by": case.person["staff_id"],
            "reply": "答复内容",
            "response_seconds": (replied_at - received_at).total_seconds(),
            "round": round_,
        },
    )


def _overdue(case: _Case, *, due: datetime, until: datetime, department: str, round_: int) -> None:
    """Routing's ladder on a deadline passed unanswered: overdue at once, then each
    escalation as days pass, while the case is still unanswered (`until`)."""
    if until <= due:
        return
    number = case.history.case_number
    step = {"case_number": number, "due_at": due, "department": department, "round": round_}
    if not case.add(
        "complaint.overdue",
        due + timedelta(minutes=1),
        step | {"level": "reply_due", "reason": "答复期限已到"},
    ):
        return
    for level, days in ESCALATION_DAYS:
        at = due + timedelta(days=days)
        if at >= until or not case.add(
            "complaint.escalated",
            at,
            step | {"level": level, "reason": "逾期未答复", "overdue_working_days": days},
        ):
            return


# --- reporting's facts -----------------------------------------------------------------


def facts_of(history: ComplaintHistory) -> dict[str, Any]:
    """The fact document reporting holds once every event of the history is applied: each
    event through reporting's own `change_for` and `fact_update` (what ComplaintFacts.apply
    sends), its `$set`, `$addToSet` and `$max` done here as the server does them."""
    document = new_facts(history.complaint_id, history.hospital_id)
    for step in history.steps:
        event = EVENT_TYPES[step.type].model_validate(step.payload)
        update = fact_update(
            change_for(event, occurred_at=step.at),
            hospital_id=history.hospital_id,
            event_id=step.event_id,
            version=version_of(step.at),
            current=document,
        )
        apply_fact_update(document, update)
    return document


def fact_documents(shape: HistoryShape) -> Iterator[dict[str, Any]]:
    """Reporting's fact document of every complaint of the history, in its order."""
    for history in histories(shape):
        yield facts_of(history)


def complaint_document(history: ComplaintHistory) -> dict[str, Any]:
    """Intake's complaint document (services/intake/registration.py and the lifecycle's
    changes: state, chained timeline, ladder steps, no pending outbox) for the same
    complaint, from its steps, so that intake's and reporting's seeded records tell one
    history. The complainant's identity is not sealed (None): the bench has no identity
    key, and nothing it measures opens it."""
    office = f"{history.hospital_id}-complaint_office-1"
    first = history.steps[0]
    received = first.payload
    record: dict[str, Any] = {
        "_id": history.complaint_id,
        "hospital_id": history.hospital_id,
        "case_number": history.case_number,
        "tracking_code": history.tracking_code,
        "idempotency_key": f"bench-{history.complaint_id}",
        "fingerprint": history.complaint_id,
        "status": "received",
        "channel": received["channel"],
        "kind": received["kind"],
        "anonymous": received["anonymous"],
        "complainant": None,
        "complainant_key": received.get("complainant_key"),
        "target_department": None,
        "target_staff_id": received.get("target_staff_id"),
        "summary": None,
        "content": received["content"],
        "demand": None,
        "direct": False,
        "group": received["group"],
        "case_type": None,
        "received_at": history.received_at,
        "received_by": office,
        "first_receiver": {"staff_id": office, "accountable": office},
        "registered_at": first.at,
        "assignment": None,
        "reply": None,
        "reopen_count": 0,
        "extensions": 0,
        "escalations": [],
        "applied_events": [],
        "version": 1,
    }
    entries: list[tuple[datetime, Entry]] = []
    for step in history.steps:
        # A reply is recorded at its own time (the history may publish it later).
        at = step.payload["replied_at"] if step.type == "complaint.replied" else step.at
        entries.extend((at, entry) for entry in _recorded(record, step, office))
    record["timeline"], record["timeline_head"] = [], None
    for at, entry in entries:
        added, record["timeline_head"] = chained(
            history.complaint_id, record["timeline_head"], [entry], at=at
        )
        record["timeline"].extend(added)
    record["version"] += len(history.steps)
    return record


def _recorded(record: dict[str, Any], step: Step, office: str) -> list[Entry]:
    """What intake does to its record on this step (its state), and the timeline entries."""
    p, at, kind = step.payload, step.at, step.type.removeprefix("complaint.")
    if kind == "received":
        return [Entry("received", office, data={"channel": p["channel"]})]
    if kind == "routed":
        decision = {k: v for k, v in p.items() if k != "counting_day"}
        record["assignment"] = decision | {"counting_day": p["counting_day"].isoformat()}
        return [Entry("assigned", "routing", data={"revision": p["revision"]})]
    if kind in ("accepted", "supplemented"):
        if kind == "supplemented":
            record["supplement"] |= {"supplied_at": at, "content": "补充材料"}
        record["acceptance"] = {"decision": "accepted", "at": at, "by": office}
        record["status"] = "accepted"
        return [Entry(kind, office)] + ([Entry("accepted", office)] if kind != "accepted" else [])
    if kind == "supplement_requested":
        record["supplement"] = {"missing": p["missing"], "requested_at": at, "requested_by": office}
        record["status"] = "needs_supplement"
        return [Entry(kind, office, data={"missing": p["missing"]})]
    if kind == "assigned":
        # The deadline it carries is the record's (a supplement restarts the count).
        record["assignment"]["due_at"] = p["due_at"]
        record["status"], record["receipt_sent"] = "assigned", True
        return []
    if kind == "not_accepted":
        record["acceptance"] = {
            "decision": "not_accepted",
            "reason": p["reason"],
            "reason_label": p["reason_label"],
            "explanation": p["explanation"],
            "at": at,
            "by": office,
        }
        record["status"] = "not_accepted"
        return [Entry(kind, office, p["reason_label"], {"reason": p["reason"]})]
    if kind == "transferred":
        record["transfer"] = {"to_body": p["to_body"], "at": at, "by": office}
        record["status"] = "transferred"
        return [Entry(kind, office, data={"to_body": p["to_body"]})]
    if kind == "resolved_on_spot":
        record["on_spot"] = {"outcome": p["outcome"], "at": at, "by": office}
        record["status"] = "resolved_on_spot"
        return [Entry(kind, office, p["outcome"])]
    if kind == "deadline_changed":
        record["assignment"] |= {
            "due_at": p["due_at"],
            "deadline_pending_year": None,
            "deadline_changed_at": at,
        }
        return [Entry(kind, "routing", p["reason"], {"due_at": p["due_at"]})]
    if kind == "extended":
        record["extensions"] += 1
        record["extension"] = {"reason": p["reason"], "awaiting_deadline": False}
        return [Entry("extension_approved", office, p["reason"])]
    if kind == "replied":
        due = record["assignment"]["due_at"]
        record["reply"] = {
            "content": p["reply"],
            "form": "written",
            "replied_by": p["replied_by"],
            "replied_at": p["replied_at"],
            "round": p["round"],
        }
        record["status"] = "replied"
        return [Entry("replied", p["replied_by"], p["reply"], {"form": "written", "due_at": due})]
    if kind == "closed":
        record["finding"] = {"result": p["finding"], "round": p["round"]}
        record["closure"] = {
            "satisfaction": p["satisfaction"],
            "closed_at": at,
            "closed_by": office,
        }
        record["status"] = "closed"
        return [Entry(kind, office, data={"satisfaction": p["satisfaction"]})]
    if kind == "reopened":
        record |= {"reopen_count": p["reopen_count"], "flagged": p["flagged"], "reopened_at": at}
        record["status"] = "reopened"
        return [Entry(kind, office, p["reason"], {"reopen_count": p["reopen_count"]})]
    if kind in ("overdue", "escalated"):
        level = p["level"]
        record["escalations"].append(
            {
                "level": level,
                "level_label": level_label(level),
                "supervised": level in ACKNOWLEDGERS,
                "overdue_working_days": p.get("overdue_working_days") or 0,
                "round": p.get("round", 0),
                "event_ids": [step.event_id],
                "reached_at": at,
                "reason": p["reason"],
                "due_at": p.get("due_at"),
                "department": p.get("department"),
                "recipients": [],
                "told": [],
                "acknowledgement": None,
            }
        )
        return [Entry(kind, "routing", p["reason"], {"level": level, "round": p.get("round", 0)})]
    raise ValueError(f"{step.type}: not a step of the bench's histories")
