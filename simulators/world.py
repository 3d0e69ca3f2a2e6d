"""A whole simulated cart: one simulator per device, and the devices.toml that names them.

Used by `cart serve --simulate`, `cart simulate` and the end-to-end tests. Each
simulator speaks its device's wire protocol over a real transport; the returned
device list points the drivers at them exactly as a technician's devices.toml would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from cart.devices import DeviceConfig, Role, dump_devices
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
    devices: list[DeviceConfig] = field(default_factory=list)
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
        return self

    def write_devices_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# Written by the simulated cart; ports change on every start.\n\n"
        path.write_text(header + dump_devices(self.devices), encoding="utf-8")

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
