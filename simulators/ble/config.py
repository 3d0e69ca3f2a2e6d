"""Declarative configuration of the BLE simulators: patient values, timing, security, faults.

Everything is a frozen, validated dataclass (a bad value raises ``ValueError`` at
construction, naming the field). ``fast()`` variants shrink every delay for tests while
keeping the order of events a real device follows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal

__all__ = [
    "DEFAULT_ADDRESSES",
    "DEFAULT_NAMES",
    "BleFault",
    "BloodPressureConfig",
    "DeviceOptions",
    "GlucometerConfig",
    "GlucoseRecord",
    "StoredBloodPressure",
    "StoredWeight",
    "WeightScaleConfig",
]

#: Static random addresses of the simulated devices (top two bits set).
DEFAULT_ADDRESSES: Final = {
    "scale": "C1:5A:1E:00:00:01",
    "bp": "C1:5A:1E:00:00:02",
    "glucometer": "C1:5A:1E:00:00:03",
}
#: Advertised local names.
DEFAULT_NAMES: Final = {
    "scale": "MIDO-SIM Bascula",
    "bp": "MIDO-SIM Baumanometro",
    "glucometer": "MIDO-SIM Glucometro",
}

#: Advertising interval of the ``fast()`` configs (the LE minimum).
FAST_ADVERTISING_INTERVAL_MS: Final = 20.0


class BleFault(StrEnum):
    """What goes wrong on the simulated device (see each simulator for where it bites)."""

    NONE = "none"
    DISCONNECT_MID_TRANSFER = "disconnect_mid_transfer"
    """The device drops the link part-way: during the stored-record download
    (glucometer), while inflating (cuff), or before the result (scale)."""
    MALFORMED_VALUE = "malformed_value"
    """The measurement value is cut short (a truncated characteristic value)."""
    NO_RACP_RESPONSE = "no_racp_response"
    """The glucometer accepts Record Access Control Point writes and never answers."""


def _check_name_address(name: str, address: str) -> None:
    if not name or len(name.encode()) > 29:
        raise ValueError("name must be 1-29 bytes (it travels in the advertising data)")
    parts = address.split(":")
    if len(parts) != 6 or any(len(p) != 2 for p in parts):
        raise ValueError(f"address {address!r} is not AA:BB:CC:DD:EE:FF")
    try:
        first = int(parts[0], 16)
        for p in parts[1:]:
            int(p, 16)
    except ValueError:
        raise ValueError(f"address {address!r} is not hexadecimal") from None
    if first & 0xC0 != 0xC0:
        raise ValueError(f"address {address!r} must be a static random address (C0-FF first)")


def _check_non_negative(**values: float) -> None:
    for key, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{key} must be a finite number >= 0")


@dataclass(frozen=True)
class DeviceOptions:
    """Options every simulated BLE device has (the base of each device's config)."""

    name: str = DEFAULT_NAMES["scale"]
    address: str = DEFAULT_ADDRESSES["scale"]
    pairing_required: bool = False
    """Measurement characteristics and their CCCDs need an encrypted (paired) link."""
    accept_pairing: bool = True
    """False: the device refuses SMP pairing (as with a wrong PIN)."""
    clock_skew_s: float = 0.0
    """Device clock minus host clock; a Current Time write corrects it."""
    time_writable: bool = True
    """Current Time (0x2A2B) accepts writes (time sync); False: read-only."""
    fixed_clock: datetime | None = None
    """The clock is stuck at this time (a dead clock battery); a write moves it, it
    still does not run."""
    fault: BleFault = BleFault.NONE
    fault_connections: int | None = 1
    """How many connections the fault affects (None: every one), so a retry can succeed."""
    advertising_interval_ms: float = 100.0

    def _check_common(self) -> None:
        _check_name_address(self.name, self.address)
        if not math.isfinite(self.clock_skew_s) or abs(self.clock_skew_s) > 10 * 365 * 86400:
            raise ValueError("clock_skew_s must be finite and within ten years")
        if self.fixed_clock is not None and not 2000 <= self.fixed_clock.year <= 2099:
            raise ValueError("fixed_clock must be in 2000-2099")
        if self.fault_connections is not None and self.fault_connections < 1:
            raise ValueError("fault_connections must be >= 1 or None")
        if not 20.0 <= self.advertising_interval_ms <= 10_240.0:
            raise ValueError("advertising_interval_ms must be 20-10240 (the LE range)")
        BleFault(self.fault)

    def fault_applies(self, connection_number: int) -> bool:
        """Does the fault hit the ``connection_number``-th connection (1-based)?"""
        if self.fault is BleFault.NONE:
            return False
        return self.fault_connections is None or connection_number <= self.fault_connections


# --------------------------------------------------------------------------- memory


def _check_user(user_id: int | None) -> None:
    if user_id is not None and not 0 <= user_id <= 0xFF:
        raise ValueError("user_id must be 0-255 or None")


def _check_age(age: timedelta) -> None:
    if age < timedelta(0):
        raise ValueError("age must not be negative")


@dataclass(frozen=True, slots=True)
class StoredWeight:
    """A weight in the scale's memory, taken ``age`` before the simulator started."""

    weight_kg: float
    age: timedelta
    user_id: int | None = 1

    def __post_init__(self) -> None:
        if not 0 < self.weight_kg < 327:
            raise ValueError("weight_kg must be in (0, 327)")
        _check_user(self.user_id)
        _check_age(self.age)


@dataclass(frozen=True, slots=True)
class StoredBloodPressure:
    """A reading in the cuff's memory, taken ``age`` before the simulator started."""

    systolic: float
    diastolic: float
    age: timedelta
    pulse: float | None = None
    user_id: int | None = 1

    def __post_init__(self) -> None:
        if not 0 < self.diastolic < self.systolic <= 300:
            raise ValueError("need 0 < diastolic < systolic <= 300 mmHg")
        if self.pulse is not None and not 20 <= self.pulse <= 250:
            raise ValueError("pulse must be 20-250 /min or None")
        _check_user(self.user_id)
        _check_age(self.age)


@dataclass(frozen=True)
class MemoryOptions:
    """Stored measurements a scale or cuff sends when the cart connects, before the new one.

    Real devices (A&D UA-651BLE, Omron) keep readings taken while no host was in range
    and indicate them, oldest first, as soon as a host subscribes. A record is sent once
    (the device marks it transferred) unless ``replay_memory``: a device that lost that
    mark sends its whole memory again on every connection.
    """

    replay_memory: bool = False
    new_reading: bool = True
    """False: the patient takes no reading; the device only has its memory."""


# --------------------------------------------------------------------------- scale


@dataclass(frozen=True)
class WeightScaleConfig(MemoryOptions, DeviceOptions):
    """A Weight Scale Service scale: settles, indicates one final weight, disconnects."""

    stored: tuple[StoredWeight, ...] = ()

    weight_kg: float = 72.4
    height_cm: float | None = 165.0
    """Sent with BMI (computed from weight and height); None: no BMI/height fields."""
    user_id: int | None = 1
    """User index on a multi-user scale (0xFF = unknown user); None: field not sent."""
    imperial: bool = False
    """Send lb/in instead of kg/m."""
    weight_resolution: int = 7
    """Weight Scale Feature resolution code: 7 = 0.005 kg / 0.01 lb, 3 = 0.1 kg / 0.2 lb."""
    with_time_stamp: bool = True
    settle_s: float = 3.0
    """From the subscription (patient steps on) to the final weight."""
    disconnect_after_s: float | None = 0.5
    """The scale switches its radio off this long after the result; None: stays."""

    def __post_init__(self) -> None:
        if not 0 < self.weight_kg < 327:
            raise ValueError("weight_kg must be in (0, 327) (uint16 in 5 g steps)")
        if self.height_cm is not None and not 30 <= self.height_cm <= 250:
            raise ValueError("height_cm must be 30-250 or None")
        if self.user_id is not None and not 0 <= self.user_id <= 0xFF:
            raise ValueError("user_id must be 0-255 or None")
        if not 0 <= self.weight_resolution <= 7:
            raise ValueError("weight_resolution is a Weight Scale Feature code, 0-7")
        _check_non_negative(settle_s=self.settle_s)
        if self.disconnect_after_s is not None:
            _check_non_negative(disconnect_after_s=self.disconnect_after_s)
        if self.fault is BleFault.NO_RACP_RESPONSE:
            raise ValueError("no_racp_response is a glucometer fault")
        self._check_common()

    @property
    def bmi(self) -> float | None:
        if self.height_cm is None:
            return None
        return round(self.weight_kg / (self.height_cm / 100) ** 2, 1)

    @classmethod
    def fast(cls, **kwargs: Any) -> WeightScaleConfig:
        base: dict[str, Any] = {
            "settle_s": 0.05,
            "disconnect_after_s": 0.05,
            "advertising_interval_ms": FAST_ADVERTISING_INTERVAL_MS,
        }
        base.update(kwargs)
        return cls(**base)


# --------------------------------------------------------------------------- BP


@dataclass(frozen=True)
class BloodPressureConfig(MemoryOptions, DeviceOptions):
    """A Blood Pressure Service cuff: streams cuff pressure, indicates, disconnects."""

    stored: tuple[StoredBloodPressure, ...] = ()

    systolic: float = 118.0
    diastolic: float = 76.0
    pulse: float | None = 72.0
    mean_arterial_pressure: float | None = None
    """None: computed as diastolic + (systolic - diastolic) / 3."""
    unit: Literal["mmHg", "kPa"] = "mmHg"
    user_id: int | None = 1
    with_time_stamp: bool = True
    status: int | None = 0
    """Measurement Status bits (see ``ble_blood_pressure.MeasurementStatus``); None: absent."""
    inflate_to_mmhg: float | None = None
    """Peak cuff pressure; None: systolic + 30."""
    inflate_s: float = 8.0
    deflate_s: float = 20.0
    cuff_update_s: float = 0.5
    """Interval between Intermediate Cuff Pressure notifications."""
    start_delay_s: float = 0.5
    """From the subscription (the nurse presses start) to the first pump stroke."""
    disconnect_after_s: float = 0.2
    """Real cuffs drop the link right after the result is confirmed."""
    name: str = DEFAULT_NAMES["bp"]
    address: str = DEFAULT_ADDRESSES["bp"]

    def __post_init__(self) -> None:
        if not 0 < self.diastolic < self.systolic <= 300:
            raise ValueError("need 0 < diastolic < systolic <= 300 mmHg")
        if self.pulse is not None and not 20 <= self.pulse <= 250:
            raise ValueError("pulse must be 20-250 /min or None")
        if self.user_id is not None and not 0 <= self.user_id <= 0xFF:
            raise ValueError("user_id must be 0-255 or None")
        if self.status is not None and not 0 <= self.status <= 0xFFFF:
            raise ValueError("status must fit in 16 bits")
        if self.unit not in ("mmHg", "kPa"):
            raise ValueError("unit must be 'mmHg' or 'kPa'")
        if self.inflate_to_mmhg is not None and not self.systolic < self.inflate_to_mmhg <= 320:
            raise ValueError("inflate_to_mmhg must be above systolic and at most 320")
        _check_non_negative(
            inflate_s=self.inflate_s,
            deflate_s=self.deflate_s,
            start_delay_s=self.start_delay_s,
            disconnect_after_s=self.disconnect_after_s,
        )
        if not 0 < self.cuff_update_s <= 5:
            raise ValueError("cuff_update_s must be in (0, 5]")
        if self.fault is BleFault.NO_RACP_RESPONSE:
            raise ValueError("no_racp_response is a glucometer fault")
        self._check_common()

    @property
    def map_mmhg(self) -> float:
        if self.mean_arterial_pressure is not None:
            return self.mean_arterial_pressure
        return round(self.diastolic + (self.systolic - self.diastolic) / 3, 1)

    @property
    def peak_mmhg(self) -> float:
        return self.inflate_to_mmhg if self.inflate_to_mmhg is not None else self.systolic + 30

    @classmethod
    def fast(cls, **kwargs: Any) -> BloodPressureConfig:
        base: dict[str, Any] = {
            "inflate_s": 0.06,
            "deflate_s": 0.06,
            "cuff_update_s": 0.02,
            "start_delay_s": 0.01,
            "disconnect_after_s": 0.02,
            "advertising_interval_ms": FAST_ADVERTISING_INTERVAL_MS,
        }
        base.update(kwargs)
        return cls(**base)


# --------------------------------------------------------------------------- glucometer

MEALS: Final = ("preprandial", "postprandial", "fasting", "casual", "bedtime")


@dataclass(frozen=True, slots=True)
class GlucoseRecord:
    """One stored reading. ``age`` is how long before the simulator starts it was taken."""

    mg_dl: float
    age: timedelta = timedelta(minutes=5)
    meal: str | None = None
    """With a meal the record has a Glucose Measurement Context (0x2A34)."""
    control_solution: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.mg_dl < 2000:
            raise ValueError("mg_dl must be in (0, 2000)")
        if self.age < timedelta(0):
            raise ValueError("age must not be negative")
        if self.meal is not None and self.meal not in MEALS:
            raise ValueError(f"meal must be one of {', '.join(MEALS)}")


def _default_records() -> tuple[GlucoseRecord, ...]:
    return (
        GlucoseRecord(98.0, timedelta(days=2), meal="fasting"),
        GlucoseRecord(142.0, timedelta(days=1, hours=3), meal="postprandial"),
        GlucoseRecord(104.0, timedelta(minutes=2), meal="fasting"),
    )


@dataclass(frozen=True)
class GlucometerConfig(DeviceOptions):
    """A Glucose Service meter serving its stored records through RACP."""

    records: tuple[GlucoseRecord, ...] = field(default_factory=_default_records)
    first_sequence_number: int = 101
    unit: Literal["kg/L", "mol/L"] = "kg/L"
    record_interval_s: float = 0.02
    """Between two record notifications of a download."""
    disconnect_after_records: int = 1
    """With DISCONNECT_MID_TRANSFER: records sent before the link drops."""
    reading_on_connect: GlucoseRecord | None = None
    """A scripted patient for long-running demos: when the cart connects and the newest
    record was already downloaded, the patient takes this reading now (age ignored)."""
    reading_on_first_connect: bool = False
    """With ``reading_on_connect``: the first connection takes a reading too, even when
    the memory holds records never downloaded (scenarios with stored records)."""
    name: str = DEFAULT_NAMES["glucometer"]
    address: str = DEFAULT_ADDRESSES["glucometer"]

    def __post_init__(self) -> None:
        if not 0 <= self.first_sequence_number <= 0xFFFF - len(self.records):
            raise ValueError("sequence numbers must fit in uint16")
        if self.unit not in ("kg/L", "mol/L"):
            raise ValueError("unit must be 'kg/L' or 'mol/L'")
        _check_non_negative(record_interval_s=self.record_interval_s)
        if self.disconnect_after_records < 0:
            raise ValueError("disconnect_after_records must be >= 0")
        self._check_common()

    @classmethod
    def fast(cls, **kwargs: Any) -> GlucometerConfig:
        base: dict[str, Any] = {
            "record_interval_s": 0.0,
            "advertising_interval_ms": FAST_ADVERTISING_INTERVAL_MS,
        }
        base.update(kwargs)
        return cls(**base)
