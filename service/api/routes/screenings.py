"""Screenings: create, read, measure in the background with live progress, enter by hand,
complete.

``POST /{id}/measure`` answers 202 at once; the devices are read by a background run
(:mod:`service.runs`) that stores each reading on arrival and publishes its progress,
streamed as Server-Sent Events by ``GET /{id}/events``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse

from cart.attribution import Window
from cart.config import Settings
from cart.drivers.base import Progress, ProgressStage
from cart.errors import ImplausibleValue, NotAttributed, ScreeningConflict, ValidationError
from cart.measurement import Measurement
from cart.plausibility import check_plausible
from cart.screening import BpProtocol, ReadingEvent, bp_summary, measure_devices
from cart.store.models import MeasurementRecord, RunStatus, Screening, ScreeningStatus
from cart.store.repo import ScreeningRows
from service.api.deps import ScreeningId, StateDep
from service.auditing import record
from service.auth import PatientUser, patient_user
from service.classification import classify_screening
from service.device_manager import DeviceStatus
from service.errors import error_body, problem
from service.runs import MeasureRun, RunEvent
from service.schemas import (
    BpStatus,
    ManualEntry,
    MeasureAccepted,
    MeasureCancelled,
    MeasurementPublic,
    MeasureRequest,
    ProblemItem,
    ScreeningCreate,
    ScreeningPublic,
)
from service.state import CartState

router = APIRouter(prefix="/screenings", tags=["screenings"], dependencies=[Depends(patient_user)])
log = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]
_404: Responses = {404: {"description": "No such screening"}}
_409: Responses = {409: {"description": "Completed, already measuring, or a device is in use"}}


def _http(code: int, message: str, nurse: str, **extra: Any) -> HTTPException:
    return HTTPException(code, {"message": message, "nurse_message": nurse, **extra})


def _not_found(screening_id: int) -> HTTPException:
    return _http(
        status.HTTP_404_NOT_FOUND,
        f"screening {screening_id} not found",
        "No se encontró el tamizaje: vuelva a buscar al paciente",
    )


def _load(state: CartState, screening_id: int) -> Screening:
    row = state.store.get_screening(screening_id)
    if row is None:
        raise _not_found(screening_id)
    return row


def _completed(screening_id: int) -> HTTPException:
    return _http(
        status.HTTP_409_CONFLICT,
        f"screening {screening_id} is already completed",
        "Este tamizaje ya se guardó: inicie uno nuevo para medir otra vez",
    )


def _measuring(screening_id: int) -> HTTPException:
    return _http(
        status.HTTP_409_CONFLICT,
        f"screening {screening_id} is already measuring",
        "Ya se está midiendo: espere a que termine",
    )


def _status(state: CartState, row: Screening) -> str:
    assert row.id is not None
    if row.status == ScreeningStatus.COMPLETED:
        return ScreeningStatus.COMPLETED
    return ScreeningStatus.MEASURING if state.runs.running(row.id) else ScreeningStatus.OPEN


def _public(state: CartState, row: Screening) -> ScreeningPublic:
    """The screening with its patient, measurements and classification (in a thread)."""
    assert row.id is not None
    store = state.store
    patient = store.get_patient(row.patient_id) if row.patient_id is not None else None
    records = store.measurements_of(row.id)
    classification = row.classification
    error: ProblemItem | None = None
    if row.status != ScreeningStatus.COMPLETED:
        try:
            classification = classify_screening(row, patient, records, state.settings)
        except ValidationError as exc:
            classification = None
            error = ProblemItem(**problem(exc, where="input"))
    summary = bp_summary(records, state.settings.bp_readings)
    return ScreeningPublic.build(
        row,
        patient=patient,
        measurements=records,
        status=_status(state, row),
        classification=classification,
        classification_error=error,
        bp=BpStatus(required=summary.required, valid=summary.valid, complete=summary.complete)
        if summary.valid
        else None,
    )


@router.post(
    "",
    response_model=ScreeningPublic,
    status_code=status.HTTP_201_CREATED,
    responses={422: {"description": "Unknown patient or invalid options"}},
)
async def create_screening(
    body: ScreeningCreate, state: StateDep, user: PatientUser
) -> ScreeningPublic:
    patient = await asyncio.to_thread(state.store.get_patient, body.patient_id)
    if patient is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["body", "patient_id"],
                    "msg": "no such patient",
                    "type": "not_found",
                    "nurse_message": "El paciente no existe: búsquelo o regístrelo de nuevo",
                }
            ],
        )
    row = Screening(
        patient_id=body.patient_id,
        glucose_context=body.glucose_context,
        known_diagnoses=list(body.known_diagnoses),
        ruleset=state.settings.ruleset,
        opened_by=user.user_id,
    )
    row = await asyncio.to_thread(state.store.add_screening, row)
    await record(
        state.audit,
        "screening_create",
        user,
        object_type="screening",
        object_id=row.id,
        detail={"patient_id": body.patient_id},
    )
    return await asyncio.to_thread(_public, state, row)


@router.get("/{screening_id}", response_model=ScreeningPublic, responses=_404)
async def get_screening(
    screening_id: ScreeningId, state: StateDep, user: PatientUser
) -> ScreeningPublic:
    """Patient, status, measurements and the classification of the latest readings."""
    row = await asyncio.to_thread(_load, state, screening_id)
    await record(
        state.audit,
        "screening_view",
        user,
        object_type="screening",
        object_id=screening_id,
        detail={"patient_id": row.patient_id},
    )
    return await asyncio.to_thread(_public, state, row)


# --------------------------------------------------------------------------- measuring


@router.post(
    "/{screening_id}/measure",
    response_model=MeasureAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **_404,
        **_409,
        503: {"description": "No usable device among those selected"},
    },
)
async def measure(
    screening_id: ScreeningId,
    state: StateDep,
    user: PatientUser,
    request: Request,
    body: MeasureRequest | None = None,
) -> MeasureAccepted:
    """Start reading the selected devices (all when none are named); progress at ``/events``.

    The run owns the screening until it ends or is cancelled: only its readings are
    stored, and only while it owns it.
    """
    row = await asyncio.to_thread(_load, state, screening_id)
    if row.status == ScreeningStatus.COMPLETED:
        raise _completed(screening_id)
    if state.runs.running(screening_id):
        raise _measuring(screening_id)
    wanted = list(dict.fromkeys(body.devices)) if body and body.devices else None
    statuses = (
        [state.devices.get(i) for i in wanted]  # DeviceNotFound -> 404
        if wanted is not None
        else state.devices.statuses()
    )
    usable = [s for s in statuses if s.driver is not None]
    if not usable:
        raise _http(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "no usable device to measure with",
            "No hay equipos disponibles para medir: avise al técnico",
        )
    busy = state.runs.busy_devices()
    in_use = [s.config.id for s in usable if s.config.id in busy]
    if in_use:
        raise _http(
            status.HTTP_409_CONFLICT,
            f"device {in_use[0]} is measuring screening {busy[in_use[0]]}",
            "El equipo se está usando en otro tamizaje: espere a que termine",
            devices=in_use,
        )
    ids = [s.config.id for s in usable]
    try:
        run_id = await asyncio.to_thread(state.store.start_run, screening_id, ids, user.user_id)
    except ScreeningConflict as exc:
        raise _conflict(exc) from None
    rig = getattr(request.app.state, "device_rig", None)
    if rig is not None and rig.busy.locked():  # checked with no await before runs.start
        await asyncio.to_thread(state.store.end_run, run_id, RunStatus.CANCELLED)
        raise _http(
            status.HTTP_409_CONFLICT,
            "the technician is testing or reloading the devices",
            "El técnico está probando los equipos: espere unos segundos y presione Medir",
            reason="device_setup",
        )
    state.runs.start(screening_id, ids, lambda run: _run(state, run, usable), run_id=run_id)
    await record(
        state.audit,
        "measure_start",
        user,
        object_type="screening",
        object_id=screening_id,
        detail={"devices": ids, "run_id": run_id},
    )
    return MeasureAccepted(
        screening_id=screening_id,
        devices=ids,
        events=f"/api/v1/screenings/{screening_id}/events",
        run_id=run_id,
    )


@router.post(
    "/{screening_id}/measure/cancel",
    response_model=MeasureCancelled,
    responses=_404,
)
async def cancel_measure(
    screening_id: ScreeningId, state: StateDep, user: PatientUser
) -> MeasureCancelled:
    """Stop the screening's measuring run (e.g. the nurse changes patient).

    The run no longer owns the screening from this moment: a reading that arrives
    afterwards is kept in the raw log only, never attributed to anyone.
    """
    await asyncio.to_thread(_load, state, screening_id)
    cancelled = await asyncio.to_thread(state.store.cancel_run, screening_id)
    stopped = await state.runs.cancel(screening_id)
    await record(
        state.audit, "measure_cancel", user, object_type="screening", object_id=screening_id
    )
    return MeasureCancelled(
        screening_id=screening_id, cancelled=cancelled is not None or stopped, run_id=cancelled
    )


def _conflict(exc: ScreeningConflict) -> HTTPException:
    return _http(status.HTTP_409_CONFLICT, exc.message, exc.nurse_message, reason=exc.reason)


def _records_json(records: list[MeasurementRecord]) -> list[dict[str, Any]]:
    return [MeasurementPublic.from_row(r).model_dump(mode="json") for r in records]


def _detail_json(detail: Any) -> Any:
    try:
        return jsonable_encoder(dict(detail))
    except (TypeError, ValueError):
        return {key: str(value) for key, value in dict(detail).items()}


def _bp_protocol(settings: Settings) -> BpProtocol:
    return BpProtocol(
        readings=settings.bp_readings,
        interval_s=settings.bp_interval_s,
        max_difference_mmhg=settings.bp_max_difference_mmhg,
        extra_readings=settings.bp_extra_readings,
    )


async def _run(state: CartState, run: MeasureRun, selected: list[DeviceStatus]) -> None:
    """The background run: read, store on arrival, publish every step."""
    roles = {s.config.id: s.config.role.value for s in selected}
    readings: dict[str, list[dict[str, Any]]] = {}
    settings = state.settings
    screening = await asyncio.to_thread(_load, state, run.screening_id)
    floor = await asyncio.to_thread(state.store.attribution_floor, run.screening_id)
    window = Window(
        floor=floor,
        start=screening.created_at,
        zone=settings.zone,
        grace_s=settings.freshness_grace_s,
        skew_threshold_s=settings.clock_skew_s,
    )
    run.publish(
        "started",
        {
            "devices": [{"device_id": d, "role": r} for d, r in roles.items()],
            "bp_readings": settings.bp_readings,
            "bp_interval_s": settings.bp_interval_s,
            "run_id": run.run_id,
        },
    )

    def on_progress(event: Progress) -> None:
        state.devices.on_progress(event)
        if event.stage is ProgressStage.DONE:
            return  # "done" is published once the reading is stored
        run.publish(
            event.stage.value,
            {
                "device_id": event.device_id,
                "role": roles.get(event.device_id),
                "stage": event.stage.value,
                "message": event.message,
                "measurement": event.measurement.to_json() if event.measurement else None,
                "detail": _detail_json(event.detail),
            },
        )

    def on_result(event: ReadingEvent) -> None:
        base = {"device_id": event.device_id, "role": roles.get(event.device_id)}
        if event.error is not None:
            if not isinstance(event.error, NotAttributed):
                state.devices.on_error(event.device_id, event.error)
            run.publish(
                "error",
                {
                    **base,
                    "stage": "error",
                    "reading": event.reading,
                    "readings": event.readings,
                    "error": error_body(event.error, role=base["role"]),
                },
            )
            return
        assert event.stored is not None
        stored = _records_json(event.stored.records)
        if not event.final:
            readings.setdefault(event.device_id, []).append(
                {"reading": event.reading, "measurements": stored}
            )
            run.publish(
                "reading",
                {
                    **base,
                    "stage": "reading",
                    "reading": event.reading,
                    "readings": event.readings,
                    "measurements": stored,
                },
            )
            return
        run.publish(
            "done",
            {
                **base,
                "stage": "done",
                "measurements": stored,
                "readings": readings.pop(event.device_id, []),
            },
        )

    try:
        outcomes = await measure_devices(
            state.store,
            run.screening_id,
            [s.driver for s in selected if s.driver is not None],
            progress=on_progress,
            on_result=on_result,
            bp=_bp_protocol(settings),
            window=window,
            run_id=run.run_id,
        )
    finally:
        if run.run_id is not None:
            await asyncio.shield(asyncio.to_thread(state.store.end_run, run.run_id))
    run.publish(
        "end",
        {
            "status": "finished",
            "ok": [o.device_id for o in outcomes if o.ok],
            "failed": [o.device_id for o in outcomes if not o.ok],
        },
    )


#: how often an idle events stream checks that the service is not stopping
STOP_POLL_S = 0.5
#: an idle events stream sends a comment this often (proxies drop silent connections)
KEEPALIVE_S = 15.0


def _sse(event: RunEvent) -> bytes:
    data = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.event}\ndata: {data}\n\n".encode()


@router.get(
    "/{screening_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events of the screening's last measuring run: "
            "started, connecting, waiting, progress, reading, done, error, end. The log "
            "is replayed from the start (or after Last-Event-ID); the stream ends with "
            "the run.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        404: {"description": "No such screening, or it was never measured"},
        422: {"description": "Last-Event-ID is not a number"},
    },
)
async def events(
    screening_id: ScreeningId,
    state: StateDep,
    request: Request,
    # ASCII digits only: "²" or "١٢" are digits to str.isdigit but not ids
    last_event_id: Annotated[str | None, Header(max_length=18, pattern=r"^[0-9]*$")] = None,
) -> StreamingResponse:
    """The progress of the last measuring run as Server-Sent Events."""
    await asyncio.to_thread(_load, state, screening_id)
    run = state.runs.get(screening_id)
    if run is None:
        raise _http(
            status.HTTP_404_NOT_FOUND,
            f"screening {screening_id} has no measuring run",
            "Todavía no se ha medido: presione Medir",
        )
    after = int(last_event_id) if last_event_id else 0

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        quiet = 0.0
        async for event in run.follow(after, keepalive_s=STOP_POLL_S):
            # the service is stopping (Ctrl-C): end the stream now, or uvicorn waits for
            # it and then cancels it with a traceback
            if getattr(request.app.state, "stopping", False):
                return
            if event is not None:
                quiet = 0.0
                yield _sse(event)
                continue
            quiet += STOP_POLL_S
            if quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield b": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --------------------------------------------------------------------------- by hand


def _manual(
    state: CartState, screening_id: int, body: ManualEntry, user_id: int
) -> MeasurementRecord:
    row = _load(state, screening_id)
    if row.status == ScreeningStatus.COMPLETED:
        raise _completed(screening_id)
    try:
        measurement = Measurement.create(
            body.kind, body.value, body.unit, decimals=body.typed_decimals()
        )
        check_plausible([measurement])
    except ImplausibleValue as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, [problem(exc, field="value")]
        ) from None
    except ValidationError as exc:
        field = exc.field if exc.field in ("unit", "decimals") else "value"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, [problem(exc, field=field)]
        ) from None
    except (ArithmeticError, ValueError):  # e.g. a conversion overflowing to infinity
        exc2 = ValidationError("value", "cannot be converted to the canonical unit")
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [problem(exc2)]) from None
    try:
        stored = state.store.record_reading(
            screening_id,
            [measurement],
            device_id=None,
            protocol="manual",
            manual_entry=True,
            recorded_by=user_id,
        )
    except NotAttributed as exc:  # completed meanwhile
        raise _http(status.HTTP_409_CONFLICT, exc.message, exc.nurse_message) from None
    return stored.records[0]


@router.post(
    "/{screening_id}/measurements",
    response_model=MeasurementPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        **_404,
        409: {"description": "Screening completed"},
        422: {"description": "Implausible value or unknown unit"},
    },
)
async def add_measurement(
    screening_id: ScreeningId, body: ManualEntry, state: StateDep, user: PatientUser
) -> MeasurementPublic:
    """Enter a value by hand (waist always; any device as a fallback): flagged manual_entry."""
    stored = await asyncio.to_thread(_manual, state, screening_id, body, user.user_id)
    await record(
        state.audit,
        "measurement_manual",
        user,
        object_type="screening",
        object_id=screening_id,
        detail={"kind": body.kind, "measurement_id": stored.id},
    )
    return MeasurementPublic.from_row(stored)


# --------------------------------------------------------------------------- complete


def _complete(
    state: CartState, screening_id: int, cancel_run: bool, user_id: int
) -> ScreeningPublic:
    store = state.store
    row = _load(state, screening_id)
    if row.status == ScreeningStatus.COMPLETED:
        raise _completed(screening_id)

    def classification(rows: ScreeningRows) -> dict[str, Any]:
        # read inside the completing transaction: no reading can slip in between
        if not rows.measurements:
            raise ScreeningConflict(
                "empty",
                "nothing has been measured in this screening",
                "No hay mediciones: presione Medir o capture los valores",
            )
        return classify_screening(rows.screening, rows.patient, rows.measurements, state.settings)

    try:
        done = store.complete(
            screening_id, classification, cancel_run=cancel_run, completed_by=user_id
        )
    except ScreeningConflict as exc:
        raise _conflict(exc) from None
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, [problem(exc, where="input")]
        ) from None
    if done is None:  # deleted in between
        raise _not_found(screening_id)
    return _public(state, done)


@router.post(
    "/{screening_id}/complete",
    response_model=ScreeningPublic,
    responses={
        **_404,
        409: {"description": "Already completed, still measuring, or nothing measured"},
        422: {"description": "The classification cannot be computed (names the input field)"},
    },
)
async def complete(
    screening_id: ScreeningId, state: StateDep, user: PatientUser, cancel_run: bool = False
) -> ScreeningPublic:
    """Store the classification and queue the screening for SIC.

    While a run is measuring: 409, or with ``cancel_run=true`` the run is cancelled in
    the completing transaction (its late readings are never stored).
    """
    if state.runs.running(screening_id) and not cancel_run:
        raise _measuring(screening_id)
    done = await asyncio.to_thread(_complete, state, screening_id, cancel_run, user.user_id)
    await record(
        state.audit, "screening_complete", user, object_type="screening", object_id=screening_id
    )
    if cancel_run:
        await state.runs.cancel(screening_id)
    if state.sic_worker is not None:
        state.sic_worker.wake()  # push it now rather than at the next poll
    return done
