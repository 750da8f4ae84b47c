"""Routing's admin API: the working-day calendar (bureau) and staff absence with
delegation of open cases (the hospital, or the bureau)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fastapi import APIRouter
from pydantic import ValidationError

from services.routing import lifecycle
from services.routing.api.deps import (
    CalendarDep,
    CalendarStoreDep,
    CalendarWatchDep,
    ClocksDep,
    RegionDep,
    RulebookDep,
)
from services.routing.api.schemas import (
    Absence,
    AbsenceResult,
    CalendarCoverage,
    PendingYear,
    YearArrangement,
    YearHistory,
    YearVersion,
)
from services.routing.calendar_loading import UnlawfulYear
from services.routing.domain.calendar import CalendarCorrection, WorkingCalendar
from shared.auth import CurrentPrincipal
from shared.errors import ApiError, ErrorItem, error_responses, invalid, not_found

router = APIRouter(prefix="/v1/admin", responses=error_responses(401, 422, 503))
CALENDAR_HORIZON = timedelta(days=45)


def calendar_warning(calendar: WorkingCalendar, today: date) -> str | None:
    """A note for operators when deadlines will soon fall after the calendar's last day."""
    if calendar.covers(today + CALENDAR_HORIZON):
        return None
    until = calendar.covered_until()
    return (
        f"the official calendar ends on {until}; deadlines after it wait (pending) until "
        f"the bureau loads {until.year + 1} (PUT /v1/admin/calendar/{until.year + 1})"
    )


def calendar_readiness(
    calendar: WorkingCalendar, today: date, pending: dict[int, int] | None = None
) -> str | None:
    """/readyz's calendar check: a note, never a failure. Readiness takes a replica out of
    the load balancer, and routing can do all its work without next year's calendar: it
    routes every complaint at once and keeps the deadline it cannot count pending, counted
    the moment the year is loaded. Failing here would take every replica out together and
    with them this admin API, through which the bureau loads the missing year. So it says
    how far the calendar reaches and how many deadlines wait; the alerts
    (HuiyinCalendarEndingSoon, HuiyinDeadlinesPendingCalendar) page the people who act."""
    notes = [note] if (note := calendar_warning(calendar, today)) else []
    waiting = {year: n for year, n in (pending or {}).items() if n}
    if waiting:
        notes.append(
            "deadlines waiting for the calendar: "
            + ", ".join(f"{n} for {year}" for year, n in sorted(waiting.items()))
        )
    return "; ".join(notes) or None


def coverage(calendar: WorkingCalendar, pending: dict[int, int] | None = None) -> CalendarCoverage:
    today = datetime.now(UTC).date()
    return CalendarCoverage(
        covered_until=calendar.covered_until(),
        corrected_years=sorted(c.year for c in calendar.corrections),
        horizon_days=(calendar.covered_until() - today).days,
        warning=calendar_warning(calendar, today),
        pending=[PendingYear(year=y, deadlines=n) for y, n in sorted((pending or {}).items()) if n],
    )


@router.get("/calendar", summary="Working-day calendar coverage")
async def read_calendar(
    principal: CurrentPrincipal, calendar: CalendarDep, watch: CalendarWatchDep
) -> CalendarCoverage:
    return coverage(calendar, watch.pending)


def _check_year(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise invalid("year", "between 2000 and 2100", location="path")


@router.get(
    "/calendar/{year}",
    summary="One year's arrangement: every version the bureau loaded, who and when",
)
async def read_calendar_year(
    year: int,
    principal: CurrentPrincipal,
    calendar: CalendarDep,
    store: CalendarStoreDep,
    watch: CalendarWatchDep,
) -> YearHistory:
    _check_year(year)
    stored = await store.year(year)
    versions = [
        YearVersion(
            version=v["version"],
            by=v.get("by") or "?",
            at=v.get("at"),
            holidays=[date.fromisoformat(d) for d in v.get("holidays", [])],
            workdays=[date.fromisoformat(d) for d in v.get("workdays", [])],
        )
        for v in (stored.versions if stored else [])
    ]
    if stored is not None:
        source = "bureau"
    else:
        source = "package" if calendar.covers(date(year, 1, 1)) else "none"
    return YearHistory(
        year=year,
        source=source,
        version=watch.applied.get(year) if stored else None,
        versions=versions,
    )


@router.put(
    "/calendar/{year}",
    responses=error_responses(403),
    summary="Load or correct one year's holidays and make-up working days (bureau only)",
    description="The year must keep 国务院《全国年节及纪念日放假办法》: every statutory "
    "festival day a rest day and at least the law's number of rest days (13 from 2025); "
    "otherwise 422 naming the festival, and the version in force stays. Each load is kept "
    "as a new version (GET /v1/admin/calendar/{year}); deadlines waiting for the year are "
    "counted at once and sent to intake.",
)
async def put_calendar_year(
    year: int,
    body: YearArrangement,
    principal: CurrentPrincipal,
    calendar: CalendarDep,
    watch: CalendarWatchDep,
) -> CalendarCoverage:
    principal.only_bureau("loads the calendar")
    _check_year(year)
    try:
        correction = CalendarCorrection(
            year=year, holidays=frozenset(body.holidays), workdays=frozenset(body.workdays)
        )
    except ValueError as error:
        raise invalid("holidays", str(error)) from error
    try:
        await watch.load(correction, by=principal.name)
    except UnlawfulYear as unlawful:
        problems = [
            ErrorItem(field="holidays", location="body", message=p.message, code="unlawful")
            for p in unlawful.problems
        ]
        raise ApiError(422, "invalid_request", str(unlawful), errors=problems) from unlawful
    return coverage(calendar, watch.pending)


@router.post(
    "/hospitals/{hospital_id}/staff/{staff_id}/absence",
    responses=error_responses(403, 404),
    summary="Mark a staff member absent (or back); delegate their open cases (委托)",
)
async def set_absence(
    hospital_id: str,
    staff_id: str,
    body: Absence,
    principal: CurrentPrincipal,
    region: RegionDep,
    clocks: ClocksDep,
    rulebook: RulebookDep,
) -> AbsenceResult:
    hospital_id = principal.acts_for(hospital_id)
    hospital = await region.hospital(hospital_id)
    if hospital is None:
        raise not_found(f"hospital {hospital_id} unknown")
    members = {m.id: m for m in hospital.staff}
    if staff_id not in members:
        raise not_found(f"staff {staff_id} unknown")
    if body.delegate_to is not None:
        colleague = members.get(body.delegate_to)
        problem = None
        if colleague is None:
            problem = f"no staff member {body.delegate_to} in {hospital_id}"
        elif colleague.absent or body.delegate_to == staff_id:
            problem = f"{body.delegate_to} cannot take the cases (absent or the same person)"
        if problem:
            raise invalid("delegate_to", problem)
    try:
        await region.set_absence(hospital_id, staff_id, body.absent)
    except (KeyError, ValidationError) as error:  # pragma: no cover - checked above
        raise not_found(str(error)) from error
    delegated: list[str] = []
    if body.absent and body.delegate_to:
        # Their cases may lie in any department: a delegate or a re-routing crosses them.
        departments = {d.code for d in hospital.departments} | {members[staff_id].department}
        open_cases = await clocks.open_of_handler(hospital_id, staff_id, departments=departments)
        for clock in open_cases:
            moved = await lifecycle.delegate(
                clock,
                delegate_to=body.delegate_to,
                reason=f"委托：{members[staff_id].name}{body.reason}，由{members[body.delegate_to].name}代办",
                clocks=clocks,
                rulebook=rulebook,
            )
            if moved:
                delegated.append(clock["_id"])
    return AbsenceResult(
        staff_id=staff_id,
        absent=body.absent,
        delegated_to=body.delegate_to if body.absent else None,
        delegated=delegated,
    )
