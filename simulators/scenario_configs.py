"""A validated scenario turned into each simulator's config (what the devices hold and do).

Fault names map onto what each transport can show: serial and Modbus devices take
:class:`~simulators.faults.Fault` (``disconnect_mid_transfer`` is the cable pulled out:
``unplug``); Bluetooth devices take :class:`~simulators.ble.config.BleFault` for their
first connection, so a retry succeeds (``unplug`` is the link dropped mid-transfer,
``truncated`` a malformed value), and ``silence`` is a device that is switched off: it is
in devices.toml but never advertises.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Final

from cart import wallclock
from cart.devices import DeviceConfig, Role
from simulators.ble import config as ble
from simulators.faults import Fault
from simulators.scenario import DEVICE_IDS, DeviceScenario, Scenario
from simulators.serial_bp import BPConfig
from simulators.serial_glucometer import GlucometerConfig as SerialGlucometerConfig
from simulators.serial_glucometer import MeterRecord
from simulators.serial_scale import ScaleConfig

__all__ = ["PatientScript", "ScenarioConfigs"]

_BLE_FAULTS: Final = {
    "none": ble.BleFault.NONE,
    "silence": ble.BleFault.NONE,  # handled as "switched off"
    "unplug": ble.BleFault.DISCONNECT_MID_TRANSFER,
    "disconnect_mid_transfer": ble.BleFault.DISCONNECT_MID_TRANSFER,
    "truncated": ble.BleFault.MALFORMED_VALUE,
    "malformed_value": ble.BleFault.MALFORMED_VALUE,
    "no_racp_response": ble.BleFault.NO_RACP_RESPONSE,
}
_ROLES: Final = {"scale": Role.SCALE, "bp": Role.BP, "glucometer": Role.GLUCOMETER}
_DRIVERS: Final = {
    "scale": "ble.weight_scale",
    "bp": "ble.blood_pressure",
    "glucometer": "ble.glucose",
}


@dataclass(frozen=True, slots=True)
class PatientScript:
    """The values the simulated devices report (a scriptable patient)."""

    weight_kg: float = 72.4
    height_cm: float = 165.0
    systolic: int = 128
    diastolic: int = 82
    pulse: int = 72
    glucose_mg_dl: float = 104.0


class ScenarioConfigs:
    """``ScenarioConfigs(scenario, patient, fast=True).ble_bp()`` and the like."""

    def __init__(self, scenario: Scenario, patient: PatientScript, *, fast: bool) -> None:
        self.scenario = scenario
        self.fast = fast
        values: dict[str, Any] = dict(scenario.patient)
        for name in ("systolic", "diastolic", "pulse"):
            if name in values:
                values[name] = round(values[name])
        self.patient = replace(patient, **values)

    def device(self, role: str) -> DeviceScenario:
        return self.scenario.device(DEVICE_IDS[role])

    def serial_fault(self, device_id: str) -> Fault:
        name = self.scenario.device(device_id).fault
        return Fault.UNPLUG if name == "disconnect_mid_transfer" else Fault(name)

    def switched_off(self, role: str) -> bool:
        return self.device(role).fault == "silence"

    # ------------------------------------------------------------------ serial

    def serial_scale(self) -> ScaleConfig:
        make = ScaleConfig.fast if self.fast else ScaleConfig
        return make(weight_kg=self.patient.weight_kg, fault=self.serial_fault("bascula"))

    def serial_bp(self) -> BPConfig:
        p = self.patient
        return BPConfig(
            systolic=p.systolic,
            diastolic=p.diastolic,
            pulse=p.pulse,
            measure_s=0.05 if self.fast else 30.0,
            fault=self.serial_fault("baumanometro"),
        )

    def serial_glucometer(self) -> SerialGlucometerConfig:
        dev = self.device("glucometer")
        meter_now = dev.fixed_clock or wallclock.now() + timedelta(seconds=dev.clock_skew_s)
        meter_now = meter_now.replace(second=0, microsecond=0)
        history = tuple(
            MeterRecord(meter_now - r.age, round(r.values[0]), _serial_meal(r.meal))
            for r in dev.stored
        )
        make: Any = SerialGlucometerConfig.fast if self.fast else SerialGlucometerConfig
        config: SerialGlucometerConfig = make(
            history=history if dev.stored else None,
            new_reading_mg_dl=round(self.patient.glucose_mg_dl) if dev.new_reading else None,
            clock_skew_s=dev.clock_skew_s,
            fixed_clock=dev.fixed_clock,
            clock_writable=dev.clock_writable,
            fault=self.serial_fault("glucometro"),
        )
        return config

    # ------------------------------------------------------------------ Bluetooth

    def _ble_common(self, dev: DeviceScenario) -> dict[str, Any]:
        return {
            "clock_skew_s": dev.clock_skew_s,
            "fixed_clock": dev.fixed_clock,
            "time_writable": dev.clock_writable,
            "fault": _BLE_FAULTS[dev.fault],
        }

    def ble_scale(self) -> ble.WeightScaleConfig:
        dev = self.device("scale")
        stored = tuple(
            ble.StoredWeight(r.values[0], r.age, 1 if r.user_id is None else r.user_id)
            for r in dev.stored
        )
        kwargs: dict[str, Any] = {
            "weight_kg": self.patient.weight_kg,
            "height_cm": self.patient.height_cm,
            "stored": stored,
            "new_reading": dev.new_reading,
            "replay_memory": dev.replay_memory,
            **self._ble_common(dev),
        }
        if dev.user_id is not None:
            kwargs["user_id"] = dev.user_id
        return (
            ble.WeightScaleConfig.fast(**kwargs) if self.fast else ble.WeightScaleConfig(**kwargs)
        )

    def ble_bp(self) -> ble.BloodPressureConfig:
        dev = self.device("bp")
        p = self.patient
        stored = tuple(
            ble.StoredBloodPressure(
                systolic=r.values[0],
                diastolic=r.values[1],
                age=r.age,
                pulse=r.values[2] if len(r.values) > 2 else None,
                user_id=1 if r.user_id is None else r.user_id,
            )
            for r in dev.stored
        )
        kwargs: dict[str, Any] = {
            "systolic": float(p.systolic),
            "diastolic": float(p.diastolic),
            "pulse": float(p.pulse),
            "stored": stored,
            "new_reading": dev.new_reading,
            "replay_memory": dev.replay_memory,
            **self._ble_common(dev),
        }
        if dev.user_id is not None:
            kwargs["user_id"] = dev.user_id
        if self.fast:
            return ble.BloodPressureConfig.fast(**kwargs)
        return ble.BloodPressureConfig(**kwargs)

    def ble_glucometer(self) -> ble.GlucometerConfig:
        dev = self.device("glucometer")
        records = tuple(
            ble.GlucoseRecord(r.values[0], r.age, meal=r.meal)
            for r in sorted(dev.stored, key=lambda r: r.age, reverse=True)
        )
        fresh = ble.GlucoseRecord(self.patient.glucose_mg_dl) if dev.new_reading else None
        kwargs: dict[str, Any] = {
            "records": records,
            # the patient takes the new reading when the cart connects (the nurse pressed
            # "Medir"), and again on each later connection once it was downloaded
            "reading_on_connect": fresh,
            "reading_on_first_connect": fresh is not None,
            **self._ble_common(dev),
        }
        if self.fast:
            return ble.GlucometerConfig.fast(**kwargs)
        return ble.GlucometerConfig(**kwargs)

    def absent_ble_device(self, role: str, config: ble.DeviceOptions) -> DeviceConfig:
        """The devices.toml entry of a Bluetooth device that is switched off."""
        return DeviceConfig(
            id=DEVICE_IDS[role],
            role=_ROLES[role],
            driver=_DRIVERS[role],
            transport="ble",
            address=config.address,
            name=config.name,
            timeout_s=15.0 if self.fast else 180.0,
        )


def _serial_meal(meal: str | None) -> str | None:
    """Serial meters mark before/after a meal only (fasting is before one)."""
    if meal in ("preprandial", "fasting"):
        return "preprandial"
    if meal == "postprandial":
        return "postprandial"
    return None
