"""Screenings: create, read, and measure with the cart's devices."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, status

from cart.screening import measure_devices
from cart.store.models import Screening, ScreeningStatus
from service.api.deps import StateDep, StoreDep
from service.errors import error_body
from service.schemas import (
    DeviceResult,
    ErrorPublic,
    MeasurementPublic,
    MeasureRequest,
    MeasureResult,
    ScreeningCreate,
    ScreeningPublic,
)

router = APIRouter(prefix="/screenings", tags=["screenings"])


def _load(store: Any, screening_id: int) -> Screening:
    row: Screening | None = store.get_screening(screening_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"screening {screening_id} not found")
    return row


@router.post("", response_model=ScreeningPublic, status_code=status.HTTP_201_CREATED)
async def create_screening(body: ScreeningCreate, state: StateDep) -> ScreeningPublic:
    store = state.store
    if body.patient_id is not None:
        patient = await asyncio.to_thread(store.get_patient, body.patient_id)
        if patient is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                [{"loc": ["body", "patient_id"], "msg": "no such patient", "type": "not_found"}],
            )
    row = Screening(
        patient_id=body.patient_id,
        glucose_context=body.glucose_context,
        known_diagnoses=list(body.known_diagnoses),
        ruleset=state.settings.ruleset,
    )
    row = await asyncio.to_thread(store.add_screening, row)
    return ScreeningPublic.build(row, [], None)


@router.get("/{screening_id}", response_model=ScreeningPublic)
async def get_screening(screening_id: int, store: StoreDep) -> ScreeningPublic:
    row = await asyncio.to_thread(_load, store, screening_id)
    measurements = await asyncio.to_thread(store.measurements_of, screening_id)
    return ScreeningPublic.build(row, measurements, row.classification)


@router.post("/{screening_id}/measure", response_model=MeasureResult)
async def measure(
    screening_id: int, state: StateDep, body: MeasureRequest | None = None
) -> MeasureResult:
    """Read the selected devices (all when none are named) and store each reading."""
    store = state.store
    row = await asyncio.to_thread(_load, store, screening_id)
    if row.status == ScreeningStatus.COMPLETED:
        raise HTTPException(status.HTTP_409_CONFLICT, "screening already completed")
    if screening_id in state.measuring:
        raise HTTPException(status.HTTP_409_CONFLICT, "a measurement is already running")
    drivers = state.devices.drivers(body.devices if body else None)
    state.measuring.add(screening_id)
    try:
        outcomes = await measure_devices(
            store, screening_id, drivers, progress=state.devices.on_progress
        )
    finally:
        state.measuring.discard(screening_id)
    results = []
    for outcome in outcomes:
        if outcome.error is not None:
            state.devices.on_error(outcome.device_id, outcome.error)
            body_err = error_body(outcome.error)
            results.append(
                DeviceResult(
                    device_id=outcome.device_id,
                    status="error",
                    measurements=[],
                    error=ErrorPublic(**body_err),
                )
            )
        else:
            assert outcome.stored is not None
            results.append(
                DeviceResult(
                    device_id=outcome.device_id,
                    status="done",
                    measurements=[
                        MeasurementPublic.from_row(r).model_dump(mode="json")
                        for r in outcome.stored.records
                    ],
                    error=None,
                )
            )
    return MeasureResult(screening_id=screening_id, results=results)
