"""Routing's decisions: category, department, handler and deadline for each complaint."""

from __future__ import annotations

from datetime import UTC, datetime

from services.routing.adapters.clocks import OPEN, ClockStore
from services.routing.adapters.region_store import RegionStore
from services.routing.domain.calendar import CalendarNotCovered, WorkingCalendar
from services.routing.domain.categories import (
    CATEGORY_LABELS,
    DEFAULT_DEPARTMENT,
    DEPARTMENT_LABELS,
    KeywordClassifier,
)
from services.routing.domain.deadline import counting_day, reply_due_at
from services.routing.domain.handler_choice import choose_handler
from shared.consumer import PermanentFailure
from shared.contracts import ComplaintReceived, ComplaintReplied, ComplaintRouted, Envelope, Person
from shared.outbox import OutboxRelay, new_outbox
from shared.tracing import current_trace_context

FALLBACK_DEPARTMENT = "complaint_office"


async def route_complaint(
    envelope: Envelope,
    received: ComplaintReceived,
    *,
    clocks: ClockStore,
    region: RegionStore,
    classifier: KeywordClassifier,
    calendar: WorkingCalendar,
    reply_working_days: int,
    relay: OutboxRelay,
) -> None:
    complaint_id, hospital_id = envelope.complaint_id, envelope.hospital_id
    # A redelivery decides again and then fails to insert a second clock (its _id is the
    # complaint id): one insert is cheaper than a lookup before every decision.
    hospital = await region.hospital(hospital_id)
    if hospital is None:
        raise PermanentFailure(f"hospital {hospital_id} is not in the region; load it and replay")

    classification = classifier.classify(
        " ".join(filter(None, [received.content, received.demand]))
    )
    codes = {d.code: d.name for d in hospital.departments}
    department = received.target_department or DEFAULT_DEPARTMENT[classification.primary]
    if department not in codes:
        department = FALLBACK_DEPARTMENT if FALLBACK_DEPARTMENT in codes else next(iter(codes))
    choice = choose_handler(
        hospital.staff,
        department=department,
        open_cases=await clocks.open_cases_by_handler(hospital_id, department),
        complained_about=received.target_staff_id,
    )
    try:
        counting = counting_day(received.received_at, calendar)
        due_at = reply_due_at(received.received_at, reply_working_days, calendar)
    except CalendarNotCovered as gap:
        raise PermanentFailure(f"{gap}; load the calendar for that year and replay") from gap

    handler = choice.handler
    routed = ComplaintRouted(
        category=classification.primary.value,
        category_label=CATEGORY_LABELS[classification.primary],
        matched_keywords=[k for match in classification.matches for k in match.keywords],
        department=department,
        department_label=codes.get(department) or DEPARTMENT_LABELS.get(department, department),
        handler=Person(staff_id=handler.id, name=handler.name, email=handler.email)
        if handler
        else None,
        counting_day=counting,
        working_days=reply_working_days,
        due_at=due_at,
    )
    event = routed.envelope(
        hospital_id=hospital_id, complaint_id=complaint_id, trace_context=current_trace_context()
    )
    now = datetime.now(UTC)
    started = await clocks.start(
        {
            "_id": complaint_id,
            "hospital_id": hospital_id,
            "department": department,
            "handler_id": handler.id if handler else None,
            "category": routed.category,
            "recused": list(choice.recused),
            "received_at": received.received_at,
            "due_at": due_at,
            "status": OPEN,
            "overdue": False,
            "routed_at": now,
            **new_outbox([event], now=now),
        }
    )
    if started:
        relay.notify(complaint_id, [event])


async def stop_clock(envelope: Envelope, replied: ComplaintReplied, *, clocks: ClockStore) -> None:
    await clocks.stop(envelope.complaint_id, at=replied.replied_at)
