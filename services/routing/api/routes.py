"""Routing's admin API: the working-day calendar (bureau) and staff absence with
delegation of open cases (the hospital, or the bureau)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.routing import lifecycle
from services.routing.calendar_loading import UnlawfulYear
from services.routing.domain.calendar import CalendarCorrection
from shared.auth import CurrentPrincipal
from shared.errors import ApiError, ErrorItem, error_responses, forbidden, invalid, not_found

router = APIRouter(prefix="/v1/admin", responses=error_responses(401, 422, 503))
CALENDAR_HORIZON = timedelta(days=45)


class YearArrangement(BaseModel):
    """One year as the State Council's holiday notice gives it."""

    model_config = ConfigDict(extra="forbid")
    holidays: list[date] = Field(description="rest days (放假), weekday ones at least")
    workdays: list[date] = Field(default_factory=list, description="weekend days worked (调休)")


class PendingYear(BaseModel):
    year: int
    deadlines: int = Field(description="clocks whose deadline waits for this year's calendar")


class CalendarCoverage(BaseModel):
    covered_until: date
    corrected_years: list[int]
    horizon_days: int
    warning: str | None
    pending: list[PendingYear] = Field(
        default_factory=list,
        description="deadlines waiting for a year's calendar (as of the last recount pass)",
    )


class YearVersion(BaseModel):
    version: int
    by: str
    at: datetime | None
    holidays: list[date]
    workdays: list[date]


class YearHistory(BaseModel):
    year: int
    source: str = Field(description="bureau (loaded here), package (chinese-calendar) or none")
    version: int | None = Field(description="the bureau's version in force")
    versions: list[YearVersion]


def calendar_warning(calendar: Any, today: date) -> str | None:
    """A note for operators when deadlines will soon fall after the calendar's last day."""
    if calendar.covers(today + CALENDAR_HORIZON):
        return None
    until = calendar.covered_until()
    return (
        f"the official calendar ends on {until}; deadlines after it wait (pending) until "
        f"the bureau loads {until.year + 1} (PUT /v1/admin/calendar/{until.year + 1})"
    )


def calendar_readiness(
    calendar: Any, today: date, pending: dict[int, int] | None = None
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


def coverage(calendar: Any, pending: dict[int, int] | None = None) -> CalendarCoverage:
    today = datetime.now(UTC).date()
    return CalendarCoverage(
        covered_until=calendar.covered_until(),
        corrected_years=sorted(c.year for c in calendar.corrections),
        horizon_days=(calendar.covered_until() - today).days,
        warning=calendar_warning(calendar, today),
        pending=[PendingYear(year=y, deadlines=n) for y, n in sorted((pending or {}).items()) if n],
    )


@router.get("/calendar", response_model=CalendarCoverage, summary="Working-day calendar coverage")
async def read_calendar(request: Request, principal: CurrentPrincipal) -> CalendarCoverage:
    state = request.app.state
    return coverage(state.calendar, state.calendar_watch.pending)


def _check_year(year: int) -> None:
    if not 2000 <= year <= 2100:
        raise invalid("year", "between 2000 and 2100", location="path")


@router.get(
    "/calendar/{year}",
    response_model=YearHistory,
    summary="One year's arrangement: every version the bureau loaded, who and when",
)
async def read_calendar_year(
    year: int, request: Request, principal: CurrentPrincipal
) -> YearHistory:
    _check_year(year)
    state = request.app.state
    stored = await state.calendar_store.year(year)
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
        source = "package" if state.calendar.covers(date(year, 1, 1)) else "none"
    return YearHistory(
        year=year,
        source=source,
        version=state.calendar_watch.applied.get(year) if stored else None,
        versions=versions,
    )


@router.put(
    "/calendar/{year}",
    response_model=CalendarCoverage,
    responses=error_responses(403),
    summary="Load or correct one year's holidays and make-up working days (bureau only)",
    description="The year must keep 国务院《全国年节及纪念日放假办法》: every statutory "
    "festival day a rest day and at least the law's number of rest days (13 from 2025); "
    "otherwise 422 naming the festival, and the version in force stays. Each load is kept "
    "as a new version (GET /v1/admin/calendar/{year}); deadlines waiting for the year are "
    "counted at once and sent to intake.",
)
async def put_calendar_year(
    year: int, body: YearArrangement, request: Request, principal: CurrentPrincipal
) -> CalendarCoverage:
    if not principal.is_bureau:
        raise forbidden("only the bureau loads the calendar")
    _check_year(year)
    try:
        correction = CalendarCorrection(
            year=year, holidays=frozenset(body.holidays), workdays=frozenset(body.workdays)
        )
    except ValueError as error:
        raise invalid("holidays", str(error)) from error
    watch = request.app.state.calendar_watch
    try:
        await watch.load(correction, by=principal.name)
    except UnlawfulYear as unlawful:
        problems = [
            ErrorItem(field="holidays", location="body", message=p.message, code="unlawful")
            for p in unlawful.problems
        ]
        raise ApiError(422, "invalid_request", str(unlawful), errors=problems) from unlawful
    return coverage(request.app.state.calendar, watch.pending)


class Absence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    absent: bool
    delegate_to: str | None = Field(default=None, max_length=64, description="colleague's id")
    reason: str = Field(default="请假", min_length=1, max_length=200)


class AbsenceResult(BaseModel):
    staff_id: str
    absent: bool
    delegated_to: str | None
    delegated: list[str]


@router.post(
    "/hospitals/{hospital_id}/staff/{staff_id}/absence",
    response_model=AbsenceResult,
    responses=error_responses(403, 404),
    summary="Mark a staff member absent (or back); delegate their open cases (委托)",
)
async def set_absence(
    hospital_id: str,
    staff_id: str,
    body: Absence,
    request: Request,
    principal: CurrentPrincipal,
) -> AbsenceResult:
    if not principal.may_see(hospital_id):
        raise forbidden("hospital_id: not your hospital")
    state = request.app.state
    hospital = await state.region.hospital(hospital_id)
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
        await state.region.set_absence(hospital_id, staff_id, body.absent)
    except (KeyError, ValidationError) as error:  # pragma: no cover - checked above
        raise not_found(str(error)) from error
    delegated: list[str] = []
    if body.absent and body.delegate_to:
        for clock in await state.clocks.open_of_handler(hospital_id, staff_id):
            moved = await lifecycle.delegate(
                clock,
                delegate_to=body.delegate_to,
                reason=f"委托：{members[staff_id].name}{body.reason}，由{members[body.delegate_to].name}代办",
                clocks=state.clocks,
                rulebook=state.rulebook,
            )
            if moved:
                delegated.append(clock["_id"])
    return AbsenceResult(
        staff_id=staff_id,
        absent=body.absent,
        delegated_to=body.delegate_to if body.absent else None,
        delegated=delegated,
    )
