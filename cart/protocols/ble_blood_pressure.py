"""Blood Pressure Service (0x1810): measurement, intermediate cuff pressure, feature.

Standard Bluetooth cuffs (A&D UA-651BLE, Omron, Beurer, Microlife, ...) indicate one
Blood Pressure Measurement (0x2A35) when the reading is done (often followed by stored
ones, then a disconnect) and may notify Intermediate Cuff Pressure (0x2A36) while
inflating/deflating. Blood Pressure Feature (0x2A49) says which status bits the cuff can
detect. All fields little-endian; pressures and pulse are IEEE 11073 SFLOAT.

Wire layout::

    Blood Pressure Measurement 0x2A35 (Intermediate Cuff Pressure 0x2A36: same layout)
      flags uint8: bit0 units (0 mmHg, 1 kPa), bit1 time stamp, bit2 pulse rate,
                   bit3 user id, bit4 measurement status, bits 5-7 RFU (ignored)
      systolic               SFLOAT   } 0x2A36: current cuff pressure,
      diastolic              SFLOAT   } diastolic and MAP unused
      mean arterial pressure SFLOAT   } (NaN or 0)
      [time stamp]           Date Time, 7 bytes
      [pulse rate]           SFLOAT, beats per minute
      [user id]              uint8, 0xFF = unknown user
      [measurement status]   uint16: bit0 body movement, bit1 cuff fit too loose,
                             bit2 irregular pulse, bits 3-4 pulse rate range
                             (0 in range, 1 above upper limit, 2 below lower limit,
                             3 reserved), bit5 improper measurement position

    Blood Pressure Feature 0x2A49 (uint16): bit0 body movement detection, bit1 cuff fit
      detection, bit2 irregular pulse detection, bit3 pulse rate range detection,
      bit4 measurement position detection, bit5 multiple bonds, bit6 E2E-CRC,
      bit7 User Data Service, bit8 user facing time

Measurements: ``systolic_pressure``, ``diastolic_pressure``, ``mean_arterial_pressure``
and ``pulse_rate`` (kPa converted to mmHg); 0x2A36 gives one ``cuff_pressure`` (progress
only; its pulse rate stays in the record). SFLOAT specials (a cuff often sends NaN for
MAP) become ``special``. Status bits become flags on every measurement of the record:
``body_movement``, ``cuff_fit_loose``, ``irregular_pulse``, ``pulse_out_of_range``,
``improper_position``.

Sources: Bluetooth SIG GATT Specification Supplement (blood_pressure_measurement,
intermediate_cuff_pressure, blood_pressure_feature); Blood Pressure Service 1.1;
oesmith/gatt-xml; Nordic Semiconductor Android-BLE-Common-Library
``bps/BloodPressureMeasurementDataCallbackTest.java`` and
``bps/IntermediateCuffPressureDataCallbackTest.java`` (vectors in the tests);
StanfordSpezi/SpeziBluetooth ``BloodPressureFeature.swift`` (feature bits 6-8).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag
from typing import Any, Final

from cart.errors import ValidationError
from cart.measurement import Measurement, MeasurementKind
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec
from cart.protocols.ble_common import (
    DateTime,
    Reader,
    bit_names,
    check_uint,
    date_time_at,
    medfloat_decimals,
    medfloat_measurement,
)
from cart.protocols.ieee11073 import SFLOAT_NAN, MedFloat, encode_sfloat, sfloat, sfloat_from_raw

__all__ = [
    "FEATURE_NAMES",
    "PROTOCOLS",
    "PULSE_RATE_RANGES",
    "UNKNOWN_USER",
    "BloodPressureFeature",
    "BloodPressureMeasurement",
    "DateTime",
    "IntermediateCuffPressure",
    "MeasurementStatus",
    "decode_blood_pressure",
    "decode_blood_pressure_feature",
    "decode_intermediate_cuff_pressure",
    "encode_blood_pressure",
    "encode_blood_pressure_feature",
    "encode_intermediate_cuff_pressure",
    "parse_blood_pressure",
    "parse_blood_pressure_feature",
    "parse_intermediate_cuff_pressure",
    "status_flags",
]

BLOOD_PRESSURE_ID: Final = "ble.blood_pressure"
CUFF_PRESSURE_ID: Final = "ble.intermediate_cuff_pressure"
FEATURE_ID: Final = "ble.blood_pressure_feature"
UNKNOWN_USER: Final = 0xFF
_SYSTOLIC: Final = MeasurementKind.SYSTOLIC_PRESSURE
_DIASTOLIC: Final = MeasurementKind.DIASTOLIC_PRESSURE
_MAP: Final = MeasurementKind.MEAN_ARTERIAL_PRESSURE
_PULSE: Final = MeasurementKind.PULSE_RATE
_CUFF: Final = MeasurementKind.CUFF_PRESSURE


class MeasurementStatus(IntFlag):
    """Measurement Status bits of 0x2A35/0x2A36 (combine with ``|``)."""

    BODY_MOVEMENT = 1 << 0
    CUFF_FIT_LOOSE = 1 << 1
    IRREGULAR_PULSE = 1 << 2
    PULSE_RATE_EXCEEDS_UPPER_LIMIT = 1 << 3  # pulse rate range = 1
    PULSE_RATE_BELOW_LOWER_LIMIT = 1 << 4  # pulse rate range = 2
    IMPROPER_POSITION = 1 << 5


class BloodPressureFeature(IntFlag):
    """Blood Pressure Feature bits (0x2A49)."""

    BODY_MOVEMENT_DETECTION = 1 << 0
    CUFF_FIT_DETECTION = 1 << 1
    IRREGULAR_PULSE_DETECTION = 1 << 2
    PULSE_RATE_RANGE_DETECTION = 1 << 3
    MEASUREMENT_POSITION_DETECTION = 1 << 4
    MULTIPLE_BOND = 1 << 5
    E2E_CRC = 1 << 6
    USER_DATA_SERVICE = 1 << 7
    USER_FACING_TIME = 1 << 8


PULSE_RATE_RANGES: Final = {
    0: "within_range",
    1: "exceeds_upper_limit",
    2: "below_lower_limit",
    3: "reserved",
}
FEATURE_NAMES: Final = {
    0: "body_movement_detection_supported",
    1: "cuff_fit_detection_supported",
    2: "irregular_pulse_detection_supported",
    3: "pulse_rate_range_detection_supported",
    4: "measurement_position_detection_supported",
    5: "multiple_bond_supported",
    6: "e2e_crc_supported",
    7: "user_data_service_supported",
    8: "user_facing_time_supported",
}


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """Blood Pressure Measurement (0x2A35). Pressures in mmHg, or kPa with ``kpa=True``.

    Build SFLOAT fields with :func:`cart.protocols.ieee11073.sfloat` (``sfloat(120)``,
    ``sfloat("nan")``). ``measurement_status`` is a :class:`MeasurementStatus` or raw int.
    """

    systolic: MedFloat
    diastolic: MedFloat
    mean_arterial_pressure: MedFloat
    kpa: bool = False
    time_stamp: DateTime | None = None
    pulse_rate: MedFloat | None = None
    user_id: int | None = None
    measurement_status: int | None = None


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """Intermediate Cuff Pressure (0x2A36): the current cuff pressure while measuring.

    ``diastolic`` and ``mean_arterial_pressure`` are unused by the spec; they are kept so
    that what a cuff sends there (NaN, or 0 in Nordic's examples) round-trips.
    """

    current_cuff_pressure: MedFloat
    kpa: bool = False
    time_stamp: DateTime | None = None
    pulse_rate: MedFloat | None = None
    user_id: int | None = None
    measurement_status: int | None = None
    diastolic: MedFloat = SFLOAT_NAN
    mean_arterial_pressure: MedFloat = SFLOAT_NAN


def _status_words(status: int) -> tuple[str, ...]:
    flags = bit_names(
        status,
        {0: "body_movement", 1: "cuff_fit_loose", 2: "irregular_pulse", 5: "improper_position"},
    )
    if (status >> 3) & 0x03 in (1, 2):
        flags.append("pulse_out_of_range")
    return tuple(sorted(flags))


# The flag words depend on status bits 0-5 only: computed once for the 64 patterns.
_STATUS_WORDS: Final = tuple(_status_words(status) for status in range(64))


def status_flags(status: int | None) -> list[str]:
    """Measurement status -> the flag words put on measurements."""
    if status is None:
        return []
    return list(_STATUS_WORDS[status & 0x3F])


def _status_record(status: int | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "raw": status,
        "body_movement": bool(status & 0x01),  # MeasurementStatus.BODY_MOVEMENT
        "cuff_fit_loose": bool(status & 0x02),  # CUFF_FIT_LOOSE
        "irregular_pulse": bool(status & 0x04),  # IRREGULAR_PULSE
        "pulse_rate_range": PULSE_RATE_RANGES[(status >> 3) & 0x03],
        "improper_position": bool(status & 0x20),  # IMPROPER_POSITION
    }


# Both characteristics share one layout: (flags, three SFLOATs, optional fields).
@dataclass(frozen=True, slots=True)
class _Fields:
    flags: int
    first: MedFloat
    second: MedFloat
    third: MedFloat
    time_stamp: DateTime | None
    pulse_rate: MedFloat | None
    user_id: int | None
    measurement_status: int | None


def _parse_checked(payload: bytes, protocol: str, first_name: str) -> _Fields:
    """Field by field, naming the field where a value ends or breaks the spec."""
    reader = Reader(payload, protocol)
    flags = reader.u8("Flags")
    first = reader.sfloat(first_name)
    second = reader.sfloat("Diastolic")
    third = reader.sfloat("Mean Arterial Pressure")
    stamp = reader.date_time("Time Stamp") if flags & 0x02 else None
    pulse = reader.sfloat("Pulse Rate") if flags & 0x04 else None
    user_id = reader.u8("User ID") if flags & 0x08 else None
    status = reader.u16("Measurement Status") if flags & 0x10 else None
    reader.end()
    return _Fields(flags, first, second, third, stamp, pulse, user_id, status)


def _size(flags: int) -> int:
    """The length of a value with these flags (RFU bits 5-7 add nothing)."""
    return (
        7
        + (7 if flags & 0x02 else 0)
        + (2 if flags & 0x04 else 0)
        + (1 if flags & 0x08 else 0)
        + (2 if flags & 0x10 else 0)
    )


_SIZES: Final = tuple(_size(flags) for flags in range(256))
_HEAD: Final = struct.Struct("<BHHH")  # flags, three SFLOATs

# flags, first, second, third, time stamp, its datetime, pulse rate, user id, status
_Parsed = tuple[
    int,
    MedFloat,
    MedFloat,
    MedFloat,
    DateTime | None,
    datetime | None,
    MedFloat | None,
    int | None,
    int | None,
]


def _parse_fast(payload: bytes, protocol: str, first_name: str) -> _Parsed:
    """All fields at once when the length is the one the flags announce; otherwise the
    field-by-field reader, which raises the error naming the field."""
    if not payload or len(payload) != _SIZES[payload[0]]:
        # the reader raises for a wrong length; the conversion below only keeps mypy honest
        f = _parse_checked(payload, protocol, first_name)
        stamp = f.time_stamp
        return (
            f.flags,
            f.first,
            f.second,
            f.third,
            stamp,
            stamp.to_datetime() if stamp else None,
            f.pulse_rate,
            f.user_id,
            f.measurement_status,
        )
    flags, first, second, third = _HEAD.unpack_from(payload)
    pos = 7
    stamp = None
    when: datetime | None = None
    pulse: MedFloat | None = None
    user_id: int | None = None
    status: int | None = None
    if flags & 0x02:
        stamp, when = date_time_at(payload, 7, "Time Stamp", protocol)
        pos = 14
    if flags & 0x04:
        pulse = sfloat_from_raw(payload[pos] | payload[pos + 1] << 8)
        pos += 2
    if flags & 0x08:
        user_id = payload[pos]
        pos += 1
    if flags & 0x10:
        status = payload[pos] | payload[pos + 1] << 8
    return (
        flags,
        sfloat_from_raw(first),
        sfloat_from_raw(second),
        sfloat_from_raw(third),
        stamp,
        when,
        pulse,
        user_id,
        status,
    )


def _parse(payload: bytes, protocol: str, first_name: str) -> _Fields:
    flags, first, second, third, stamp, _, pulse, user_id, status = _parse_fast(
        payload, protocol, first_name
    )
    return _Fields(flags, first, second, third, stamp, pulse, user_id, status)


def _encode(
    *,
    kpa: bool,
    values: tuple[MedFloat, MedFloat, MedFloat],
    time_stamp: DateTime | None,
    pulse_rate: MedFloat | None,
    user_id: int | None,
    measurement_status: int | None,
) -> bytes:
    flags = (
        (0x01 if kpa else 0)
        | (0x02 if time_stamp is not None else 0)
        | (0x04 if pulse_rate is not None else 0)
        | (0x08 if user_id is not None else 0)
        | (0x10 if measurement_status is not None else 0)
    )
    out = bytearray((flags,))
    for number in values:
        out += encode_sfloat(number)
    if time_stamp is not None:
        out += time_stamp.to_bytes()
    if pulse_rate is not None:
        out += encode_sfloat(pulse_rate)
    if user_id is not None:
        out.append(check_uint("user_id", user_id, 8))
    if measurement_status is not None:
        out += check_uint("measurement_status", int(measurement_status), 16).to_bytes(2, "little")
    return bytes(out)


def _measurements(
    protocol: str,
    payload: bytes,
    pressures: tuple[tuple[MeasurementKind, MedFloat, dict[str, Any]], ...],
    unit: str,
    when: datetime | None,
    flags: tuple[str, ...],
    user_id: int | None,
) -> tuple[Measurement, ...]:
    """One measurement per ``(kind, number, number.to_json())``, sharing time, flags, user.

    The value is taken from the number's JSON (computed once for the record)."""
    create = Measurement.create
    try:
        return tuple(
            [
                create(
                    kind,
                    None if number.special else number_json["value"],
                    unit,
                    special=number.special,
                    measured_at=when,
                    flags=flags,
                    user_id=user_id,
                    decimals=None if number.special else medfloat_decimals(number),
                )
                for kind, number, number_json in pressures
            ]
        )
    except (ValidationError, ArithmeticError, ValueError):
        for kind, number, _ in pressures:  # raise it as the FrameError naming the value
            medfloat_measurement(
                protocol,
                payload,
                kind,
                number,
                unit,
                measured_at=when,
                flags=flags,
                user_id=user_id,
            )
        raise


# --------------------------------------------------------------------------- 0x2A35


def parse_blood_pressure(payload: bytes) -> BloodPressureMeasurement:
    f = _parse(payload, BLOOD_PRESSURE_ID, "Systolic")
    return BloodPressureMeasurement(
        f.first,
        f.second,
        f.third,
        bool(f.flags & 0x01),
        f.time_stamp,
        f.pulse_rate,
        f.user_id,
        f.measurement_status,
    )


def encode_blood_pressure(value: BloodPressureMeasurement) -> bytes:
    """The 0x2A35 value a cuff indicates (flags derived from which fields are set)."""
    return _encode(
        kpa=value.kpa,
        values=(
            sfloat(value.systolic),
            sfloat(value.diastolic),
            sfloat(value.mean_arterial_pressure),
        ),
        time_stamp=value.time_stamp,
        pulse_rate=value.pulse_rate,
        user_id=value.user_id,
        measurement_status=value.measurement_status,
    )


def decode_blood_pressure(payload: bytes) -> Decoded:
    """``ble.blood_pressure`` -> systolic, diastolic, MAP and pulse rate measurements."""
    flags, first, second, third, stamp, when, pulse, user_id, status = _parse_fast(
        payload, BLOOD_PRESSURE_ID, "Systolic"
    )
    kpa = flags & 0x01
    first_json = first.to_json()
    second_json = second.to_json()
    third_json = third.to_json()
    pulse_json = pulse.to_json() if pulse else None
    record = {
        "flags": flags,
        "units": "kPa" if kpa else "mmHg",
        "systolic": first_json,
        "diastolic": second_json,
        "mean_arterial_pressure": third_json,
        "time_stamp": stamp.json_with(when) if stamp else None,
        "pulse_rate": pulse_json,
        "user_id": user_id,
        "measurement_status": _status_record(status),
    }
    words = () if status is None else _STATUS_WORDS[status & 0x3F]
    user = None if user_id == UNKNOWN_USER else user_id
    ms = _measurements(
        BLOOD_PRESSURE_ID,
        payload,
        (
            (_SYSTOLIC, first, first_json),
            (_DIASTOLIC, second, second_json),
            (_MAP, third, third_json),
        ),
        "kPa" if kpa else "mm[Hg]",
        when,
        words,
        user,
    )
    if pulse is not None and pulse_json is not None:
        ms += _measurements(
            BLOOD_PRESSURE_ID, payload, ((_PULSE, pulse, pulse_json),), "/min", when, words, user
        )
    return Decoded(BLOOD_PRESSURE_ID, record, ms, raw=payload)


# --------------------------------------------------------------------------- 0x2A36


def parse_intermediate_cuff_pressure(payload: bytes) -> IntermediateCuffPressure:
    f = _parse(payload, CUFF_PRESSURE_ID, "Current Cuff Pressure")
    return IntermediateCuffPressure(
        f.first,
        bool(f.flags & 0x01),
        f.time_stamp,
        f.pulse_rate,
        f.user_id,
        f.measurement_status,
        f.second,
        f.third,
    )


def encode_intermediate_cuff_pressure(value: IntermediateCuffPressure) -> bytes:
    """The 0x2A36 value a cuff notifies while measuring."""
    return _encode(
        kpa=value.kpa,
        values=(
            sfloat(value.current_cuff_pressure),
            sfloat(value.diastolic),
            sfloat(value.mean_arterial_pressure),
        ),
        time_stamp=value.time_stamp,
        pulse_rate=value.pulse_rate,
        user_id=value.user_id,
        measurement_status=value.measurement_status,
    )


def decode_intermediate_cuff_pressure(payload: bytes) -> Decoded:
    """``ble.intermediate_cuff_pressure`` -> one ``cuff_pressure`` measurement (progress).

    A pulse rate sent while measuring stays in the record: it is not a result."""
    flags, first, second, third, stamp, when, pulse, user_id, status = _parse_fast(
        payload, CUFF_PRESSURE_ID, "Current Cuff Pressure"
    )
    kpa = flags & 0x01
    first_json = first.to_json()
    record = {
        "flags": flags,
        "units": "kPa" if kpa else "mmHg",
        "current_cuff_pressure": first_json,
        "diastolic": second.to_json(),
        "mean_arterial_pressure": third.to_json(),
        "time_stamp": stamp.json_with(when) if stamp else None,
        "pulse_rate": pulse.to_json() if pulse else None,
        "user_id": user_id,
        "measurement_status": _status_record(status),
    }
    # progress only: a pulse rate here is not a result
    ms = _measurements(
        CUFF_PRESSURE_ID,
        payload,
        ((_CUFF, first, first_json),),
        "kPa" if kpa else "mm[Hg]",
        when,
        () if status is None else _STATUS_WORDS[status & 0x3F],
        None if user_id == UNKNOWN_USER else user_id,
    )
    return Decoded(CUFF_PRESSURE_ID, record, ms, raw=payload)


# --------------------------------------------------------------------------- 0x2A49


def parse_blood_pressure_feature(payload: bytes) -> BloodPressureFeature:
    reader = Reader(payload, FEATURE_ID)
    raw = reader.u16("Blood Pressure Feature")
    reader.end()
    return BloodPressureFeature(raw)


def encode_blood_pressure_feature(value: BloodPressureFeature | int) -> bytes:
    return check_uint("blood_pressure_feature", int(value), 16).to_bytes(2, "little")


def decode_blood_pressure_feature(payload: bytes) -> Decoded:
    """``ble.blood_pressure_feature``: which status bits the cuff can detect."""
    raw = int(parse_blood_pressure_feature(payload))
    record: dict[str, Any] = {"features": raw}
    record.update({name: bool(raw & (1 << bit)) for bit, name in FEATURE_NAMES.items()})
    return Decoded(FEATURE_ID, record, raw=payload)


PROTOCOLS: Final = (
    ProtocolSpec(
        BLOOD_PRESSURE_ID,
        "Blood Pressure Measurement (Blood Pressure Service)",
        PayloadKind.HEX,
        decode_blood_pressure,
        uuid=0x2A35,
        examples=(
            # Nordic BloodPressureMeasurementDataCallbackTest: full, some (kPa), minimal
            bytes.fromhex("1e8a00580078000000041114293b3c00012700"),
            bytes.fromhex("15bdf00b009ff03c001200"),
            bytes.fromhex("00bdf00b009ff0"),
            # 120/80 mmHg, MAP NaN, 2024-10-27 13:30:00, pulse 72, user 1, status clear
            bytes.fromhex("1e78005000ff07e8070a1b0d1e004800010000"),
        ),
    ),
    ProtocolSpec(
        CUFF_PRESSURE_ID,
        "Intermediate Cuff Pressure (Blood Pressure Service, progress while measuring)",
        PayloadKind.HEX,
        decode_intermediate_cuff_pressure,
        uuid=0x2A36,
        examples=(
            # Nordic IntermediateCuffPressureDataCallbackTest: minimal, some (kPa)
            bytes.fromhex("00d7f000000000"),
            bytes.fromhex("156ff0000000003c001200"),
            bytes.fromhex("005a00ff07ff07"),  # 90 mmHg, NaN in the unused fields
        ),
    ),
    ProtocolSpec(
        FEATURE_ID,
        "Blood Pressure Feature",
        PayloadKind.HEX,
        decode_blood_pressure_feature,
        uuid=0x2A49,
        examples=(bytes.fromhex("3f00"), bytes.fromhex("0500")),
    ),
)
