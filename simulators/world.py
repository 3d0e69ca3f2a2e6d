"""A whole simulated cart: one simulator per device, and the devices.toml that names them.

Used by `cart serve --simulate`, `cart simulate` and the end-to-end tests. Each
simulator speaks its device's wire protocol over a real transport; the returned
device list points the drivers at them exactly as a technician's devices.toml would.

The default cart: an A&D-format scale on a serial pty, a Modbus RTU height rod (a
pymodbus server behind a pty bridge), a Bluetooth cuff that streams
its cuff pressure, and a Bluetooth glucometer with stored records (``bp="serial"`` swaps
the cuff for an Accutorr-style serial monitor). BLE peripherals live on a bumble
virtual link, ``ble_link``, which the service's radio joins as the central.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from cart.devices import DeviceConfig, Role, dump_devices
from cart.private import write_private
from simulators.ble.config import BloodPressureConfig, GlucometerConfig, GlucoseRecord
from simulators.ble.world import VirtualBleWorld, start_virtual_ble_world
from simulators.modbus_device import start_modbus_height_rod
from simulators.serial_bp import AccutorrSimulator, BPConfig
from simulators.serial_scale import ScaleConfig, SerialScaleSimulator

__all__ = ["PatientScript", "SimulatedCart"]


@dataclass(frozen=True, slots=True)
class PatientScript:
    """The values the simulated devices report (a scriptable patient)."""

    weight_kg: float = 72.4
    height_cm: float = 165.0
    systolic: int = 128
    diastolic: int = 82
    pulse: int = 72
    glucose_mg_dl: float = 104.0


@dataclass
class SimulatedCart:
    """Start with ``async with SimulatedCart(fast=True) as cart: cart.devices``."""

    fast: bool = False
    patient: PatientScript = field(default_factory=PatientScript)
    bp: Literal["ble", "serial"] = "ble"
    glucometer: bool = True
    devices: list[DeviceConfig] = field(default_factory=list)
    ble: VirtualBleWorld | None = None
    _stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def start(self) -> SimulatedCart:
        scale_cfg = ScaleConfig(weight_kg=self.patient.weight_kg)
        if self.fast:
            scale_cfg = ScaleConfig.fast(weight_kg=self.patient.weight_kg)
        scale = await SerialScaleSimulator(scale_cfg).start()
        self._stops.append(scale.stop)
        self.devices.append(
            DeviceConfig(
                id="bascula",
                role=Role.SCALE,
                driver="and.weighing",
                transport="serial",
                port=scale.port,
                timeout_s=10.0 if self.fast else 30.0,
                options={"baudrate": 9600},
            )
        )
        rod, rod_cfg = await start_modbus_height_rod(self.fast, self.patient.height_cm)
        self._stops.append(rod.stop)
        self.devices.append(rod_cfg)
        if self.bp == "serial":
            await self._start_serial_bp()
        ble_devices = (["bp"] if self.bp == "ble" else []) + (
            ["glucometer"] if self.glucometer else []
        )
        if ble_devices:
            await self._start_ble(ble_devices)
        return self

    async def _start_serial_bp(self) -> None:
        bp_cfg = BPConfig(
            systolic=self.patient.systolic,
            diastolic=self.patient.diastolic,
            pulse=self.patient.pulse,
            measure_s=0.05 if self.fast else 30.0,
        )
        cuff = await AccutorrSimulator(bp_cfg).start()
        self._stops.append(cuff.stop)
        self.devices.append(
            DeviceConfig(
                id="baumanometro",
                role=Role.BP,
                driver="datascope.accutorr",
                transport="serial",
                port=cuff.port,
                timeout_s=10.0 if self.fast else 90.0,
                options={"baudrate": 9600, "poll_s": 0.05 if self.fast else 1.0},
            )
        )

    async def _start_ble(self, which: list[str]) -> None:
        p = self.patient
        values: dict[str, Any] = {
            "systolic": float(p.systolic),
            "diastolic": float(p.diastolic),
            "pulse": float(p.pulse),
        }
        bp = BloodPressureConfig.fast(**values) if self.fast else BloodPressureConfig(**values)
        records = (
            GlucoseRecord(97.0, timedelta(days=3), meal="fasting"),
            GlucoseRecord(131.0, timedelta(days=1), meal="postprandial"),
            GlucoseRecord(p.glucose_mg_dl, timedelta(minutes=1)),
        )
        # each screening's patient takes a fresh reading, so a long-running demo keeps working
        fresh = GlucoseRecord(p.glucose_mg_dl)
        glucometer = GlucometerConfig(records=records, reading_on_connect=fresh)
        if self.fast:
            glucometer = GlucometerConfig.fast(records=records, reading_on_connect=fresh)
        self.ble = await start_virtual_ble_world(
            fast=self.fast,
            devices=which,
            bp=bp if "bp" in which else None,
            glucometer=glucometer if "glucometer" in which else None,
        )
        self._stops.append(self.ble.stop)
        ids = {Role.BP: "baumanometro", Role.GLUCOMETER: "glucometro"}
        for cfg in self.ble.device_configs():
            self.devices.append(
                DeviceConfig(
                    id=ids.get(cfg.role, cfg.id),
                    role=cfg.role,
                    driver=cfg.driver,
                    transport=cfg.transport,
                    address=cfg.address,
                    name=cfg.name,
                    timeout_s=cfg.timeout_s,
                    options=dict(cfg.options),
                )
            )

    @property
    def ble_link(self) -> Any:
        """The bumble LocalLink the BLE peripherals are on (None without BLE devices)."""
        return None if self.ble is None else self.ble.link

    def write_devices_file(self, path: Path) -> None:
        header = "# Written by the simulated cart; ports change on every start.\n\n"
        write_private(path, header + dump_devices(self.devices))

    async def stop(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            with contextlib.suppress(Exception):
                await stop()
        self.devices.clear()

    async def __aenter__(self) -> SimulatedCart:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
