"""Glucose Service (0x1808): Glucose Measurement, Measurement Context and Feature.

Standard Bluetooth glucometers (Roche Accu-Chek Guide/Instant, Ascensia Contour Next
One, i-SENS CareSens, ...) keep numbered records and send them as Glucose Measurement
(0x2A18) notifications when the Record Access Control Point asks for them (see
:mod:`cart.protocols.ble_racp`); a record with "context information follows" is followed
by its Glucose Measurement Context (0x2A34) with the same sequence number. Glucose
Feature (0x2A51) says which sensor faults the meter can detect. Little-endian.

Wire layout::

    Glucose Measurement 0x2A18
      flags uint8: bit0 time offset, bit1 concentration + type-sample location,
                   bit2 concentration units (0 kg/L, 1 mol/L), bit3 sensor status
                   annunciation, bit4 context information follows, bits 5-7 RFU
      sequence number       uint16
      base time             Date Time, 7 bytes
      [time offset]         sint16 minutes; user-facing time = base time + offset
      [concentration]       SFLOAT kg/L or mol/L    (95 mg/dL = 95e-5 kg/L = 0xB05F)
      [type-sample location] uint8: type low nibble, sample location high nibble
      [sensor status annunciation] uint16, bits 0-11 (see STATUS_FLAGS)

    Glucose Measurement Context 0x2A34
      flags uint8: bit0 carbohydrate id + carbohydrate, bit1 meal, bit2 tester-health,
                   bit3 exercise duration + intensity, bit4 medication id + medication,
                   bit5 medication units (0 kg, 1 L), bit6 HbA1c, bit7 extended flags
      sequence number uint16, then in order: [extended flags u8], [carbohydrate id u8,
      carbohydrate SFLOAT kg], [meal u8], [tester (low nibble) - health (high nibble)],
      [exercise duration u16 s, exercise intensity u8 %], [medication id u8, medication
      SFLOAT kg or L], [HbA1c SFLOAT %]

    Glucose Feature 0x2A51 (uint16): bit0 low battery detection, bit1 sensor malfunction
      detection, bit2 sample size, bit3 strip insertion error detection, bit4 strip type
      error detection, bit5 result high-low detection, bit6 temperature high-low
      detection, bit7 read interrupt detection, bit8 general device fault, bit9 time
      fault, bit10 multiple bond

Measurements: one ``glucose`` in mg/dL (kg/L x 100000, mol/L x 18016000) with the
sequence number, the user-facing time, ``context`` ``{"sample", "location"}`` and the
sensor status as flags (``low_battery``, ``above_range``, ...; ``control_solution`` for
control-solution type or location); LOINC 41653-7 for capillary samples, 2339-0
otherwise. A context's HbA1c becomes an ``hba1c`` measurement; :func:`apply_context`
adds its meal (fasting, postprandial, ...) to the glucose measurement of the same record.

Sources: Bluetooth SIG GATT Specification Supplement (glucose_measurement,
glucose_measurement_context, glucose_feature); Glucose Service 1.0.1; oesmith/gatt-xml;
Nordic Semiconductor Android-BLE-Common-Library ``glucose/*DataCallbackTest.java``
(vectors in the tests).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntFlag
from typing import Any, Final

from cart.errors import FrameError, ValidationError
from cart.measurement import (
    GLUCOSE_LOINC_CAPILLARY,
    GLUCOSE_LOINC_UNKNOWN_SAMPLE,
    Measurement,
    MeasurementKind,
)
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec
from cart.protocols.ble_common import (
    DateTime,
    Reader,
    check_uint,
    date_time_at,
    medfloat_decimals,
    medfloat_measurement,
)
from cart.protocols.ieee11073 import MedFloat, encode_sfloat, sfloat_from_raw

__all__ = [
    "CARBOHYDRATE_IDS",
    "FEATURE_NAMES",
    "HEALTH",
    "MEALS",
    "MEDICATION_IDS",
    "PROTOCOLS",
    "SAMPLE_LOCATIONS",
    "STATUS_FLAGS",
    "TESTERS",
    "TYPES",
    "DateTime",
    "GlucoseFeature",
    "GlucoseMeasurement",
    "GlucoseMeasurementContext",
    "SensorStatus",
    "apply_context",
    "context_words",
    "decode_glucose_context",
    "decode_glucose_feature",
    "decode_glucose_measurement",
    "encode_glucose_context",
    "encode_glucose_feature",
    "encode_glucose_measurement",
    "parse_glucose_context",
    "parse_glucose_feature",
    "parse_glucose_measurement",
]

MEASUREMENT_ID: Final = "ble.glucose_measurement"
CONTEXT_ID: Final = "ble.glucose_context"
FEATURE_ID: Final = "ble.glucose_feature"

TIME_OFFSET_OVERRUN: Final = 0x7FFF
TIME_OFFSET_UNDERRUN: Final = -0x8000
_GLUCOSE: Final = MeasurementKind.GLUCOSE

#: Type (low nibble of Type-Sample Location); 0 and 11-15 are reserved.
TYPES: Final = {
    1: "capillary_whole_blood",
    2: "capillary_plasma",
    3: "venous_whole_blood",
    4: "venous_plasma",
    5: "arterial_whole_blood",
    6: "arterial_plasma",
    7: "undetermined_whole_blood",
    8: "undetermined_plasma",
    9: "interstitial_fluid",
    10: "control_solution",
}
#: Sample Location (high nibble); 15 = not available, 0 and 5-14 reserved.
SAMPLE_LOCATIONS: Final = {
    1: "finger",
    2: "alternate_site_test",
    3: "earlobe",
    4: "control_solution",
    15: "not_available",
}
CAPILLARY_TYPES: Final = frozenset({1, 2})
CONTROL_SOLUTION_TYPE: Final = 10
CONTROL_SOLUTION_LOCATION: Final = 4


class SensorStatus(IntFlag):
    """Sensor Status Annunciation bits of 0x2A18 (combine with ``|``)."""

    LOW_BATTERY = 1 << 0
    SENSOR_MALFUNCTION = 1 << 1
    SAMPLE_SIZE_INSUFFICIENT = 1 << 2
    STRIP_INSERTION_ERROR = 1 << 3
    STRIP_TYPE_INCORRECT = 1 << 4
    ABOVE_RANGE = 1 << 5
    BELOW_RANGE = 1 << 6
    TEMPERATURE_TOO_HIGH = 1 << 7
    TEMPERATURE_TOO_LOW = 1 << 8
    READ_INTERRUPTED = 1 << 9
    GENERAL_DEVICE_FAULT = 1 << 10
    TIME_FAULT = 1 << 11


#: bit -> flag word on the glucose measurement
STATUS_FLAGS: Final = {
    0: "low_battery",
    1: "sensor_malfunction",
    2: "sample_size_insufficient",
    3: "strip_insertion_error",
    4: "strip_type_incorrect",
    5: "above_range",
    6: "below_range",
    7: "temperature_too_high",
    8: "temperature_too_low",
    9: "read_interrupted",
    10: "general_device_fault",
    11: "time_fault",
}

CARBOHYDRATE_IDS: Final = {
    1: "breakfast",
    2: "lunch",
    3: "dinner",
    4: "snack",
    5: "drink",
    6: "supper",
    7: "brunch",
}
MEALS: Final = {1: "preprandial", 2: "postprandial", 3: "fasting", 4: "casual", 5: "bedtime"}
TESTERS: Final = {1: "self", 2: "health_care_professional", 3: "lab_test", 15: "not_available"}
HEALTH: Final = {
    1: "minor_health_issues",
    2: "major_health_issues",
    3: "during_menses",
    4: "under_stress",
    5: "no_health_issues",
    15: "not_available",
}
MEDICATION_IDS: Final = {
    1: "rapid_acting_insulin",
    2: "short_acting_insulin",
    3: "intermediate_acting_insulin",
    4: "long_acting_insulin",
    5: "pre_mixed_insulin",
}


# --------------------------------------------------------------------------- 0x2A18


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """Glucose Measurement (0x2A18).

    ``concentration`` is kg/L, or mol/L with ``mol_per_l=True`` (build it with
    :func:`cart.protocols.ieee11073.sfloat`: 95 mg/dL is ``sfloat("0.00095")``);
    ``type`` and ``sample_location`` (nibbles, see TYPES / SAMPLE_LOCATIONS) are sent
    together with it. ``sensor_status_annunciation`` is a :class:`SensorStatus` or int.
    """

    sequence_number: int
    base_time: DateTime
    time_offset: int | None = None
    concentration: MedFloat | None = None
    mol_per_l: bool = False
    type: int | None = None
    sample_location: int | None = None
    sensor_status_annunciation: int | None = None
    context_information_follows: bool = False


def parse_glucose_measurement(payload: bytes) -> GlucoseMeasurement:
    reader = Reader(payload, MEASUREMENT_ID)
    flags = reader.u8("Flags")
    sequence = reader.u16("Sequence Number")
    base_time = reader.date_time("Base Time")
    offset = reader.s16("Time Offset") if flags & 0x01 else None
    concentration = type_ = location = None
    if flags & 0x02:
        concentration = reader.sfloat("Glucose Concentration")
        type_location = reader.u8("Type-Sample Location")
        type_, location = type_location & 0x0F, type_location >> 4
    status = reader.u16("Sensor Status Annunciation") if flags & 0x08 else None
    reader.end()
    return GlucoseMeasurement(
        sequence,
        base_time,
        offset,
        concentration,
        bool(flags & 0x04),
        type_,
        location,
        status,
        bool(flags & 0x10),
    )


def encode_glucose_measurement(value: GlucoseMeasurement) -> bytes:
    """The 0x2A18 value a meter notifies (flags derived from which fields are set)."""
    has_concentration = value.concentration is not None
    if has_concentration != (value.type is not None and value.sample_location is not None):
        raise ValueError("concentration, type and sample_location are sent together")
    flags = (
        (0x01 if value.time_offset is not None else 0)
        | (0x02 if has_concentration else 0)
        | (0x04 if value.mol_per_l else 0)
        | (0x08 if value.sensor_status_annunciation is not None else 0)
        | (0x10 if value.context_information_follows else 0)
    )
    out = bytearray((flags,))
    out += check_uint("sequence_number", value.sequence_number, 16).to_bytes(2, "little")
    out += value.base_time.to_bytes()
    if value.time_offset is not None:
        if not -0x8000 <= value.time_offset <= 0x7FFF:
            raise ValueError(f"time offset {value.time_offset} does not fit in sint16")
        out += value.time_offset.to_bytes(2, "little", signed=True)
    if value.concentration is not None and value.type is not None:
        out += encode_sfloat(value.concentration)
        check_uint("type", value.type, 4)
        check_uint("sample_location", value.sample_location or 0, 4)
        out.append(value.type | (value.sample_location or 0) << 4)
    if value.sensor_status_annunciation is not None:
        status = int(value.sensor_status_annunciation)
        out += check_uint("sensor_status_annunciation", status, 16).to_bytes(2, "little")
    return bytes(out)


def _offset_time(base: datetime | None, offset: int | None, payload: bytes) -> datetime | None:
    """Base time + time offset (None when unknown, or at the overrun/underrun markers)."""
    if base is None or offset in (TIME_OFFSET_OVERRUN, TIME_OFFSET_UNDERRUN):
        return None
    if not offset:
        return base
    try:
        return base + timedelta(minutes=offset)
    except OverflowError as exc:
        raise FrameError(
            f"base time {base} plus time offset {offset} min is not a date",
            protocol=MEASUREMENT_ID,
            raw=payload,
        ) from exc


_STATUS_BITS: Final = tuple((1 << bit, name) for bit, name in sorted(STATUS_FLAGS.items()))


def _flag_words(status: int | None, type_: int | None, location: int | None) -> tuple[str, ...]:
    """The status bit words in bit order, then ``control_solution`` if the type or location
    says so."""
    words = tuple([name for mask, name in _STATUS_BITS if status & mask]) if status else ()
    if type_ == CONTROL_SOLUTION_TYPE or location == CONTROL_SOLUTION_LOCATION:
        words += ("control_solution",)
    return words


def _status_record(status: int | None) -> dict[str, Any] | None:
    if status is None:
        return None
    record: dict[str, Any] = {"raw": status}
    for mask, name in _STATUS_BITS:
        record[name] = bool(status & mask)
    return record


def _size(flags: int) -> int:
    """The length of a 0x2A18 value with these flags (RFU bits add nothing)."""
    return 10 + (2 if flags & 0x01 else 0) + (3 if flags & 0x02 else 0) + (2 if flags & 0x08 else 0)


_SIZES: Final = tuple(_size(flags) for flags in range(256))
_HEAD: Final = struct.Struct("<BH")  # flags, sequence number


def _parse_fast(
    payload: bytes,
) -> tuple[GlucoseMeasurement, datetime | None]:
    """:func:`parse_glucose_measurement` and the base time as a datetime, in one pass over a
    value whose length is the one its flags announce (else the field-by-field reader, which
    raises the error naming the field)."""
    if not payload or len(payload) != _SIZES[payload[0]]:
        value = parse_glucose_measurement(payload)  # a wrong length always raises there
        return value, value.base_time.to_datetime()
    flags, sequence = _HEAD.unpack_from(payload)
    base_time, base = date_time_at(payload, 3, "Base Time", MEASUREMENT_ID)
    pos = 10
    offset = None
    if flags & 0x01:
        offset = payload[10] | payload[11] << 8
        if offset & 0x8000:
            offset -= 0x10000
        pos = 12
    concentration = type_ = location = None
    if flags & 0x02:
        concentration = sfloat_from_raw(payload[pos] | payload[pos + 1] << 8)
        type_location = payload[pos + 2]
        type_, location = type_location & 0x0F, type_location >> 4
        pos += 3
    status = payload[pos] | payload[pos + 1] << 8 if flags & 0x08 else None
    value = GlucoseMeasurement(
        sequence,
        base_time,
        offset,
        concentration,
        bool(flags & 0x04),
        type_,
        location,
        status,
        bool(flags & 0x10),
    )
    return value, base


def decode_glucose_measurement(payload: bytes) -> Decoded:
    """``ble.glucose_measurement`` -> one ``glucose`` measurement (mg/dL) when present."""
    value, base = _parse_fast(payload)
    when = _offset_time(base, value.time_offset, payload)
    status = value.sensor_status_annunciation
    unit = "mol/L" if value.mol_per_l else "kg/L"
    type_ = value.type
    location = value.sample_location
    concentration = value.concentration
    concentration_json = concentration.to_json() if concentration else None
    record: dict[str, Any] = {
        "flags": payload[0],
        "sequence_number": value.sequence_number,
        "base_time": value.base_time.json_with(base),
        "time_offset": value.time_offset,
        "user_facing_time": when.isoformat() if when else None,
        "glucose_concentration": concentration_json,
        "concentration_unit": unit,
        "type": type_,
        "type_name": TYPES.get(type_) if type_ is not None else None,
        "sample_location": location,
        "sample_location_name": SAMPLE_LOCATIONS.get(location) if location is not None else None,
        "sensor_status_annunciation": _status_record(status),
        "context_information_follows": value.context_information_follows,
    }
    measurements: tuple[Measurement, ...] = ()
    if concentration is not None and concentration_json is not None:
        context: dict[str, str] = {}
        if type_ in TYPES:
            context["sample"] = TYPES[type_]
        if location in SAMPLE_LOCATIONS and location != 15:
            context["location"] = SAMPLE_LOCATIONS[location]
        loinc = (
            GLUCOSE_LOINC_CAPILLARY if type_ in CAPILLARY_TYPES else GLUCOSE_LOINC_UNKNOWN_SAMPLE
        )
        flags = _flag_words(status, type_, location)
        special = concentration.special
        try:
            glucose = Measurement.create(
                _GLUCOSE,
                None if special else concentration_json["value"],
                unit,
                special=special,
                measured_at=when,
                flags=flags,
                sequence=value.sequence_number,
                context=context,
                loinc=loinc,
                decimals=None if special else medfloat_decimals(concentration),
            )
        except (ValidationError, ArithmeticError, ValueError):  # raised as a FrameError
            glucose = medfloat_measurement(
                MEASUREMENT_ID,
                payload,
                _GLUCOSE,
                concentration,
                unit,
                measured_at=when,
                flags=flags,
                sequence=value.sequence_number,
                context=context,
                loinc=loinc,
            )
        measurements = (glucose,)
    return Decoded(MEASUREMENT_ID, record, measurements, raw=payload)


# --------------------------------------------------------------------------- 0x2A34


@dataclass(frozen=True, slots=True)
class GlucoseMeasurementContext:
    """Glucose Measurement Context (0x2A34). Codes are the spec's (see the tables).

    ``carbohydrate`` is kg (the spec's unit: 50 g is ``sfloat("0.05")``); ``medication``
    is kg, or litres with ``medication_in_liters=True``; ``hba1c`` is %. Paired fields
    (carbohydrate id + carbohydrate, exercise duration + intensity, medication id +
    medication) are sent together.
    """

    sequence_number: int
    extended_flags: int | None = None
    carbohydrate_id: int | None = None
    carbohydrate: MedFloat | None = None
    meal: int | None = None
    tester: int | None = None
    health: int | None = None
    exercise_duration: int | None = None
    exercise_intensity: int | None = None
    medication_id: int | None = None
    medication: MedFloat | None = None
    medication_in_liters: bool = False
    hba1c: MedFloat | None = None


def parse_glucose_context(payload: bytes) -> GlucoseMeasurementContext:
    reader = Reader(payload, CONTEXT_ID)
    flags = reader.u8("Flags")
    fields: dict[str, Any] = {"sequence_number": reader.u16("Sequence Number")}
    if flags & 0x80:
        fields["extended_flags"] = reader.u8("Extended Flags")
    if flags & 0x01:
        fields["carbohydrate_id"] = reader.u8("Carbohydrate ID")
        fields["carbohydrate"] = reader.sfloat("Carbohydrate")
    if flags & 0x02:
        fields["meal"] = reader.u8("Meal")
    if flags & 0x04:
        tester_health = reader.u8("Tester-Health")
        fields["tester"], fields["health"] = tester_health & 0x0F, tester_health >> 4
    if flags & 0x08:
        fields["exercise_duration"] = reader.u16("Exercise Duration")
        fields["exercise_intensity"] = reader.u8("Exercise Intensity")
    if flags & 0x10:
        fields["medication_id"] = reader.u8("Medication ID")
        fields["medication"] = reader.sfloat("Medication")
    if flags & 0x40:
        fields["hba1c"] = reader.sfloat("HbA1c")
    reader.end()
    return GlucoseMeasurementContext(medication_in_liters=bool(flags & 0x20), **fields)


def _pair(a: object, b: object, names: str) -> bool:
    if (a is None) != (b is None):
        raise ValueError(f"{names} are sent together: give both or neither")
    return a is not None


def encode_glucose_context(value: GlucoseMeasurementContext) -> bytes:
    """The 0x2A34 value a meter notifies after a record with context information."""
    carbohydrate = _pair(value.carbohydrate_id, value.carbohydrate, "carbohydrate_id, carbohydrate")
    tester_health = _pair(value.tester, value.health, "tester, health")
    exercise = _pair(
        value.exercise_duration, value.exercise_intensity, "exercise_duration, exercise_intensity"
    )
    medication = _pair(value.medication_id, value.medication, "medication_id, medication")
    flags = (
        (0x01 if carbohydrate else 0)
        | (0x02 if value.meal is not None else 0)
        | (0x04 if tester_health else 0)
        | (0x08 if exercise else 0)
        | (0x10 if medication else 0)
        | (0x20 if value.medication_in_liters else 0)
        | (0x40 if value.hba1c is not None else 0)
        | (0x80 if value.extended_flags is not None else 0)
    )
    out = bytearray((flags,))
    out += check_uint("sequence_number", value.sequence_number, 16).to_bytes(2, "little")
    if value.extended_flags is not None:
        out.append(check_uint("extended_flags", value.extended_flags, 8))
    if value.carbohydrate_id is not None and value.carbohydrate is not None:
        out.append(check_uint("carbohydrate_id", value.carbohydrate_id, 8))
        out += encode_sfloat(value.carbohydrate)
    if value.meal is not None:
        out.append(check_uint("meal", value.meal, 8))
    if value.tester is not None and value.health is not None:
        out.append(
            check_uint("tester", value.tester, 4) | check_uint("health", value.health, 4) << 4
        )
    if value.exercise_duration is not None and value.exercise_intensity is not None:
        out += check_uint("exercise_duration", value.exercise_duration, 16).to_bytes(2, "little")
        out.append(check_uint("exercise_intensity", value.exercise_intensity, 8))
    if value.medication_id is not None and value.medication is not None:
        out.append(check_uint("medication_id", value.medication_id, 8))
        out += encode_sfloat(value.medication)
    if value.hba1c is not None:
        out += encode_sfloat(value.hba1c)
    return bytes(out)


def _name(table: dict[int, str], code: int | None) -> str | None:
    return None if code is None else table.get(code)


def context_words(value: GlucoseMeasurementContext) -> dict[str, str]:
    """The ``Measurement.context`` entries this context gives (meal, tester, health)."""
    words = {}
    for key, table, code in (
        ("meal", MEALS, value.meal),
        ("tester", TESTERS, value.tester),
        ("health", HEALTH, value.health),
    ):
        name = _name(table, code)
        if name is not None and name != "not_available":
            words[key] = name
    return words


def decode_glucose_context(payload: bytes) -> Decoded:
    """``ble.glucose_context``: context fields; an ``hba1c`` measurement when present."""
    value = parse_glucose_context(payload)
    record: dict[str, Any] = {
        "flags": payload[0],
        "sequence_number": value.sequence_number,
        "extended_flags": value.extended_flags,
        "carbohydrate_id": value.carbohydrate_id,
        "carbohydrate_id_name": _name(CARBOHYDRATE_IDS, value.carbohydrate_id),
        "carbohydrate": value.carbohydrate.to_json() if value.carbohydrate else None,
        "carbohydrate_unit": "kg",
        "meal": value.meal,
        "meal_name": _name(MEALS, value.meal),
        "tester": value.tester,
        "tester_name": _name(TESTERS, value.tester),
        "health": value.health,
        "health_name": _name(HEALTH, value.health),
        "exercise_duration": value.exercise_duration,
        "exercise_duration_overrun": value.exercise_duration == 0xFFFF,
        "exercise_intensity": value.exercise_intensity,
        "medication_id": value.medication_id,
        "medication_id_name": _name(MEDICATION_IDS, value.medication_id),
        "medication": value.medication.to_json() if value.medication else None,
        "medication_unit": "L" if value.medication_in_liters else "kg",
        "hba1c": value.hba1c.to_json() if value.hba1c else None,
    }
    measurements: tuple[Measurement, ...] = ()
    if value.hba1c is not None:
        measurements = (
            medfloat_measurement(
                CONTEXT_ID,
                payload,
                MeasurementKind.HBA1C,
                value.hba1c,
                "%",
                sequence=value.sequence_number,
                context=context_words(value),
            ),
        )
    return Decoded(CONTEXT_ID, record, measurements, raw=payload)


def apply_context(
    measurements: tuple[Measurement, ...], context: GlucoseMeasurementContext
) -> tuple[Measurement, ...]:
    """Add the context's meal/tester/health to the glucose measurements of its record.

    Only measurements whose ``sequence`` equals the context's sequence number change.
    """
    words = context_words(context)
    return tuple(
        replace(m, context={**m.context, **words})
        if m.kind is MeasurementKind.GLUCOSE and m.sequence == context.sequence_number
        else m
        for m in measurements
    )


# --------------------------------------------------------------------------- 0x2A51

FEATURE_NAMES: Final = {
    0: "low_battery_detection_supported",
    1: "sensor_malfunction_detection_supported",
    2: "sensor_sample_size_supported",
    3: "sensor_strip_insertion_error_detection_supported",
    4: "sensor_strip_type_error_detection_supported",
    5: "sensor_result_high_low_detection_supported",
    6: "sensor_temperature_high_low_detection_supported",
    7: "sensor_read_interrupt_detection_supported",
    8: "general_device_fault_supported",
    9: "time_fault_supported",
    10: "multiple_bond_supported",
}


class GlucoseFeature(IntFlag):
    """Glucose Feature bits (0x2A51)."""

    LOW_BATTERY_DETECTION = 1 << 0
    SENSOR_MALFUNCTION_DETECTION = 1 << 1
    SENSOR_SAMPLE_SIZE = 1 << 2
    SENSOR_STRIP_INSERTION_ERROR_DETECTION = 1 << 3
    SENSOR_STRIP_TYPE_ERROR_DETECTION = 1 << 4
    SENSOR_RESULT_HIGH_LOW_DETECTION = 1 << 5
    SENSOR_TEMPERATURE_HIGH_LOW_DETECTION = 1 << 6
    SENSOR_READ_INTERRUPT_DETECTION = 1 << 7
    GENERAL_DEVICE_FAULT = 1 << 8
    TIME_FAULT = 1 << 9
    MULTIPLE_BOND = 1 << 10


def parse_glucose_feature(payload: bytes) -> GlucoseFeature:
    reader = Reader(payload, FEATURE_ID)
    raw = reader.u16("Glucose Feature")
    reader.end()
    return GlucoseFeature(raw)


def encode_glucose_feature(value: GlucoseFeature | int) -> bytes:
    return check_uint("glucose_feature", int(value), 16).to_bytes(2, "little")


def decode_glucose_feature(payload: bytes) -> Decoded:
    """``ble.glucose_feature``: which sensor conditions the meter can detect."""
    raw = int(parse_glucose_feature(payload))
    record: dict[str, Any] = {"features": raw}
    record.update({name: bool(raw & (1 << bit)) for bit, name in FEATURE_NAMES.items()})
    return Decoded(FEATURE_ID, record, raw=payload)


PROTOCOLS: Final = (
    ProtocolSpec(
        MEASUREMENT_ID,
        "Glucose Measurement (Glucose Service)",
        PayloadKind.HEX,
        decode_glucose_measurement,
        uuid=0x2A18,
        examples=(
            # Nordic GlucoseMeasurementDataCallbackTest.onGlucoseMeasurementReceived
            bytes.fromhex("1b0100e307021b0b0a1efbff1e00120501"),
            bytes.fromhex("020c00e8070a1b0d1e005fb011"),  # #12, 95 mg/dL capillary, finger
            bytes.fromhex("070d00e8070a1b0d1e003c0035c011"),  # #13, 5.3 mmol/L, +60 min
        ),
    ),
    ProtocolSpec(
        CONTEXT_ID,
        "Glucose Measurement Context (Glucose Service)",
        PayloadKind.HEX,
        decode_glucose_context,
        uuid=0x2A34,
        examples=(
            # Nordic GlucoseMeasurementContextDataCallbackTest (full; empty, 3 bytes)
            bytes.fromhex("ff0000b303640004123c003204d3f459f1"),
            bytes.fromhex("000100"),
            bytes.fromhex("020c0003"),  # #12, fasting
        ),
    ),
    ProtocolSpec(
        FEATURE_ID,
        "Glucose Feature",
        PayloadKind.HEX,
        decode_glucose_feature,
        uuid=0x2A51,
        examples=(bytes.fromhex("f003"), bytes.fromhex("ff07")),  # Nordic GlucoseFeature test
    ),
)
