"""A clinic's day: today's worklist, a patient's visits, the indicators (issue 13).

``GET /screenings?date=&status=``, ``GET /patients/{id}/screenings`` and
``GET /indicators?from=&to=``; the queries live in :mod:`cart.store.reports`.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel

from cart.errors import ValidationError
from cart.store.models import ScreeningStatus
from cart.store.reports import (
    ScreeningRow,
    day_bounds,
    indicators,
    overall,
    patient_screenings,
    screenings_between,
)
from service.api.deps import StateDep
from service.auth import patient_user
from service.classification import classify_screening
from service.schemas import DB_INT_MAX, PatientPublic
from service.state import CartState

# the worklist and a patient's history are patient data: a nurse or an administrator
router = APIRouter(tags=["reports"], dependencies=[Depends(patient_user)])

WorkStatus = Literal["open", "measuring", "completed", "urgent", "unsent", "rejected"]
MAX_DAYS = 366
#: days a cart can have screened on (also keeps local-midnight arithmetic in range)
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)


def _bad_dates(field: str, why: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [
            {
                "loc": ["query", field],
                "msg": why,
                "type": "value_error",
                "nurse_message": "Revise las fechas: «Hasta» va después de «Desde», "
                "en un periodo de un año como máximo",
            }
        ],
    )


def _check_day(field: str, day: date) -> None:
    if not EARLIEST <= day <= LATEST:
        raise _bad_dates(field, f"must be between {EARLIEST} and {LATEST}")


class ScreeningSummary(BaseModel):
    """One line of the worklist or of a patient's history."""

    id: int
    patient: PatientPublic | None
    status: Literal["open", "measuring", "completed"]
    created_at: datetime
    completed_at: datetime | None
    urgent: bool
    sic: str | None
    """pending, sent or rejected; None while not queued."""
    values: dict[str, float]
    """The latest value per kind, and ``bmi``."""
    decimals: dict[str, int]
    """Digits after the point to show each of ``values`` with, as the device (or the nurse)
    reported it (72.40 kg -> 2); a kind is missing when not known (older rows, ``bmi``)."""
    overall: dict[str, Any]
    """The traffic light per condition (stored at completion, computed before)."""
    known_diagnoses: list[str]
    """What the patient already had: their lights are control status (controlled or not)."""


def _summary(state: CartState, row: ScreeningRow) -> ScreeningSummary:
    s = row.screening
    assert s.id is not None
    result = overall(row)
    if s.status != ScreeningStatus.COMPLETED and row.values:
        try:  # an open screening can be urgent too: classify its readings so far
            records = state.store.measurements_of(s.id)
            result = classify_screening(s, row.patient, records, state.settings)["overall"]
        except ValidationError:
            result = {}
    if s.status == ScreeningStatus.COMPLETED:
        shown = "completed"
    else:
        shown = "measuring" if state.runs.running(s.id) else "open"
    return ScreeningSummary(
        id=s.id,
        patient=PatientPublic.from_row(row.patient) if row.patient is not None else None,
        status=shown,  # type: ignore[arg-type]
        created_at=s.created_at,
        completed_at=s.completed_at,
        urgent=bool(result.get("urgent_attention")),
        sic=row.sic,
        values=row.values,
        decimals=row.decimals,
        overall={k: v for k, v in result.items() if isinstance(v, str | bool | None)},
        known_diagnoses=list(s.known_diagnoses),
    )


def _wanted(item: ScreeningSummary, wanted: WorkStatus | None) -> bool:
    if wanted is None:
        return True
    if wanted in ("open", "measuring", "completed"):
        return item.status == wanted or (wanted == "open" and item.status == "measuring")
    if wanted == "urgent":
        return item.urgent
    if wanted == "unsent":
        return item.status == "completed" and item.sic in (None, "pending")
    return item.sic == "rejected"


@router.get("/screenings", response_model=list[ScreeningSummary])
async def list_screenings(
    state: StateDep,
    day: Annotated[date | None, Query(alias="date", description="local day; today")] = None,
    wanted: Annotated[WorkStatus | None, Query(alias="status")] = None,
) -> list[ScreeningSummary]:
    """The day's screenings, oldest first: open (measuring included), completed, urgent,
    unsent (completed, waiting for SIC) or rejected by SIC."""
    zone = state.settings.zone
    when = day or datetime.now(zone).date()
    _check_day("date", when)

    def load() -> list[ScreeningSummary]:
        start, end = day_bounds(when, when, zone)
        rows = screenings_between(state.store, start, end)
        return [item for item in (_summary(state, r) for r in rows) if _wanted(item, wanted)]

    return await asyncio.to_thread(load)


@router.get(
    "/patients/{patient_id}/screenings",
    response_model=list[ScreeningSummary],
    responses={404: {"description": "No such patient"}},
)
async def history(
    patient_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)], state: StateDep
) -> list[ScreeningSummary]:
    """The patient's screenings, newest first, with their values and traffic lights."""

    def load() -> list[ScreeningSummary]:
        if state.store.get_patient(patient_id) is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                {
                    "message": f"patient {patient_id} not found",
                    "nurse_message": "No se encontró al paciente: búsquelo de nuevo",
                },
            )
        return [_summary(state, r) for r in patient_screenings(state.store, patient_id)]

    return await asyncio.to_thread(load)


@router.get("/indicators", responses={422: {"description": "Bad range"}})
async def get_indicators(
    state: StateDep,
    first: Annotated[date, Query(alias="from")],
    last: Annotated[date, Query(alias="to")],
) -> dict[str, Any]:
    """Screenings per day, % complete, % at risk or probable per condition, urgent cases,
    SIC backlog and rejections, over local days ``from``..``to`` (inclusive)."""
    _check_day("from", first)
    _check_day("to", last)
    if last < first or (last - first).days >= MAX_DAYS:
        raise _bad_dates("to", f"'to' must be on or after 'from' and within {MAX_DAYS} days")
    result = await asyncio.to_thread(indicators, state.store, first, last, state.settings.zone)
    return result.to_json()
