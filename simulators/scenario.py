"""Scenarios for the simulated cart: what each device holds, how its clock runs, what fails.

Pure: text in (TOML, command-line flags), a validated :class:`Scenario` out, or a
:class:`ScenarioError` that names the bad value. No file, clock or device access;
:mod:`simulators.world` turns a scenario into running simulators.

Devices are named by their devices.toml id or by role: ``bascula``/``scale``,
``estadimetro``/``stadiometer``, ``baumanometro``/``bp``, ``glucometro``/``glucometer``.

Flag syntax (the TOML file takes the same strings)::

    --stored glucometro=236@1d,98@2h:fasting     stored records: VALUE@AGE[:uUSER][:MEAL]
    --stored baumanometro=150/95/80@1d:u2        BP values are SYS/DIA[/PULSE]
    --no-new-reading glucometro                  the device only has its memory
    --clock-skew glucometro=+3d                  device clock minus cart clock
    --fixed-clock glucometro=2020-01-01T00:00    the clock is stuck at this time
    --read-only-clock glucometro                 the device refuses clock writes
    --fault baumanometro=disconnect_mid_transfer one fault per device
    --user baumanometro=2                        user id of the new reading (BLE)
    --replay-memory baumanometro                 BLE scale/cuff resends its memory each time

AGE and skew: a number and a unit, repeated: ``90s``, ``5m``, ``2h``, ``1d12h``, ``-3d``.

TOML::

    [cart]
    scale = "serial"            # or "ble" (a Weight Scale Service scale with memory)
    bp = "ble"                  # or "serial" (an Accutorr-style monitor on a pty)
    glucometer = "ble"          # or a serial family ("contour.astm", ...) or "none"

    [patient]                   # the values of each new reading
    glucose_mg_dl = 104

    [devices.glucometro]
    stored = ["236@1d", "98@2h:fasting"]
    new_reading = false
    clock_skew = "+3d"
    clock_writable = false
    fault = "none"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Literal

__all__ = [
    "BLE_FAULTS",
    "DEVICE_IDS",
    "FAULTS",
    "GLUCOMETER_KINDS",
    "DeviceScenario",
    "Scenario",
    "ScenarioError",
    "StoredValue",
    "apply_flags",
    "parse_age",
    "parse_scenario_toml",
    "parse_stored",
]

#: device ids of the simulated cart, by role alias
DEVICE_IDS: Final = {
    "scale": "bascula",
    "stadiometer": "estadimetro",
    "bp": "baumanometro",
    "glucometer": "glucometro",
}
_ROLE_OF: Final = {device_id: role for role, device_id in DEVICE_IDS.items()}
SERIAL_GLUCOMETERS: Final = (
    "onetouch.ultra2",
    "onetouch.ultraeasy",
    "taidoc.td42xx",
    "freestyle.optium",
    "contour.astm",
)
GLUCOMETER_KINDS: Final = ("ble", "none", *SERIAL_GLUCOMETERS)
#: every fault name a scenario may use (serial and Modbus devices take all of them but the
#: BLE-only ones; see BLE_FAULTS for Bluetooth devices)
FAULTS: Final = (
    "none",
    "noise",
    "checksum",
    "broken_frame",
    "truncated",
    "silence",
    "overload",
    "unplug",
    "disconnect_mid_transfer",
    "malformed_value",
    "no_racp_response",
)
#: faults a Bluetooth device can show: the radio's own CRC drops noisy or corrupted
#: packets, so those never reach the application
BLE_FAULTS: Final = (
    "none",
    "silence",
    "disconnect_mid_transfer",
    "unplug",
    "truncated",
    "malformed_value",
    "no_racp_response",
)
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE_RE: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_MEALS: Final = ("fasting", "preprandial", "postprandial", "casual", "bedtime")
_MAX_SKEW_S: Final = 10 * 365 * 86400


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message names the device, field and value."""


@dataclass(frozen=True, slots=True)
class StoredValue:
    """One record in a device's memory. ``values`` is (mg/dL,), (kg,) or (sys, dia[, pulse])."""

    values: tuple[float, ...]
    age: timedelta
    user_id: int | None = None
    meal: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceScenario:
    stored: tuple[StoredValue, ...] = ()
    new_reading: bool = True
    clock_skew_s: float = 0.0
    fixed_clock: datetime | None = None
    """The device clock is stuck at this time (a dead clock battery)."""
    clock_writable: bool = True
    fault: str = "none"
    user_id: int | None = None
    """User id of the new reading (BLE scale and cuff); None: the device default."""
    replay_memory: bool = False
    """BLE scale/cuff: send the whole memory on every connection, not once."""


@dataclass(frozen=True, slots=True)
class Scenario:
    scale: Literal["serial", "ble"] = "serial"
    bp: Literal["ble", "serial"] = "ble"
    glucometer: str = "ble"
    patient: Mapping[str, float] = field(default_factory=dict)
    devices: Mapping[str, DeviceScenario] = field(default_factory=dict)
    """By device id (``bascula``, ``estadimetro``, ``baumanometro``, ``glucometro``)."""

    def device(self, device_id: str) -> DeviceScenario:
        return self.devices.get(device_id, DeviceScenario())

    def transport(self, device_id: str) -> str:
        role = _ROLE_OF[device_id]
        if role == "scale":
            return self.scale
        if role == "stadiometer":
            return "modbus"
        if role == "bp":
            return self.bp
        return "ble" if self.glucometer == "ble" else "serial"

    def validated(self) -> Scenario:
        """This scenario, or a ScenarioError for a combination no simulator can play."""
        if self.scale not in ("ble", "serial"):
            raise ScenarioError(f"cart.scale must be 'serial' or 'ble', not {self.scale!r}")
        if self.bp not in ("ble", "serial"):
            raise ScenarioError(f"cart.bp must be 'ble' or 'serial', not {self.bp!r}")
        if self.glucometer not in GLUCOMETER_KINDS:
            raise ScenarioError(
                f"cart.glucometer must be one of {', '.join(GLUCOMETER_KINDS)}, "
                f"not {self.glucometer!r}"
            )
        for name, value in self.patient.items():
            if name not in _PATIENT_FIELDS:
                raise ScenarioError(
                    f"patient.{name} is unknown; choose from {', '.join(_PATIENT_FIELDS)}"
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ScenarioError(f"patient.{name} must be a positive number, not {value!r}")
        for device_id, dev in self.devices.items():
            self._check_device(device_id, dev)
        return self

    def _check_device(self, device_id: str, dev: DeviceScenario) -> None:
        where = f"device {device_id!r}"
        if device_id == "glucometro" and self.glucometer == "none":
            raise ScenarioError(f"{where}: the scenario has no glucometer (cart.glucometer)")
        transport = self.transport(device_id)
        role = _ROLE_OF[device_id]
        if transport == "ble":
            if dev.fault not in BLE_FAULTS:
                raise ScenarioError(
                    f"{where}: fault {dev.fault!r} cannot happen on Bluetooth (the radio "
                    f"drops damaged packets); choose from {', '.join(BLE_FAULTS)}"
                )
            if dev.fault == "no_racp_response" and role != "glucometer":
                raise ScenarioError(f"{where}: no_racp_response is a glucometer fault")
        elif dev.fault in ("malformed_value", "no_racp_response"):
            raise ScenarioError(f"{where}: fault {dev.fault!r} is a Bluetooth fault")
        keeps_memory = role == "glucometer" or (transport == "ble" and role in ("scale", "bp"))
        if dev.stored and not keeps_memory:
            raise ScenarioError(
                f"{where}: a {transport} {role} keeps no stored records "
                "(glucometers and Bluetooth scales and cuffs do)"
            )
        for record in dev.stored:
            if role == "bp" and len(record.values) not in (2, 3):
                raise ScenarioError(f"{where}: a BP record is SYS/DIA[/PULSE]")
            if role != "bp" and len(record.values) != 1:
                raise ScenarioError(f"{where}: a {role} record has one value")
            if record.user_id is not None and role == "glucometer":
                raise ScenarioError(f"{where}: glucometers keep no user id")
            if record.meal is not None and role != "glucometer":
                raise ScenarioError(f"{where}: only glucose records have a meal")
        if dev.replay_memory and not (transport == "ble" and role in ("scale", "bp")):
            raise ScenarioError(f"{where}: only Bluetooth scales and cuffs replay their memory")
        if dev.user_id is not None and not (transport == "ble" and role in ("scale", "bp")):
            raise ScenarioError(f"{where}: only Bluetooth scales and cuffs report a user id")
        if not dev.new_reading and not keeps_memory:
            raise ScenarioError(
                f"{where}: a {transport} {role} always measures; no new reading needs a "
                "device with memory"
            )
        has_clock = role == "glucometer" or transport == "ble"
        clock_set = dev.clock_skew_s != 0 or dev.fixed_clock is not None or not dev.clock_writable
        if clock_set and not has_clock:
            raise ScenarioError(f"{where}: a {transport} {role} has no clock to skew")
        if dev.fixed_clock is not None and not 2000 <= dev.fixed_clock.year <= 2099:
            raise ScenarioError(f"{where}: fixed clock must be in 2000-2099")


_PATIENT_FIELDS: Final = (
    "weight_kg",
    "height_cm",
    "systolic",
    "diastolic",
    "pulse",
    "glucose_mg_dl",
)

# --------------------------------------------------------------------------- small parsers


def device_id(name: str) -> str:
    """The device id for an id or a role alias (ScenarioError for anything else)."""
    key = name.strip().lower()
    if key in _ROLE_OF:
        return key
    if key in DEVICE_IDS:
        return DEVICE_IDS[key]
    choices = ", ".join(f"{i} ({r})" for r, i in DEVICE_IDS.items())
    raise ScenarioError(f"unknown device {name!r}; choose from {choices}")


def parse_age(text: str, *, signed: bool = False) -> timedelta:
    """``90s``, ``5m``, ``2h``, ``1d12h`` (and ``+3d``/``-2h`` when ``signed``)."""
    raw = text.strip().lower()
    sign = 1
    if signed and raw[:1] in ("+", "-"):
        sign = -1 if raw[0] == "-" else 1
        raw = raw[1:]
    pos, seconds = 0, 0.0
    for match in _AGE_RE.finditer(raw):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw):
        kind = "a clock skew" if signed else "an age"
        raise ScenarioError(
            f"{text!r} is not {kind}: a number and a unit (s, m, h, d, w), e.g. "
            + ("+3d or -90m" if signed else "2h or 1d12h")
        )
    if seconds > _MAX_SKEW_S:
        raise ScenarioError(f"{text!r} is more than ten years")
    return timedelta(seconds=sign * seconds)


def _parse_record(text: str) -> StoredValue:
    head, _, tail = text.strip().partition("@")
    if not tail:
        raise ScenarioError(f"stored record {text!r} needs an age: VALUE@AGE, e.g. 236@1d")
    age_text, *extras = tail.split(":")
    try:
        values = tuple(float(v) for v in head.split("/"))
    except ValueError:
        raise ScenarioError(f"stored record {text!r}: {head!r} is not a number") from None
    if not values or any(v <= 0 for v in values):
        raise ScenarioError(f"stored record {text!r}: values must be positive")
    user_id: int | None = None
    meal: str | None = None
    for extra in extras:
        if re.fullmatch(r"u\d{1,3}", extra) and int(extra[1:]) <= 255:
            user_id = int(extra[1:])
        elif extra in _MEALS:
            meal = extra
        else:
            raise ScenarioError(
                f"stored record {text!r}: {extra!r} is neither a user (u0-u255) "
                f"nor a meal ({', '.join(_MEALS)})"
            )
    return StoredValue(values, parse_age(age_text), user_id, meal)


def parse_stored(text: str | Sequence[str]) -> tuple[StoredValue, ...]:
    """``236@1d,98@2h:fasting`` (or a list of such items), oldest or newest in any order."""
    if isinstance(text, str):
        items = text.split(",")
    elif isinstance(text, list | tuple) and all(isinstance(item, str) for item in text):
        items = list(text)
    else:
        raise ScenarioError(
            f"stored must be a string or a list of strings like '236@1d', not {text!r}"
        )
    return tuple(_parse_record(item) for item in items if item.strip())


def _parse_clock(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ScenarioError(f"{text!r} is not a date and time like 2020-01-01T08:00") from None
    if when.tzinfo is not None:
        raise ScenarioError(f"{text!r}: device clocks know no time zone; drop the offset")
    return when


def _fault(text: str) -> str:
    name = text.strip().lower().replace("-", "_")
    aliases = {
        "corrupt_checksum": "checksum",
        "truncation": "truncated",
        "disconnect": "disconnect_mid_transfer",
    }
    name = aliases.get(name, name)
    if name not in FAULTS:
        raise ScenarioError(f"unknown fault {text!r}; choose from {', '.join(FAULTS)}")
    return name


def _user(text: str | int) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ScenarioError(f"user id {text!r} is not a number 0-255") from None
    if not 0 <= value <= 255:
        raise ScenarioError(f"user id {value} is not 0-255")
    return value


def _split(flag: str, text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not value.strip():
        raise ScenarioError(f"--{flag} {text!r}: expected DEVICE=VALUE")
    return device_id(name), value.strip()


# --------------------------------------------------------------------------- TOML and flags

_DEVICE_KEYS: Final = (
    "stored",
    "new_reading",
    "clock_skew",
    "fixed_clock",
    "clock_writable",
    "fault",
    "user_id",
    "replay_memory",
)


def _device_from_table(name: str, table: Mapping[str, Any]) -> DeviceScenario:
    unknown = set(table) - set(_DEVICE_KEYS)
    if unknown:
        raise ScenarioError(
            f"devices.{name}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(_DEVICE_KEYS)}"
        )
    dev = DeviceScenario()
    try:
        if "stored" in table:
            dev = replace(dev, stored=parse_stored(table["stored"]))
        if "new_reading" in table:
            dev = replace(dev, new_reading=_bool(table["new_reading"], "new_reading"))
        if "clock_skew" in table:
            skew = parse_age(str(table["clock_skew"]), signed=True)
            dev = replace(dev, clock_skew_s=skew.total_seconds())
        if "fixed_clock" in table:
            value = table["fixed_clock"]
            fixed = value if isinstance(value, datetime) else _parse_clock(str(value))
            dev = replace(dev, fixed_clock=fixed)
        if "clock_writable" in table:
            dev = replace(dev, clock_writable=_bool(table["clock_writable"], "clock_writable"))
        if "fault" in table:
            dev = replace(dev, fault=_fault(str(table["fault"])))
        if "user_id" in table:
            dev = replace(dev, user_id=_user(table["user_id"]))
        if "replay_memory" in table:
            dev = replace(dev, replay_memory=_bool(table["replay_memory"], "replay_memory"))
    except ScenarioError as exc:
        raise ScenarioError(f"devices.{name}: {exc}") from None
    return dev


def _bool(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{key} must be true or false, not {value!r}")
    return value


def parse_scenario_toml(text: str) -> Scenario:
    """A scenario file's text (see the module docstring)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}") from None
    unknown = set(data) - {"cart", "patient", "devices"}
    if unknown:
        raise ScenarioError(
            f"unknown section(s) {', '.join(sorted(unknown))}; use cart, patient, devices"
        )
    cart = data.get("cart", {})
    extra = set(cart) - {"scale", "bp", "glucometer"}
    if extra:
        raise ScenarioError(
            f"cart: unknown key(s) {', '.join(sorted(extra))}; use scale, bp, glucometer"
        )
    devices: dict[str, DeviceScenario] = {}
    for name, table in data.get("devices", {}).items():
        if not isinstance(table, dict):
            raise ScenarioError(f"devices.{name} must be a table")
        devices[device_id(name)] = _device_from_table(name, table)
    return Scenario(
        scale=cart.get("scale", "serial"),
        bp=cart.get("bp", "ble"),
        glucometer=str(cart.get("glucometer", "ble")),
        patient=dict(data.get("patient", {})),
        devices=devices,
    ).validated()


def apply_flags(
    scenario: Scenario,
    *,
    stored: Iterable[str] = (),
    no_new_reading: Iterable[str] = (),
    clock_skew: Iterable[str] = (),
    fixed_clock: Iterable[str] = (),
    read_only_clock: Iterable[str] = (),
    fault: Iterable[str] = (),
    user: Iterable[str] = (),
    replay_memory: Iterable[str] = (),
    scale: str | None = None,
    bp: str | None = None,
    glucometer: str | None = None,
) -> Scenario:
    """The scenario with command-line flags applied on top (flags win), validated."""
    devices = dict(scenario.devices)

    def update(name: str, **changes: Any) -> None:
        devices[name] = replace(devices.get(name, DeviceScenario()), **changes)

    for text in stored:
        name, value = _split("stored", text)
        try:
            update(name, stored=parse_stored(value))
        except ScenarioError as exc:
            raise ScenarioError(f"--stored {name}: {exc}") from None
    for text in no_new_reading:
        update(device_id(text), new_reading=False)
    for text in clock_skew:
        name, value = _split("clock-skew", text)
        update(name, clock_skew_s=parse_age(value, signed=True).total_seconds())
    for text in fixed_clock:
        name, value = _split("fixed-clock", text)
        update(name, fixed_clock=_parse_clock(value))
    for text in read_only_clock:
        update(device_id(text), clock_writable=False)
    for text in fault:
        name, value = _split("fault", text)
        update(name, fault=_fault(value))
    for text in user:
        name, value = _split("user", text)
        update(name, user_id=_user(value))
    for text in replay_memory:
        update(device_id(text), replay_memory=True)
    return Scenario(
        scale=scenario.scale if scale is None else scale,  # type: ignore[arg-type]  # validated
        bp=scenario.bp if bp is None else bp,  # type: ignore[arg-type]  # validated below
        glucometer=scenario.glucometer if glucometer is None else glucometer,
        patient=scenario.patient,
        devices=devices,
    ).validated()
