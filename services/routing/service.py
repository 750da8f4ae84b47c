"""Routing's decisions: category, lead and co-handling departments, priority, case type,
handler and deadlines for each complaint; and a new decision when the office re-routes.

The clock document (one per complaint) holds the decision and routing's outbox, so
deciding, starting the clock and queueing complaint.routed are one write
(adapters/clocks.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.routing.adapters.clocks import OPEN, ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.domain.calendar import WorkingCalendar
from services.routing.domain.case_rules import (
    EffectiveRules,
    case_type_of,
    conflicted_staff,
    danger_signals_in,
    priority_of,
)
from services.routing.domain.categories import (
    DEFAULT_DEPARTMENT,
    DEPARTMENT_LABELS,
    Category,
    KeywordClassifier,
)
from services.routing.domain.deadline import Counted, DeadlineRule, count
from services.routing.domain.escalation_ladder import (
    AtOnce,
    EscalationLadder,
    at_once,
    recipients,
)
from services.routing.domain.handler_choice import choose_handler
from services.routing.domain.region import Hospital, StaffMember, Supervisor
from services.routing.settings import RoutingSettings
from shared.consumer import PermanentFailure
from shared.contracts import (
    CaseType,
    ComplaintEscalated,
    ComplaintReceived,
    ComplaintRouted,
    DepartmentRef,
    Envelope,
    EventPayload,
    Person,
    Priority,
)

FALLBACK_DEPARTMENT = "complaint_office"

Refusals = Callable[[str], None]
"""Told once per deadline the calendar could not count (a refusal), with its cause: the
event type, or `recount` when a loaded year still leaves it waiting (ops metric)."""


def ignore_refusals(cause: str) -> None:
    return None


@dataclass(frozen=True)
class Departments:
    """Who handles the complaint: the lead department (牵头) and the co-handling ones
    (配合), from the keywords (the matched words are the explanation) or the target."""

    category: Category
    keywords: tuple[str, ...]
    lead: str
    co: tuple[str, ...]


def department_label(hospital: Hospital | None, code: str) -> str:
    """The name people read: the hospital's own, else the category's default."""
    names = {d.code: d.name for d in hospital.departments} if hospital else {}
    return names.get(code) or DEPARTMENT_LABELS.get(code, code)


@dataclass(frozen=True)
class HospitalRouting:
    """Everything routing needs about one hospital: its region entry, its effective rules
    and a classifier with its keywords."""

    hospital: Hospital
    rules: EffectiveRules
    classifier: KeywordClassifier

    def department_label(self, code: str) -> str:
        return department_label(self.hospital, code)

    def lead_department(self, category: Category, target: str | None) -> str:
        codes = {d.code for d in self.hospital.departments}
        if target and target in codes:
            return target  # an explicit target department overrides the keywords
        department = self.rules.departments.get(category.value) or DEFAULT_DEPARTMENT[category]
        if department in codes:
            return department
        return FALLBACK_DEPARTMENT if FALLBACK_DEPARTMENT in codes else next(iter(codes))

    def departments(self, text: str, target: str | None) -> Departments:
        """The best category's department leads (an explicit target department in this
        hospital overrides it); every other matched category's department co-handles,
        the best category's own too when the target took the lead."""
        classification = self.classifier.classify(text)
        lead = self.lead_department(classification.primary, target)
        co: list[str] = []
        for match in classification.matches:
            other = self.lead_department(match.category, None)
            if other != lead and other not in co:
                co.append(other)
        words = tuple(k for match in classification.matches for k in match.keywords)
        return Departments(classification.primary, words, lead, tuple(co))


class HospitalRulebook:
    """Per-hospital classifiers, rebuilt when the region copy changes. `settings` gives the
    deployment's default reply days for an ordinary investigation (read when used)."""

    def __init__(self, region: RegionStore, settings: RoutingSettings | None = None) -> None:
        self._region = region
        self._settings = settings
        self._built: dict[str, tuple[int, HospitalRouting]] = {}

    async def of(self, hospital_id: str) -> HospitalRouting:
        hospital = await self._region.hospital(hospital_id)
        if hospital is None:
            raise PermanentFailure(f"hospital {hospital_id} is not in the region; load it, replay")
        bureau_rules = await self._region.bureau_rules()
        stamp = hash((id(hospital), id(bureau_rules)))
        cached = self._built.get(hospital_id)
        if cached and cached[0] == stamp:
            return cached[1]
        days = self._settings.reply_working_days if self._settings is not None else None
        try:
            rules = EffectiveRules.combine(bureau_rules, hospital.rules, investigation_days=days)
            classifier = KeywordClassifier(rules.keywords)
        except ValueError as error:  # a rule a region loaded before it was checked
            raise PermanentFailure(f"hospital {hospital_id} rules: {error}") from error
        built = HospitalRouting(hospital, rules, classifier)
        self._built[hospital_id] = (stamp, built)
        return built

    async def ladder(self, hospital_id: str) -> EscalationLadder:
        """The hospital's escalation ladder (its rules over the bureau's)."""
        return (await self.of(hospital_id)).rules.ladder

    async def supervisors(self) -> list[Supervisor]:
        return await self._region.supervisors()


def _person(member: StaffMember | None) -> Person | None:
    return Person(staff_id=member.id, name=member.name, email=member.email) if member else None


RECEIPT_REASON = "自登记之日起计算"


def deadline_rule(
    moment: datetime,
    case_type: CaseType,
    rules: EffectiveRules,
    *,
    reason: str,
    acceptance: bool = True,
    previous_due_at: datetime | None = None,
) -> DeadlineRule:
    """How the case type's deadlines are counted from `moment` (receipt, supplement,
    dispute): the acceptance deadline too while the case is not yet accepted."""
    target = rules.targets[case_type]
    return DeadlineRule(
        reason=reason,
        counted_from=moment,
        working_days=target.reply_working_days,
        reply_hours=target.reply_hours or None,
        acceptance_working_days=target.acceptance_working_days if acceptance else None,
        previous_due_at=previous_due_at,
    )


def deadlines(
    moment: datetime,
    case_type: CaseType,
    rules: EffectiveRules,
    calendar: WorkingCalendar,
    *,
    reason: str = RECEIPT_REASON,
    acceptance: bool = True,
    previous_due_at: datetime | None = None,
) -> tuple[DeadlineRule, Counted]:
    """The case's deadlines counted from `moment`, as far as the calendar allows; what it
    cannot count yet waits in `Counted.rule` (domain/deadline.py)."""
    rule = deadline_rule(
        moment,
        case_type,
        rules,
        reason=reason,
        acceptance=acceptance,
        previous_due_at=previous_due_at,
    )
    return rule, count(rule, calendar)


def deadline_fields(rule: DeadlineRule, counted: Counted) -> dict[str, Any]:
    """The clock fields `counted` sets: only what `rule` was asked to count, so that
    counting the acceptance deadline later never erases a known reply deadline. A deadline
    still waiting is recorded in `deadline_pending` with the year it waits for (the
    pending index, adapters/clocks.py, follows that field)."""
    fields: dict[str, Any] = {
        "deadline_pending": {"year": counted.waits_for, "rule": counted.rule.to_document()}
        if counted.rule is not None
        else None
    }
    if rule.counted_from is not None:
        day = counted.counting_day
        fields["counting_day"] = day.isoformat() if day else None
    if rule.acceptance_working_days is not None:
        fields["acceptance_due_at"] = counted.acceptance_due_at
    if rule.reply:
        fields["due_at"] = counted.due_at
        if counted.due_at is not None:
            fields["reply_window"] = reply_window(rule, counted)
    return fields


def reply_window(rule: DeadlineRule, counted: Counted) -> dict[str, Any]:
    """The working time the reply deadline allows, for the warning at its share of it
    (domain/sla_points.py ReplyWindow): the clock hours from the moment for a deadline in
    hours, the working days after the due day an extension extends, or after the counting
    day."""
    if rule.reply_hours is not None and rule.after is None:
        return {"since": rule.counted_from}
    day = rule.after or counted.counting_day
    return {"after": day.isoformat() if day else None}


def pending_year_of(clock: dict[str, Any]) -> int | None:
    """The year the clock's reply deadline waits for; None when it is a date."""
    if clock.get("due_at") is not None:
        return None
    return (clock.get("deadline_pending") or {}).get("year")


def complaint_text(received: ComplaintReceived) -> str:
    return " ".join(filter(None, [received.content, received.demand]))


@dataclass(frozen=True)
class FirstDecision:
    """Revision 1 of the decision, and how its deadlines were counted (`rule`; `counted`
    says what still waits for the calendar); the ladder levels the case enters at once."""

    routed: ComplaintRouted
    rule: DeadlineRule
    counted: Counted
    at_once: tuple[AtOnce, ...] = ()


def first_decision(
    received: ComplaintReceived,
    routing: HospitalRouting,
    calendar: WorkingCalendar,
    *,
    departments: Departments,
    open_cases: Mapping[str, int],
) -> FirstDecision:
    """Routing's first decision (revision 1), pure: priority from the danger signals and
    the receipt's facts, case type and its deadlines, the handler of the lead department
    (`open_cases`: its handlers' loads) with recusal. Never held back by the calendar: a
    deadline it cannot count yet is pending (`deadline_pending_year`)."""
    text = complaint_text(received)
    danger = danger_signals_in(text, routing.rules.danger_signals)
    priority = priority_of(
        danger=danger, direct=received.direct, group=received.group, channel=received.channel
    )
    case_type = case_type_of(
        stated=received.case_type,
        channel=received.channel,
        category=departments.category.value,
        co_departments=len(departments.co),
        rules=routing.rules,
    )
    choice = choose_handler(
        routing.hospital.staff,
        department=departments.lead,
        open_cases=open_cases,
        complained_about=received.target_staff_id,
        conflicted=conflicted_staff(
            routing.rules.conflicts,
            about_staff=received.target_staff_id,
            department=departments.lead,
        ),
    )
    rule, counted = deadlines(received.received_at, case_type, routing.rules, calendar)
    action_due_at = None
    if danger:
        action_due_at = received.received_at.astimezone(UTC) + timedelta(
            hours=routing.rules.urgent_action_hours
        )
    routed = ComplaintRouted(
        revision=1,
        category=departments.category.value,
        category_label=departments.category.label,
        matched_keywords=list(dict.fromkeys([*departments.keywords, *danger])),
        co_departments=[
            DepartmentRef(code=code, label=routing.department_label(code))
            for code in departments.co
        ],
        department=departments.lead,
        department_label=routing.department_label(departments.lead),
        handler=_person(choice.handler),
        recused=list(choice.recused),
        priority=priority,
        case_type=case_type,
        action_due_at=action_due_at,
        counting_day=counted.counting_day,
        working_days=rule.working_days,
        acceptance_due_at=counted.acceptance_due_at,
        due_at=counted.due_at,
        deadline_pending_year=counted.reply_pending_year,
    )
    entries = at_once(
        urgent=bool(danger), major=routing.rules.ladder.is_major(text), group=received.group
    )
    return FirstDecision(routed, rule, counted, entries)


def entered_at_once(
    decision: FirstDecision,
    routing: HospitalRouting,
    *,
    case_number: str,
    supervisors: list[Supervisor],
) -> list[EventPayload]:
    """complaint.escalated for each level the case enters at once, to that level's people
    (docs/rules.md#escalation E9, E10), told at once even at night."""
    routed = decision.routed
    return [
        ComplaintEscalated(
            case_number=case_number,
            level=step.level,
            reason=step.reason,
            department=routed.department,
            department_label=routed.department_label,
            recipients=recipients(
                step.level,
                hospital=routing.hospital,
                department=routed.department,
                handler_id=routed.handler.staff_id if routed.handler else None,
                supervisors=supervisors,
            ),
            urgent=True,
        )
        for step in decision.at_once
    ]


async def route_complaint(
    envelope: Envelope,
    received: ComplaintReceived,
    *,
    clocks: ClockStore,
    rulebook: HospitalRulebook,
    calendar: WorkingCalendar,
    refused: Refusals = ignore_refusals,
) -> None:
    """Decide, start the clock and queue complaint.routed, in one insert."""
    complaint_id, hospital_id = envelope.complaint_id, envelope.hospital_id
    # A redelivery decides again and then fails to insert a second clock (its _id is the
    # complaint id): one insert is cheaper than a lookup before every decision.
    routing = await rulebook.of(hospital_id)
    departments = routing.departments(complaint_text(received), received.target_department)
    decision = first_decision(
        received,
        routing,
        calendar,
        departments=departments,
        open_cases=await clocks.open_cases_by_handler(hospital_id, departments.lead),
    )
    routed = decision.routed
    entered = entered_at_once(
        decision,
        routing,
        case_number=received.case_number,
        supervisors=await rulebook.supervisors() if decision.at_once else [],
    )
    started = await clocks.start(
        {
            "_id": complaint_id,
            "hospital_id": hospital_id,
            "case_number": received.case_number,
            "revision": 1,
            "department": routed.department,
            "co_departments": list(departments.co),
            "handler_id": routed.handler.staff_id if routed.handler else None,
            "category": routed.category,
            "priority": routed.priority,
            "case_type": routed.case_type,
            "working_days": routed.working_days,
            "recused": list(routed.recused),
            "target_staff_id": received.target_staff_id,
            "received_at": received.received_at,
            "action_due_at": routed.action_due_at,
            **deadline_fields(decision.rule, decision.counted),
            "status": OPEN,
            "overdue": False,
            "routed_at": datetime.now(UTC),
            "applied_events": [],
        },
        [routed, *entered],
        entry=str(envelope.event_id),
    )
    if started is not None and decision.counted.waits_for is not None:
        refused(envelope.type)


def reroute_decision(
    clock: dict[str, Any],
    routing: HospitalRouting,
    *,
    department: str,
    reason: str,
    open_cases: dict[str, int],
    handler_id: str | None = None,
    target_staff_id: str | None = None,
) -> tuple[ComplaintRouted, dict[str, Any]]:
    """A new decision for an existing clock: another department (re-routing) or another
    handler (delegation to `handler_id`). Deadlines stay; the revision grows so intake
    applies only this one. Recusal holds here too: a delegate who is the person complained
    about (`target_staff_id`, else the one recorded at first routing) or is conflicted is
    recorded as recused and the case goes to the least-loaded eligible colleague."""
    members = routing.hospital.staff
    complained_about = target_staff_id or clock.get("target_staff_id")
    conflicted = conflicted_staff(
        routing.rules.conflicts, about_staff=complained_about, department=department
    )
    chosen = next((m for m in members if m.id == handler_id), None) if handler_id else None
    handler: StaffMember | None
    if chosen is not None and chosen.id != complained_about and chosen.id not in conflicted:
        handler, recused = chosen, []
    else:
        choice = choose_handler(
            members,
            department=department,
            open_cases=open_cases,
            complained_about=complained_about,
            conflicted=conflicted | ({chosen.id} if chosen else set()),
        )
        handler, recused = choice.handler, list(choice.recused)
        if chosen is not None and chosen.id not in recused:
            recused.append(chosen.id)
    category = Category(clock["category"])
    revision = int(clock.get("revision", 1)) + 1
    routed = ComplaintRouted(
        revision=revision,
        reason=reason,
        category=category.value,
        category_label=category.label,
        co_departments=[
            DepartmentRef(code=code, label=routing.department_label(code))
            for code in clock.get("co_departments", [])
            if code != department
        ],
        department=department,
        department_label=routing.department_label(department),
        handler=_person(handler),
        recused=recused,
        priority=Priority(clock.get("priority", Priority.NORMAL)),
        case_type=CaseType(clock.get("case_type", CaseType.INVESTIGATION)),
        counting_day=date.fromisoformat(clock["counting_day"])
        if clock.get("counting_day")
        else None,
        working_days=int(clock.get("working_days", 5)),
        acceptance_due_at=clock.get("acceptance_due_at"),
        action_due_at=clock.get("action_due_at"),
        due_at=clock.get("due_at"),
        deadline_pending_year=pending_year_of(clock),
    )
    fields = {
        "revision": revision,
        "department": department,
        "handler_id": handler.id if handler else None,
        "recused": recused,
        "target_staff_id": complained_about,
    }
    return routed, fields
