"""Technician mode: find, identify and test devices, save ``devices.toml``, reload drivers.

Technicians and administrators only (a nurse gets 403). Everything device-specific is
in :mod:`cart.drivers.identify` and :mod:`cart.device_setup`; this composes them with
the app's state, refuses to touch devices while a measuring run exists (409), and
writes each action to the audit trail with kinds and counts only (no value).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse

from cart.device_setup import (
    active_runs,
    backup_path,
    save_devices,
    take_test_reading,
    validate_devices,
)
from cart.devices import load_devices
from cart.drivers.identify import identify_serial, scan_ble, serial_candidates
from cart.errors import ConfigError, DeviceBusy, DeviceError
from cart.store.accounts import Principal
from cart.users import Role as UserRole
from service.api.deps import StateDep
from service.api.routes.devices import list_devices
from service.auditing import record
from service.auth import require
from service.device_rig import DeviceRig, MeasuringNow
from service.errors import error_body
from service.setup_texts import config_problem, identified_es, location_problem
from service.technician_schemas import (
    BleAdvertiserPublic,
    DeviceEntry,
    DevicesFile,
    DevicesSave,
    IdentifyRequest,
    IdentifyResult,
    MeasurementShown,
    ReloadResult,
    ScanRequest,
    ScanResult,
    SerialPortPublic,
    TestReadingResult,
)

router = APIRouter(prefix="/technician", tags=["technician"])
log = logging.getLogger(__name__)

TechnicianUser = Annotated[Principal, Depends(require(UserRole.TECHNICIAN, UserRole.ADMINISTRATOR))]

MEASURING_ES = (
    "Hay una medición en curso: espere a que la enfermera termine antes de probar o "
    "recargar los equipos"
)
BUSY_ES = "Otra prueba de equipos está en curso: espere a que termine"

_CONFLICT: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: {
        "description": "A measuring run is active, or another technician action is running"
    }
}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "The entries are not a valid devices.toml (Spanish in nurse_message)"}
}
_DEVICE: dict[int | str, dict[str, Any]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "description": "The device did not answer or reported an error (Spanish advice)"
    }
}


# --------------------------------------------------------------------------- helpers


def get_rig(request: Request) -> DeviceRig:
    rig: DeviceRig = request.app.state.device_rig
    return rig


RigDep = Annotated[DeviceRig, Depends(get_rig)]


def _conflict(message: str, nurse: str, reason: str) -> HTTPException:
    return HTTPException(
        status.HTTP_409_CONFLICT,
        {"type": "Conflict", "message": message, "nurse_message": nurse, "reason": reason},
    )


async def _measuring(state: Any) -> bool:
    """A run row is active or a run holds devices (a "Medir" between its checks and its row)."""
    return bool(await asyncio.to_thread(active_runs, state.store) or state.runs.busy_devices())


def _refuse_if_busy(rig: DeviceRig) -> None:
    if rig.busy.locked():
        raise _conflict("another technician action is running", BUSY_ES, "busy")


@contextlib.asynccontextmanager
async def _holding_devices(state: Any, rig: DeviceRig) -> AsyncIterator[None]:
    """The devices for one technician action: none other, and no run measuring."""
    _refuse_if_busy(rig)
    async with rig.busy:
        if await _measuring(state):  # inside: "Medir" re-checks the lock
            raise _conflict("a measuring run is active", MEASURING_ES, "measuring")
        yield


async def _radio_free(state: Any, rig: DeviceRig) -> str | None:
    """Why the Bluetooth scan must wait (Spanish), or None: a run's devices may be
    scanning and connecting on the same radio, and so may a technician's test."""
    if await _measuring(state):
        return "Hay una medición en curso: la búsqueda Bluetooth se hará cuando termine"
    if rig.busy.locked():
        return BUSY_ES
    return None


def _invalid(exc: ConfigError, nurse: str) -> JSONResponse:
    item = {"loc": ["body", "devices"], "msg": exc.message, "type": "ConfigError"}
    return JSONResponse(status_code=422, content={"detail": [{**item, "nurse_message": nurse}]})


def _location_ok(path: str) -> str | None:
    """Spanish reason why ``path`` may not be opened (None: it may)."""
    if "\x00" in path:  # os.path refuses it outright
        return location_problem(path, path)
    return location_problem(path, os.path.realpath(path) if "://" not in path else path)


# --------------------------------------------------------------------------- routes


@router.post("/scan", response_model=ScanResult)
async def scan(
    state: StateDep, rig: RigDep, user: TechnicianUser, body: ScanRequest | None = None
) -> ScanResult:
    """Serial ports (the system's, by-id links, and the ``paths`` given) and BLE advertisers."""
    body = body or ScanRequest()
    configured = {c.config.location: c.config.id for c in state.devices.statuses()}
    given = [p for p in body.paths if _location_ok(p) is None]
    ports = await asyncio.to_thread(serial_candidates, given)
    serial = [
        SerialPortPublic(
            path=p.path,
            description=p.description,
            hardware_id=p.hardware_id,
            source=p.source,  # type: ignore[arg-type]
            present=p.present,
            configured_as=configured.get(p.path),
        )
        for p in ports
    ]
    ble: list[BleAdvertiserPublic] = []
    ble_error: str | None = None
    if body.bluetooth:
        ble_error = await _radio_free(state, rig)
    if body.bluetooth and ble_error is None:
        try:
            async with rig.busy:  # one user of the radio's scanner at a time
                extra = await rig.radio()
                heard = await scan_ble(extra.get("backend"), body.ble_timeout_s)
        except Exception as exc:  # no adapter, no BlueZ: the serial list still helps
            log.warning("Bluetooth scan failed: %s", type(exc).__name__)
            ble_error = "El Bluetooth del carrito no está disponible: revise el adaptador"
        else:
            ble = [
                BleAdvertiserPublic(
                    address=a.address,
                    name=a.name,
                    rssi=a.rssi,
                    services=list(a.services),
                    driver=a.driver,
                    role=a.role,
                    configured_as=configured.get(a.address),
                )
                for a in heard
            ]
    await record(
        state.audit,
        "device_scan",
        user,
        detail={"serial_ports": len(serial), "ble_advertisers": len(ble), "given": len(given)},
    )
    return ScanResult(serial=serial, ble=ble, ble_error=ble_error)


@router.post(
    "/identify",
    response_model=IdentifyResult,
    responses={**_CONFLICT, **_INVALID, 404: {"description": "No such port"}},
)
async def identify(
    state: StateDep, rig: RigDep, user: TechnicianUser, body: IdentifyRequest
) -> IdentifyResult | JSONResponse:
    """Which protocol family answers on a serial port (its own harmless handshake; no
    reading, no clock set). Bluetooth devices are identified by the scan already."""
    problem = _location_ok(body.path)
    if problem is not None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {
                "type": "DeviceNotFound",
                "message": f"not a serial port: {body.path}",
                "nurse_message": problem,
            },
        )
    async with _holding_devices(state, rig):
        try:
            found = await identify_serial(
                body.path, families=body.families, modbus_ids=body.modbus_ids
            )
        except DeviceBusy as exc:
            raise _conflict(
                exc.message, "El puerto está en uso por otro programa", "in_use"
            ) from None
        except ConfigError as exc:  # a family the cart does not know
            return _invalid(exc, "Uno de los tipos de equipo pedidos no existe en el carrito")
    await record(
        state.audit,
        "device_identify",
        user,
        outcome="ok" if found else "unknown",
        detail={"driver": found.driver if found else None},
    )
    if found is None:
        return IdentifyResult(
            identified=False,
            location=body.path,
            evidence="no known handshake answered",
            message=(
                "Ningún equipo conocido respondió en este puerto: revise que esté encendido, "
                "conectado y en modo de transferencia"
            ),
        )
    return IdentifyResult(
        identified=True,
        driver=found.driver,
        transport=found.transport,  # type: ignore[arg-type]
        role=found.role,
        location=found.location,
        options=found.options,
        evidence=found.evidence,
        message=identified_es(found.driver, found.options),
    )


@router.post(
    "/test-reading",
    response_model=TestReadingResult,
    responses={**_CONFLICT, **_INVALID, **_DEVICE},
)
async def test_reading(
    state: StateDep, rig: RigDep, user: TechnicianUser, body: DeviceEntry
) -> TestReadingResult | JSONResponse:
    """One reading from the device described by ``body``, shown and stored nowhere as a
    patient's; device-memory records it downloads are marked as the technician's."""
    if body.port is not None and (problem := _location_ok(body.port)) is not None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            {
                "type": "DeviceNotFound",
                "message": f"not a serial port: {body.port}",
                "nurse_message": problem,
            },
        )
    try:
        extra = await rig.radio() if body.transport == "ble" else {}
        (cfg,) = validate_devices([body.table()], **extra)
    except ConfigError as exc:
        return _invalid(exc, config_problem(exc, [body.table()]))
    async with _holding_devices(state, rig):
        try:
            result = await take_test_reading(
                cfg, state.store, clock_skew_s=state.settings.clock_skew_s, **extra
            )
        except DeviceError as exc:
            await record(
                state.audit,
                "device_test",
                user,
                object_type="device",
                object_id=cfg.id,
                outcome="failed",
                detail={"driver": cfg.driver, "error": exc.type_name},
            )
            return JSONResponse(
                status_code=503, content={"detail": error_body(exc, role=cfg.role.value)}
            )
    await record(
        state.audit,
        "device_test",
        user,
        object_type="device",
        object_id=cfg.id,
        detail={
            "driver": cfg.driver,
            "kinds": sorted({m.kind.value for m in result.measurements}),
            "records": result.records,
            "remembered": result.remembered,
        },
    )
    return TestReadingResult(
        device_id=cfg.id,
        driver=cfg.driver,
        measurements=[
            MeasurementShown(
                kind=m.kind.value,
                value=m.value,
                decimals=m.decimals,
                unit=m.unit,
                special=m.special.value if m.special else None,
                flags=list(m.flags),
            )
            for m in result.measurements
        ],
        device_time=result.device_time.isoformat() if result.device_time else None,
        clock_offset_s=result.clock_offset_s,
        records=result.records,
        remembered=result.remembered,
    )


@router.get("/devices", response_model=DevicesFile)
async def devices_file(state: StateDep, user: TechnicianUser) -> DevicesFile:
    """The saved devices.toml (what a reload would load)."""
    path: Path = state.settings.devices_file
    backup = backup_path(path)
    entries: list[DeviceEntry] = []
    problem: str | None = None
    if path.exists():
        try:
            entries = [DeviceEntry.of(c) for c in load_devices(path)]
        except (ConfigError, ValueError) as exc:
            message = exc.message if isinstance(exc, ConfigError) else str(exc)
            log.warning("devices file does not load: %s", message)
            problem = "El archivo de equipos guardado no es válido: guarde una configuración nueva"
    return DevicesFile(
        path=str(path),
        exists=path.exists(),
        backup=str(backup) if backup.exists() else None,
        devices=entries,
        problem=problem,
    )


@router.put("/devices", response_model=DevicesFile, responses=_INVALID)
async def save(
    state: StateDep, user: TechnicianUser, body: DevicesSave
) -> DevicesFile | JSONResponse:
    """Validate and write devices.toml (atomic, 0600, the previous file kept as .bak).
    The running drivers change only with ``POST /technician/reload``."""
    tables = [d.table() for d in body.devices]
    for entry in body.devices:
        if entry.port is not None and (problem := _location_ok(entry.port)) is not None:
            return _invalid(ConfigError(f"device {entry.id!r}: not a serial port"), problem)
    try:
        configs = validate_devices(tables)
    except ConfigError as exc:
        await record(state.audit, "devices_save", user, outcome="invalid")
        return _invalid(exc, config_problem(exc, tables))
    saved = await asyncio.to_thread(save_devices, state.settings.devices_file, configs)
    await record(
        state.audit,
        "devices_save",
        user,
        detail={
            "devices": len(configs),
            "roles": sorted(c.role.value for c in configs),
            "backup": saved.backup is not None,
        },
    )
    return DevicesFile(
        path=str(saved.path),
        exists=True,
        backup=str(saved.backup) if saved.backup else None,
        devices=[DeviceEntry.of(c) for c in configs],
    )


@router.post("/reload", response_model=ReloadResult, responses={**_CONFLICT, **_INVALID})
async def reload(state: StateDep, rig: RigDep, user: TechnicianUser) -> ReloadResult | JSONResponse:
    """Load the saved devices.toml and swap the drivers in, without restarting; 409 while
    any measuring run is active (a reading in progress is never dropped)."""
    try:
        configs = await asyncio.to_thread(load_devices, state.settings.devices_file)
    except ConfigError as exc:
        return _invalid(exc, "El archivo de equipos guardado no es válido: guárdelo de nuevo")
    _refuse_if_busy(rig)
    async with rig.busy:
        try:
            fresh = await rig.reload(configs, state.devices, state.runs, state.store)
        except MeasuringNow:
            await record(state.audit, "devices_reload", user, outcome="refused")
            raise _conflict("a measuring run is active", MEASURING_ES, "measuring") from None
        old, state.devices = state.devices, fresh  # no await between the check and the swap
        await rig.retire(old, state.runs)
    await record(
        state.audit,
        "devices_reload",
        user,
        detail={"devices": len(configs), "roles": sorted(c.role.value for c in configs)},
    )
    return ReloadResult(devices=await list_devices(fresh))
