"""Weight Scale Service (0x181D) and Body Composition Service (0x181B) characteristics.

Standard Bluetooth scales (A&D UC-352BLE, Omron, Beurer, Medisana, Withings, Xiaomi body
composition scales, ...) indicate Weight Measurement (0x2A9D) and, on body composition
analysers, Body Composition Measurement (0x2A9C); Weight Scale Feature (0x2A9E) is read
once to learn what the scale reports and at what resolution. All fields little-endian.

Wire layout::

    Weight Measurement 0x2A9D
      flags uint8: bit0 units (0 SI kg/m, 1 imperial lb/in), bit1 time stamp,
                   bit2 user id, bit3 BMI and height, bits 4-7 RFU (ignored)
      weight     uint16  0.005 kg | 0.01 lb      0xFFFF = measurement unsuccessful
      [time stamp]       Date Time, 7 bytes
      [user id]  uint8   0xFF = unknown user
      [BMI]      uint16  0.1 kg/m2               } both present with bit3
      [height]   uint16  0.001 m | 0.1 in        }

    Weight Scale Feature 0x2A9E (uint32)
      bit0 time stamp supported, bit1 multiple users supported, bit2 BMI supported,
      bits 3-6 weight measurement resolution, bits 7-9 height measurement resolution

    Body Composition Measurement 0x2A9C
      flags uint16: bit0 units, bit1 time stamp, bit2 user id, bit3 basal metabolism,
                    bit4 muscle %, bit5 muscle mass, bit6 fat free mass,
                    bit7 soft lean mass, bit8 body water mass, bit9 impedance,
                    bit10 weight, bit11 height, bit12 multiple packet measurement
      body fat percentage uint16 0.1 %           0xFFFF = measurement unsuccessful
      then, in flag order: time stamp (7), user id (1), basal metabolism (uint16 kJ),
      muscle percentage (0.1 %), muscle mass, fat free mass, soft lean mass,
      body water mass (0.005 kg | 0.01 lb each), impedance (0.1 ohm),
      weight (0.005 kg | 0.01 lb), height (0.001 m | 0.1 in)

Measurements: ``body_weight`` (lb converted to kg), ``body_height`` (m or in converted to
cm), ``bmi``, ``body_fat``; the other body composition fields stay in the record. An
unsuccessful measurement (0xFFFF) is ``special="nan"`` with the flag
``measurement_unsuccessful``. A long body composition record may be split over several
indications (bit12); each decodes on its own and the driver merges them by user id.

Sources: Bluetooth SIG GATT Specification Supplement (weight_measurement,
weight_scale_feature, body_composition_measurement); oesmith/gatt-xml; Weight Scale
Service 1.0 and Body Composition Service 1.0; RonanB96/bluetooth-sig-python
``tests/gatt/characteristics/test_weight_measurement.py`` (uint16 vectors in the tests).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from cart.errors import ValidationError
from cart.measurement import (
    KIND_INFO,
    Measurement,
    MeasurementKind,
    Special,
    convert,
    converted_decimals,
)
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec
from cart.protocols.ble_common import DateTime, Reader, check_uint, date_time_at, measurement

__all__ = [
    "HEIGHT_RESOLUTIONS",
    "PROTOCOLS",
    "UNKNOWN_USER",
    "WEIGHT_RESOLUTIONS",
    "BodyCompositionMeasurement",
    "DateTime",
    "WeightMeasurement",
    "WeightScaleFeature",
    "decode_body_composition",
    "decode_weight_measurement",
    "decode_weight_scale_feature",
    "encode_body_composition",
    "encode_weight_measurement",
    "encode_weight_scale_feature",
    "parse_body_composition",
    "parse_weight_measurement",
    "parse_weight_scale_feature",
    "with_feature_resolution",
]

WEIGHT_MEASUREMENT_ID: Final = "ble.weight_measurement"
WEIGHT_SCALE_FEATURE_ID: Final = "ble.weight_scale_feature"
BODY_COMPOSITION_ID: Final = "ble.body_composition"

UNKNOWN_USER: Final = 0xFF
UNSUCCESSFUL: Final = 0xFFFF
_UNSUCCESSFUL_FLAGS: Final = ("measurement_unsuccessful",)
_WEIGHT: Final = MeasurementKind.BODY_WEIGHT
_HEIGHT: Final = MeasurementKind.BODY_HEIGHT
_BMI: Final = MeasurementKind.BMI
_FAT: Final = MeasurementKind.BODY_FAT

_MASS_STEP: Final = {False: Decimal("0.005"), True: Decimal("0.01")}  # kg | lb
_HEIGHT_STEP: Final = {False: Decimal("0.001"), True: Decimal("0.1")}  # m | in
_MASS_UNIT: Final = {False: "kg", True: "lb"}
_HEIGHT_UNIT: Final = {False: "m", True: "in"}
_UCUM_MASS: Final = {False: "kg", True: "[lb_av]"}
_UCUM_HEIGHT: Final = {False: "m", True: "[in_i]"}
_TENTH: Final = Decimal("0.1")


def _places(step: Decimal) -> int:
    """Decimals of a fixed-step field: 0.005 kg -> 3, 0.01 lb -> 2, 0.1 % -> 1. WSS sends
    every weight in these steps whatever its display resolution (Weight Scale Feature
    bits 3-6 say how much the scale rounded; the cart does not read it), so the field's
    step is the precision the device reported."""
    exponent = step.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


_MASS_PLACES: Final = {imperial: _places(step) for imperial, step in _MASS_STEP.items()}
_HEIGHT_PLACES: Final = {imperial: _places(step) for imperial, step in _HEIGHT_STEP.items()}
_TENTH_PLACES: Final = 1
#: step -> the exact (numerator, denominator) of every step above
_RATIO: Final[dict[Decimal, tuple[int, int]]] = {
    step: step.as_integer_ratio()
    for step in (*_MASS_STEP.values(), *_HEIGHT_STEP.values(), _TENTH, Decimal(1))
}

#: Weight Scale Feature weight resolution code -> (kg, lb); 8-15 are reserved.
WEIGHT_RESOLUTIONS: Final[dict[int, tuple[float, float] | None]] = {
    0: None,
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
#: Weight Scale Feature height resolution code -> (m, in); 4-7 are reserved.
HEIGHT_RESOLUTIONS: Final[dict[int, tuple[float, float] | None]] = {
    0: None,
    1: (0.01, 1.0),
    2: (0.005, 0.5),
    3: (0.001, 0.1),
}


def with_feature_resolution(
    measurements: Iterable[Measurement], feature: WeightScaleFeature
) -> tuple[Measurement, ...]:
    """The weight's and height's precision as the scale's Weight Scale Feature announces it.

    A WSS scale sends every weight in 0.005 kg steps whatever its display resolution; the
    feature's resolution (bits 3-6, 7-9) says how much the scale rounded (0.1 kg: 70.0
    is sent as 14000 x 0.005). A value on that grid takes its decimals (in kg, or converted
    from lb / in as :func:`cart.measurement.converted_decimals` says); one off the grid, or
    "not specified", keeps the field's own step."""
    out = []
    for m in measurements:
        if m.kind is _WEIGHT:
            steps = WEIGHT_RESOLUTIONS.get(feature.weight_measurement_resolution)
        elif m.kind is _HEIGHT:
            steps = HEIGHT_RESOLUTIONS.get(feature.height_measurement_resolution)
        else:
            steps = None
        out.append(m if steps is None or m.value is None else _at_resolution(m, steps))
    return tuple(out)


def _at_resolution(m: Measurement, steps: tuple[float, float]) -> Measurement:
    assert m.value is not None
    sent, unit = (m.original.value, m.original.unit) if m.original else (m.value, m.unit)
    step = Decimal(repr(steps[unit in ("[lb_av]", "[in_i]")])).normalize()
    if Decimal(repr(sent)) % step != 0:
        return m  # not on the announced grid: the field's step is all that is known
    exponent = step.as_tuple().exponent
    assert isinstance(exponent, int)
    places = max(0, -exponent)
    if m.original is None:
        return replace(m, decimals=places)
    decimals = converted_decimals(places, unit, m.unit, KIND_INFO[m.kind].decimals)
    return replace(m, value=round(convert(sent, unit, m.unit), decimals), decimals=decimals)


def _scaled(raw: int, step: Decimal) -> float:
    return _ratio_scaled(raw, *_RATIO[step])


def _ratio_scaled(raw: int, numerator: int, denominator: int) -> float:
    """``float(raw * step)`` with ``step = numerator / denominator``, without Decimal: int / int
    is correctly rounded, so this is the float nearest the exact product (70.0, 0.7, 1.67)."""
    return raw * numerator / denominator


def _to_raw(name: str, value: float, step: Decimal, *, limit: int = 0xFFFF) -> int:
    """Nearest multiple of ``step`` (half away from zero) as a uint16; ValueError outside."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number")
    raw = int((Decimal(str(value)) / step).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if not 0 <= raw <= limit:
        raise ValueError(f"{name} {value} outside 0..{float(limit * step)} in steps of {step}")
    return raw


def _measured_at(stamp: DateTime | None) -> datetime | None:
    return stamp.to_datetime() if stamp is not None else None


def _user(user_id: int | None) -> int | None:
    return None if user_id is None or user_id == UNKNOWN_USER else user_id


# --------------------------------------------------------------------------- 0x2A9D


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """Weight Measurement (0x2A9D) in the units the scale sends.

    ``weight`` is kg (SI) or lb (``imperial=True``), None for "measurement unsuccessful";
    ``height`` is m (SI) or in; ``bmi`` kg/m2. BMI and height travel together.
    Encoders round to the wire resolution (0.005 kg, 0.01 lb, 0.1 kg/m2, 0.001 m, 0.1 in).
    """

    weight: float | None
    imperial: bool = False
    time_stamp: DateTime | None = None
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None


def _parse_weight_checked(payload: bytes) -> WeightMeasurement:
    """Field by field, naming the field where a value ends or breaks the spec."""
    reader = Reader(payload, WEIGHT_MEASUREMENT_ID)
    flags = reader.u8("Flags")
    imperial = bool(flags & 0x01)
    raw_weight = reader.u16("Weight")
    weight = None if raw_weight == UNSUCCESSFUL else _scaled(raw_weight, _MASS_STEP[imperial])
    stamp = reader.date_time("Time Stamp") if flags & 0x02 else None
    user_id = reader.u8("User ID") if flags & 0x04 else None
    bmi = height = None
    if flags & 0x08:
        bmi = _scaled(reader.u16("BMI"), _TENTH)
        height = _scaled(reader.u16("Height"), _HEIGHT_STEP[imperial])
    reader.end()
    return WeightMeasurement(weight, imperial, stamp, user_id, bmi, height)


_WEIGHT_SIZES: Final = tuple(
    3 + (7 if flags & 0x02 else 0) + (1 if flags & 0x04 else 0) + (4 if flags & 0x08 else 0)
    for flags in range(256)
)
# (numerator, denominator) of the mass and height steps, by the imperial bit
_MASS_RATIO: Final = ((5, 1000), (1, 100))  # 0.005 kg | 0.01 lb
_HEIGHT_RATIO: Final = ((1, 1000), (1, 10))  # 0.001 m | 0.1 in


def _parse_weight(payload: bytes) -> tuple[WeightMeasurement, datetime | None]:
    """The value and its time stamp as a datetime, in one pass when the length is the one the
    flags announce (else the field-by-field reader, which raises the error)."""
    if not payload or len(payload) != _WEIGHT_SIZES[payload[0]]:
        value = _parse_weight_checked(payload)  # a wrong length always raises there
        return value, _measured_at(value.time_stamp)
    flags = payload[0]
    imperial = flags & 0x01
    raw_weight = payload[1] | payload[2] << 8
    weight = None
    if raw_weight != UNSUCCESSFUL:
        weight = _ratio_scaled(raw_weight, *_MASS_RATIO[imperial])
    pos = 3
    stamp = when = None
    if flags & 0x02:
        stamp, when = date_time_at(payload, 3, "Time Stamp", WEIGHT_MEASUREMENT_ID)
        pos = 10
    user_id = None
    if flags & 0x04:
        user_id = payload[pos]
        pos += 1
    bmi = height = None
    if flags & 0x08:
        bmi = (payload[pos] | payload[pos + 1] << 8) / 10
        height = _ratio_scaled(payload[pos + 2] | payload[pos + 3] << 8, *_HEIGHT_RATIO[imperial])
    return WeightMeasurement(weight, bool(imperial), stamp, user_id, bmi, height), when


def parse_weight_measurement(payload: bytes) -> WeightMeasurement:
    return _parse_weight(payload)[0]


def encode_weight_measurement(value: WeightMeasurement) -> bytes:
    """The 0x2A9D value a scale indicates (flags derived from which fields are set)."""
    if (value.bmi is None) != (value.height is None):
        raise ValueError("BMI and height are sent together: give both or neither")
    flags = (
        (0x01 if value.imperial else 0)
        | (0x02 if value.time_stamp is not None else 0)
        | (0x04 if value.user_id is not None else 0)
        | (0x08 if value.bmi is not None else 0)
    )
    raw_weight = (
        UNSUCCESSFUL
        if value.weight is None
        else _to_raw("weight", value.weight, _MASS_STEP[value.imperial], limit=0xFFFE)
    )
    out = bytearray((flags,)) + raw_weight.to_bytes(2, "little")
    if value.time_stamp is not None:
        out += value.time_stamp.to_bytes()
    if value.user_id is not None:
        out.append(check_uint("user_id", value.user_id, 8))
    if value.bmi is not None and value.height is not None:
        out += _to_raw("bmi", value.bmi, _TENTH).to_bytes(2, "little")
        out += _to_raw("height", value.height, _HEIGHT_STEP[value.imperial]).to_bytes(2, "little")
    return bytes(out)


def decode_weight_measurement(payload: bytes) -> Decoded:
    """``ble.weight_measurement`` -> body_weight, and body_height + bmi when present."""
    value, when = _parse_weight(payload)
    imperial = value.imperial
    weight = value.weight
    stamp = value.time_stamp
    record: dict[str, Any] = {
        "flags": payload[0],
        "units": "imperial" if imperial else "si",
        "weight": weight,
        "weight_unit": _MASS_UNIT[imperial],
        "measurement_unsuccessful": weight is None,
        "time_stamp": stamp.json_with(when) if stamp else None,
        "user_id": value.user_id,
        "bmi": value.bmi,
        "height": value.height,
        "height_unit": _HEIGHT_UNIT[imperial],
    }
    user = _user(value.user_id)
    wanted: list[tuple[MeasurementKind, float | None, str, int]] = [
        (_WEIGHT, weight, _UCUM_MASS[imperial], _MASS_PLACES[imperial])
    ]
    if value.height is not None:
        wanted.append((_HEIGHT, value.height, _UCUM_HEIGHT[imperial], _HEIGHT_PLACES[imperial]))
    if value.bmi is not None:
        wanted.append((_BMI, value.bmi, "kg/m2", _TENTH_PLACES))
    ms = _measurements(WEIGHT_MEASUREMENT_ID, payload, wanted, when, user)
    return Decoded(WEIGHT_MEASUREMENT_ID, record, ms, raw=payload)


def _measurements(
    protocol: str,
    payload: bytes,
    wanted: list[tuple[MeasurementKind, float | None, str, int]],
    when: datetime | None,
    user_id: int | None,
) -> tuple[Measurement, ...]:
    """One measurement per ``(kind, value, unit, decimals)``; a None value (0xFFFF, only ever the
    first: weight or body fat) is ``special="nan"`` with ``measurement_unsuccessful``."""
    create = Measurement.create
    out = []
    for kind, number, unit, places in wanted:
        try:
            if number is None:
                m = create(
                    kind,
                    None,
                    unit,
                    special=Special.NAN,
                    flags=_UNSUCCESSFUL_FLAGS,
                    measured_at=when,
                    user_id=user_id,
                )
            else:
                m = create(kind, number, unit, measured_at=when, user_id=user_id, decimals=places)
        except (ValidationError, ArithmeticError, ValueError):  # raised as a FrameError
            m = measurement(
                protocol,
                payload,
                kind,
                number,
                unit,
                special=Special.NAN if number is None else None,
                flags=_UNSUCCESSFUL_FLAGS if number is None else (),
                measured_at=when,
                user_id=user_id,
                decimals=None if number is None else places,
            )
        out.append(m)
    return tuple(out)


# --------------------------------------------------------------------------- 0x2A9E


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    """Weight Scale Feature (0x2A9E). Resolutions are the spec's codes (see the tables)."""

    time_stamp_supported: bool = False
    multiple_users_supported: bool = False
    bmi_supported: bool = False
    weight_measurement_resolution: int = 0
    height_measurement_resolution: int = 0


def parse_weight_scale_feature(payload: bytes) -> WeightScaleFeature:
    reader = Reader(payload, WEIGHT_SCALE_FEATURE_ID)
    raw = reader.u32("Weight Scale Feature")
    reader.end()
    return WeightScaleFeature(
        bool(raw & 0x01),
        bool(raw & 0x02),
        bool(raw & 0x04),
        (raw >> 3) & 0x0F,
        (raw >> 7) & 0x07,
    )


def encode_weight_scale_feature(value: WeightScaleFeature) -> bytes:
    check_uint("weight_measurement_resolution", value.weight_measurement_resolution, 4)
    check_uint("height_measurement_resolution", value.height_measurement_resolution, 3)
    raw = (
        (0x01 if value.time_stamp_supported else 0)
        | (0x02 if value.multiple_users_supported else 0)
        | (0x04 if value.bmi_supported else 0)
        | value.weight_measurement_resolution << 3
        | value.height_measurement_resolution << 7
    )
    return raw.to_bytes(4, "little")


def decode_weight_scale_feature(payload: bytes) -> Decoded:
    """``ble.weight_scale_feature``: supported fields and display resolutions."""
    value = parse_weight_scale_feature(payload)
    weight_res = WEIGHT_RESOLUTIONS.get(value.weight_measurement_resolution)
    height_res = HEIGHT_RESOLUTIONS.get(value.height_measurement_resolution)
    record = {
        "features": int.from_bytes(payload, "little"),
        "time_stamp_supported": value.time_stamp_supported,
        "multiple_users_supported": value.multiple_users_supported,
        "bmi_supported": value.bmi_supported,
        "weight_measurement_resolution": value.weight_measurement_resolution,
        "weight_resolution_kg": weight_res[0] if weight_res else None,
        "weight_resolution_lb": weight_res[1] if weight_res else None,
        "height_measurement_resolution": value.height_measurement_resolution,
        "height_resolution_m": height_res[0] if height_res else None,
        "height_resolution_in": height_res[1] if height_res else None,
    }
    return Decoded(WEIGHT_SCALE_FEATURE_ID, record, raw=payload)


# --------------------------------------------------------------------------- 0x2A9C

#: optional field -> (flag bit, kind of field); order is the wire order after User ID.
_BC_FIELDS: Final = (
    ("basal_metabolism", 3, "kj"),
    ("muscle_percentage", 4, "percent"),
    ("muscle_mass", 5, "mass"),
    ("fat_free_mass", 6, "mass"),
    ("soft_lean_mass", 7, "mass"),
    ("body_water_mass", 8, "mass"),
    ("impedance", 9, "ohm"),
    ("weight", 10, "mass"),
    ("height", 11, "height"),
)


@dataclass(frozen=True, slots=True)
class BodyCompositionMeasurement:
    """Body Composition Measurement (0x2A9C) in the units the analyser sends.

    ``body_fat_percentage`` None means "measurement unsuccessful" (0xFFFF). Masses are kg
    (SI) or lb (``imperial=True``), height m or in, basal metabolism kJ, impedance ohm.
    """

    body_fat_percentage: float | None
    imperial: bool = False
    time_stamp: DateTime | None = None
    user_id: int | None = None
    basal_metabolism: int | None = None
    muscle_percentage: float | None = None
    muscle_mass: float | None = None
    fat_free_mass: float | None = None
    soft_lean_mass: float | None = None
    body_water_mass: float | None = None
    impedance: float | None = None
    weight: float | None = None
    height: float | None = None
    multiple_packet_measurement: bool = False


def _bc_step(kind: str, imperial: bool) -> Decimal:
    return {
        "kj": Decimal(1),
        "percent": _TENTH,
        "mass": _MASS_STEP[imperial],
        "ohm": _TENTH,
        "height": _HEIGHT_STEP[imperial],
    }[kind]


def _parse_body_composition_checked(payload: bytes) -> BodyCompositionMeasurement:
    """Field by field, naming the field where a value ends or breaks the spec."""
    reader = Reader(payload, BODY_COMPOSITION_ID)
    flags = reader.u16("Flags")
    imperial = bool(flags & 0x0001)
    raw_fat = reader.u16("Body Fat Percentage")
    fields: dict[str, Any] = {
        "body_fat_percentage": None if raw_fat == UNSUCCESSFUL else _scaled(raw_fat, _TENTH),
        "imperial": imperial,
        "time_stamp": reader.date_time("Time Stamp") if flags & 0x0002 else None,
        "user_id": reader.u8("User ID") if flags & 0x0004 else None,
        "multiple_packet_measurement": bool(flags & 0x1000),
    }
    for name, bit, kind in _BC_FIELDS:
        if flags & (1 << bit):
            raw = reader.u16(name)
            fields[name] = raw if kind == "kj" else _scaled(raw, _bc_step(kind, imperial))
    reader.end()
    return BodyCompositionMeasurement(**fields)


#: by the imperial bit: (name, flag mask, numerator, denominator) of the optional fields;
#: numerator 0 marks basal metabolism, a plain integer (kJ)
_BC_LAYOUT: Final = tuple(
    tuple(
        (name, 1 << bit, *((0, 1) if kind == "kj" else _RATIO[_bc_step(kind, imperial)]))
        for name, bit, kind in _BC_FIELDS
    )
    for imperial in (False, True)
)
_BC_OPTIONAL_MASK: Final = sum(1 << bit for _, bit, _ in _BC_FIELDS)  # bits 3-11


def _bc_size(flags: int) -> int:
    """The length of a 0x2A9C value with these flags (RFU bits add nothing)."""
    optional = (flags & _BC_OPTIONAL_MASK).bit_count()
    return 4 + (7 if flags & 0x0002 else 0) + (1 if flags & 0x0004 else 0) + 2 * optional


_BCParsed = tuple[int, float | None, DateTime | None, datetime | None, int | None, dict[str, Any]]


def _parse_body_composition(payload: bytes) -> _BCParsed:
    """(flags, body fat %, time stamp, its datetime, user id, optional fields by name: value or
    None), in one pass when the length is the one the flags announce (else the
    field-by-field reader, which raises the error)."""
    if len(payload) < 2 or len(payload) != _bc_size(payload[0] | payload[1] << 8):
        value = _parse_body_composition_checked(payload)  # a wrong length always raises there
        return (
            int.from_bytes(payload[:2], "little"),
            value.body_fat_percentage,
            value.time_stamp,
            _measured_at(value.time_stamp),
            value.user_id,
            {name: getattr(value, name) for name, _, _ in _BC_FIELDS},
        )
    flags = payload[0] | payload[1] << 8
    raw_fat = payload[2] | payload[3] << 8
    fat = None if raw_fat == UNSUCCESSFUL else raw_fat / 10
    pos = 4
    stamp = when = None
    if flags & 0x0002:
        stamp, when = date_time_at(payload, 4, "Time Stamp", BODY_COMPOSITION_ID)
        pos = 11
    user_id = None
    if flags & 0x0004:
        user_id = payload[pos]
        pos += 1
    optional: dict[str, Any] = {}
    for name, mask, numerator, denominator in _BC_LAYOUT[flags & 0x0001]:
        if flags & mask:
            raw = payload[pos] | payload[pos + 1] << 8
            pos += 2
            optional[name] = raw * numerator / denominator if numerator else raw
        else:
            optional[name] = None
    return flags, fat, stamp, when, user_id, optional


def parse_body_composition(payload: bytes) -> BodyCompositionMeasurement:
    flags, fat, stamp, _, user_id, optional = _parse_body_composition(payload)
    return BodyCompositionMeasurement(
        body_fat_percentage=fat,
        imperial=bool(flags & 0x0001),
        time_stamp=stamp,
        user_id=user_id,
        multiple_packet_measurement=bool(flags & 0x1000),
        **optional,
    )


def encode_body_composition(value: BodyCompositionMeasurement) -> bytes:
    """The 0x2A9C value (one packet; flags derived from which fields are set)."""
    flags = (
        (0x0001 if value.imperial else 0)
        | (0x0002 if value.time_stamp is not None else 0)
        | (0x0004 if value.user_id is not None else 0)
        | (0x1000 if value.multiple_packet_measurement else 0)
    )
    tail = bytearray()
    for name, bit, kind in _BC_FIELDS:
        field_value = getattr(value, name)
        if field_value is None:
            continue
        flags |= 1 << bit
        if kind == "kj":
            tail += check_uint(name, field_value, 16).to_bytes(2, "little")
        else:
            step = _bc_step(kind, value.imperial)
            tail += _to_raw(name, field_value, step).to_bytes(2, "little")
    fat = (
        UNSUCCESSFUL
        if value.body_fat_percentage is None
        else _to_raw("body_fat_percentage", value.body_fat_percentage, _TENTH, limit=0xFFFE)
    )
    out = bytearray(flags.to_bytes(2, "little")) + fat.to_bytes(2, "little")
    if value.time_stamp is not None:
        out += value.time_stamp.to_bytes()
    if value.user_id is not None:
        out.append(check_uint("user_id", value.user_id, 8))
    return bytes(out + tail)


def decode_body_composition(payload: bytes) -> Decoded:
    """``ble.body_composition`` -> body_fat, plus body_weight / body_height when present."""
    flags, fat, stamp, when, user_id, optional = _parse_body_composition(payload)
    imperial = bool(flags & 0x0001)
    record: dict[str, Any] = {
        "flags": flags,
        "units": "imperial" if imperial else "si",
        "body_fat_percentage": fat,
        "measurement_unsuccessful": fat is None,
        "time_stamp": stamp.json_with(when) if stamp else None,
        "user_id": user_id,
    }
    record.update(optional)
    record["mass_unit"] = _MASS_UNIT[imperial]
    record["height_unit"] = _HEIGHT_UNIT[imperial]
    record["multiple_packet_measurement"] = bool(flags & 0x1000)
    wanted: list[tuple[MeasurementKind, float | None, str, int]] = [(_FAT, fat, "%", _TENTH_PLACES)]
    weight = optional["weight"]
    if weight is not None:
        wanted.append((_WEIGHT, weight, _UCUM_MASS[imperial], _MASS_PLACES[imperial]))
    height = optional["height"]
    if height is not None:
        wanted.append((_HEIGHT, height, _UCUM_HEIGHT[imperial], _HEIGHT_PLACES[imperial]))
    ms = _measurements(BODY_COMPOSITION_ID, payload, wanted, when, _user(user_id))
    return Decoded(BODY_COMPOSITION_ID, record, ms, raw=payload)


PROTOCOLS: Final = (
    ProtocolSpec(
        WEIGHT_MEASUREMENT_ID,
        "Weight Measurement (Weight Scale Service)",
        PayloadKind.HEX,
        decode_weight_measurement,
        uuid=0x2A9D,
        examples=(
            bytes.fromhex("00b036"),  # 70.0 kg (RonanB96/bluetooth-sig-python test 1)
            bytes.fromhex("01543d"),  # 157.00 lb (same file, test 2)
            bytes.fromhex("02b036e7070c190e1e2d"),  # 70.0 kg, 2023-12-25 14:30:45 (test 3)
            bytes.fromhex("0e1437e8070a1b0d1e0001fd008606"),  # 70.5 kg, user 1, BMI 25.3, 1.67 m
        ),
    ),
    ProtocolSpec(
        WEIGHT_SCALE_FEATURE_ID,
        "Weight Scale Feature",
        PayloadKind.HEX,
        decode_weight_scale_feature,
        uuid=0x2A9E,
        examples=(bytes.fromhex("bf010000"), bytes.fromhex("07000000")),
    ),
    ProtocolSpec(
        BODY_COMPOSITION_ID,
        "Body Composition Measurement (Body Composition Service)",
        PayloadKind.HEX,
        decode_body_composition,
        uuid=0x2A9C,
        examples=(
            bytes.fromhex("00003200"),  # 5.0 % (RonanB96/bluetooth-sig-python test 1)
            bytes.fromhex("000e4600401fb036e803"),  # 7.0 %, 800 ohm, 70 kg, 1.0 m (test 6)
        ),
    ),
)
