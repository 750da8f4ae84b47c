"""Routing's admin API: the working-day calendar (bureau) and staff absence with
delegation of open cases (the hospital, or the bureau)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.routing import lifecycle
from services.routing.domain.calendar import CalendarCorrection
from shared.auth import CurrentPrincipal
from shared.errors import error_responses, forbidden, invalid, not_found

router = APIRouter(prefix="/v1/admin", responses=error_responses(401, 422, 503))
CALENDAR_HORIZON = timedelta(days=45)


class YearArrangement(BaseModel):
    """One year as the State Council's holiday notice gives it."""

    model_config = ConfigDict(extra="forbid")
    holidays: list[date] = Field(description="rest days (放假), weekday ones at least")
    workdays: list[date] = Field(default_factory=list, description="weekend days worked (调休)")


class CalendarCoverage(BaseModel):
    covered_until: date
    corrected_years: list[int]
    horizon_days: int
    warning: str | None


def calendar_warning(calendar: Any, today: date) -> str | None:
    """A note for operators when deadlines will soon fall after the calendar's last day."""
    if calendar.covers(today + CALENDAR_HORIZON):
        return None
    until = calendar.covered_until()
    return (
        f"the official calendar ends on {until}; deadlines after it are refused until the "
        f"bureau loads {until.year + 1} (PUT /v1/admin/calendar/{until.year + 1})"
    )


def calendar_readiness(calendar: Any, today: date, horizon: timedelta) -> str | None:
    """/readyz: fails when `today + horizon` is not covered (deadlines set today may reach
    it), with what to do; otherwise the note of `calendar_warning`, if any."""
    if not calendar.covers(today + horizon):
        until = calendar.covered_until()
        raise LookupError(
            f"the working-day calendar ends on {until}, less than {horizon.days} days ahead: "
            f"deadlines after it are refused and their complaints parked; the bureau loads "
            f"{until.year + 1} with PUT /v1/admin/calendar/{until.year + 1}"
        )
    return calendar_warning(calendar, today)


def coverage(calendar: Any) -> CalendarCoverage:
    today = datetime.now(UTC).date()
    return CalendarCoverage(
        covered_until=calendar.covered_until(),
        corrected_years=sorted(c.year for c in calendar.corrections),
        horizon_days=(calendar.covered_until() - today).days,
        warning=calendar_warning(calendar, today),
    )


@router.get("/calendar", response_model=CalendarCoverage, summary="Working-day calendar coverage")
async def read_calendar(request: Request, principal: CurrentPrincipal) -> CalendarCoverage:
    return coverage(request.app.state.calendar)


@router.put(
    "/calendar/{year}",
    response_model=CalendarCoverage,
    responses=error_responses(403),
    summary="Load or correct one year's holidays and make-up working days (bureau only)",
)
async def put_calendar_year(
    year: int, body: YearArrangement, request: Request, principal: CurrentPrincipal
) -> CalendarCoverage:
    if not principal.is_bureau:
        raise forbidden("only the bureau loads the calendar")
    if not 2000 <= year <= 2100:
        raise invalid("year", "between 2000 and 2100", location="path")
    try:
        correction = CalendarCorrection(
            year=year, holidays=frozenset(body.holidays), workdays=frozenset(body.workdays)
        )
    except ValueError as error:
        raise invalid("holidays", str(error)) from error
    calendar = request.app.state.calendar
    others = [c for c in calendar.corrections if c.year != year]
    calendar.reload([*others, correction])
    await request.app.state.calendar_store.save(correction, by=principal.name)
    return coverage(calendar)


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
        relay = state.runtime.relay_for(state.clocks.collection)
        for clock in await state.clocks.open_of_handler(hospital_id, staff_id):
            moved = await lifecycle.delegate(
                clock,
                delegate_to=body.delegate_to,
                reason=f"委托：{members[staff_id].name}{body.reason}，由{members[body.delegate_to].name}代办",
                clocks=state.clocks,
                rulebook=state.rulebook,
                relay=relay,
            )
            if moved:
                delegated.append(clock["_id"])
    return AbsenceResult(
        staff_id=staff_id,
        absent=body.absent,
        delegated_to=body.delegate_to if body.absent else None,
        delegated=delegated,
    )
