"""Patients: register (CURP validated) and find by CURP or name.

CURP and names are personal data: nothing here logs them (tests grep the logs).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from sqlalchemy.exc import IntegrityError

from cart.curp import CurpError, normalise, validate_curp
from cart.errors import ValidationError
from cart.store import Store
from cart.store.models import Patient
from service.api.deps import StateDep, StoreDep
from service.auditing import record
from service.auth import PatientUser, patient_user
from service.errors import problem
from service.schemas import DB_INT_MAX, PatientCreate, PatientPublic

router = APIRouter(prefix="/patients", tags=["patients"], dependencies=[Depends(patient_user)])

EARLIEST_BIRTH = date(1900, 1, 1)

_CONFLICT = {
    "description": "A patient with this CURP is already registered",
    "content": {
        "application/json": {
            "example": {
                "detail": {
                    "message": "a patient with this CURP is already registered",
                    "existing_id": 7,
                    "nurse_message": "Esta CURP ya está registrada: use el paciente existente",
                }
            }
        }
    },
}


def _conflict(existing_id: int | None) -> HTTPException:
    return HTTPException(
        status.HTTP_409_CONFLICT,
        {
            "message": "a patient with this CURP is already registered",
            "existing_id": existing_id,
            "nurse_message": "Esta CURP ya está registrada: use el paciente existente",
        },
    )


def _invalid(exc: ValidationError) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [problem(exc)])


def _register(store: Store, body: PatientCreate) -> Patient:
    today = date.today()
    if body.birth_date > today:
        raise _invalid(ValidationError("birth_date", "is in the future"))
    if body.birth_date < EARLIEST_BIRTH:
        raise _invalid(ValidationError("birth_date", "is before 1900"))
    try:
        info = validate_curp(body.curp, birth_date=body.birth_date, sex=body.sex, today=today)
    except CurpError as exc:
        raise _invalid(exc) from None
    existing = store.find_patient_by_curp(info.curp)
    if existing is not None:
        raise _conflict(existing.id)
    row = Patient(
        curp=info.curp,
        given_name=body.given_name,
        family_name=body.family_name,
        birth_date=body.birth_date,
        sex=body.sex,
    )
    try:
        return store.add_patient(row)
    except IntegrityError:  # registered by someone else in between; never log the row
        again = store.find_patient_by_curp(info.curp)
        raise _conflict(again.id if again is not None else None) from None


@router.post(
    "",
    response_model=PatientPublic,
    status_code=status.HTTP_201_CREATED,
    responses={409: _CONFLICT, 422: {"description": "Names the field and the reason"}},
)
async def create_patient(
    body: PatientCreate, store: StoreDep, state: StateDep, user: PatientUser
) -> PatientPublic:
    """Register a patient. The CURP's format, check digit, birth date and sex are checked."""
    row = await asyncio.to_thread(_register, store, body)
    await record(state.audit, "patient_create", user, object_type="patient", object_id=row.id)
    return PatientPublic.from_row(row)


@router.get("", response_model=list[PatientPublic], responses={422: {"description": "No query"}})
async def find_patients(
    store: StoreDep,
    state: StateDep,
    user: PatientUser,
    curp: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    q: Annotated[str | None, Query(min_length=2, max_length=100, description="name")] = None,
) -> list[PatientPublic]:
    """Find by exact CURP (``?curp=``) or by part of the name (``?q=``)."""
    if curp is not None:
        row = await asyncio.to_thread(store.find_patient_by_curp, normalise(curp))
        found = [row] if row is not None else []
        by = "curp"
    elif q is not None and q.strip():
        found = await asyncio.to_thread(store.search_patients, q)
        by = "name"
    else:
        found, by = [], ""
    if by:
        # what was searched for is not kept (it is a CURP or a name), only how and how many
        seen = {"by": by, "results": len(found), "ids": [r.id for r in found]}
        await record(state.audit, "patient_search", user, detail=seen)
        return [PatientPublic.from_row(r) for r in found]
    detail: list[dict[str, Any]] = [
        {
            "loc": ["query", "curp"],
            "msg": "give ?curp= or ?q= (at least 2 characters of the name)",
            "type": "missing",
            "nurse_message": "Escriba la CURP o parte del nombre para buscar",
        }
    ]
    raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


@router.get("/{patient_id}", response_model=PatientPublic, responses={404: {}})
async def get_patient(
    patient_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)],
    store: StoreDep,
    state: StateDep,
    user: PatientUser,
) -> PatientPublic:
    row = await asyncio.to_thread(store.get_patient, patient_id)
    outcome = "ok" if row is not None else "not_found"
    await record(
        state.audit,
        "patient_view",
        user,
        object_type="patient",
        object_id=patient_id,
        outcome=outcome,
    )
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"patient {patient_id} not found")
    return PatientPublic.from_row(row)
