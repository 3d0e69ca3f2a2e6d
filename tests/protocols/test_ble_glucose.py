"""Glucose Measurement (0x2A18), Glucose Measurement Context (0x2A34), Glucose Feature (0x2A51)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import FrameError, IncompleteFrame
from cart.protocols.ble_glucose import (
    PROTOCOLS,
    STATUS_FLAGS,
    DateTime,
    GlucoseFeature,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    SensorStatus,
    apply_context,
    decode_glucose_context,
    decode_glucose_feature,
    decode_glucose_measurement,
    encode_glucose_context,
    encode_glucose_feature,
    encode_glucose_measurement,
    parse_glucose_context,
    parse_glucose_feature,
    parse_glucose_measurement,
)
from cart.protocols.ieee11073 import (
    SFLOAT_NAN,
    SFLOAT_NEG_INF,
    SFLOAT_NRES,
    SFLOAT_POS_INF,
    SFLOAT_RESERVED,
    MedFloat,
    sfloat,
)
from tests.protocols import checks
from tests.protocols.checks import sfloat_json as sf


def mj(kind: str, value: float | None, **fields: Any) -> dict[str, Any]:
    glucose = kind == "glucose"
    unit, loinc = ("mg/dL", "41653-7") if glucose else ("%", "4548-4")
    # the SFLOAT exponent is the precision: kg/L with exponent -5 (1 mg/dL) and mol/L with
    # exponent -4 (0.1 mmol/L = 1.8 mg/dL) both give whole mg/dL; HbA1c % as sent
    if value is not None:
        fields.setdefault("decimals", 0 if glucose else checks.places(value))
    return checks.measurement_json(kind, value, unit=unit, loinc=loinc, **fields)


def stamp(year: int, month: int, day: int, h: int, m: int, s: int) -> dict[str, Any]:
    return {
        "timestamp": datetime(year, month, day, h, m, s).isoformat(),
        "year": year,
        "month": month,
        "day": day,
        "hours": h,
        "minutes": m,
        "seconds": s,
    }


def status(raw: int) -> dict[str, Any]:
    return {"raw": raw} | {name: bool(raw & (1 << bit)) for bit, name in STATUS_FLAGS.items()}


BASE = "e8070a1b0d1e00"  # 2024-10-27 13:30:00
# Nordic Android-BLE-Common-Library glucose/GlucoseMeasurementDataCallbackTest
# .onGlucoseMeasurementReceived: {0b011011, 1, 0, 0xE3, 0x07, 2, 27, 11, 10, 30, 0xFB, 0xFF,
# 30, 0, 0x12, 0b101, 0b1}: seq 1, 2019-02-27 11:10:30, time offset -5 min, 30 kg/L,
# type 2 / location 1, status 0x0105
NORDIC_RECORD = bytes.fromhex("1b0100e307021b0b0a1efbff1e00120501")


def test_glucose_nordic_record() -> None:
    decoded = decode_glucose_measurement(NORDIC_RECORD)
    assert decoded.protocol == "ble.glucose_measurement"
    assert decoded.record == {
        "flags": 0x1B,
        "sequence_number": 1,
        "base_time": stamp(2019, 2, 27, 11, 10, 30),
        "time_offset": -5,
        "user_facing_time": "2019-02-27T11:05:30",
        "glucose_concentration": sf(30.0, 30),
        "concentration_unit": "kg/L",
        "type": 2,
        "type_name": "capillary_plasma",
        "sample_location": 1,
        "sample_location_name": "finger",
        "sensor_status_annunciation": status(261),
        "context_information_follows": True,
    }
    # Nordic asserts status 261: battery low, not general device fault. Bits 0, 2, 8.
    assert checks.measurements_json(decoded) == [
        mj(
            "glucose",
            3000000.0,
            original={"value": 30.0, "unit": "kg/L"},
            measured_at="2019-02-27T11:05:30",
            flags=["low_battery", "sample_size_insufficient", "temperature_too_low"],
            sequence=1,
            context={"sample": "capillary_plasma", "location": "finger"},
        )
    ]
    value = parse_glucose_measurement(NORDIC_RECORD)
    assert value == GlucoseMeasurement(
        sequence_number=1,
        base_time=DateTime(2019, 2, 27, 11, 10, 30),
        time_offset=-5,
        concentration=sfloat(30),
        type=2,
        sample_location=1,
        sensor_status_annunciation=SensorStatus.LOW_BATTERY
        | SensorStatus.SAMPLE_SIZE_INSUFFICIENT
        | SensorStatus.TEMPERATURE_TOO_LOW,
        context_information_follows=True,
    )
    assert encode_glucose_measurement(value) == NORDIC_RECORD


def test_glucose_95_mg_dl() -> None:
    # ../shared/protocols-ble.md §1.3: 95 mg/dL is mantissa 95, exponent -5 kg/L = 0xB05F;
    # record #12, capillary whole blood from a finger (type-location 0x11)
    payload = bytes.fromhex("020c00" + BASE + "5fb011")
    decoded = decode_glucose_measurement(payload)
    assert decoded.record["glucose_concentration"] == sf(0.00095, 95, -5)
    assert checks.measurements_json(decoded) == [
        mj(
            "glucose",
            95.0,
            original={"value": 0.00095, "unit": "kg/L"},
            measured_at="2024-10-27T13:30:00",
            sequence=12,
            context={"sample": "capillary_whole_blood", "location": "finger"},
        )
    ]
    value = GlucoseMeasurement(
        12,
        DateTime(2024, 10, 27, 13, 30),
        concentration=sfloat("0.00095"),
        type=1,
        sample_location=1,
    )
    assert encode_glucose_measurement(value) == payload


def test_glucose_mmol_with_time_offset() -> None:
    # ../shared/protocols-ble.md §1.3: 5.3 mmol/L = 0.0053 mol/L = 0xC035; offset +60 min
    payload = bytes.fromhex("070d00" + BASE + "3c0035c011")
    decoded = decode_glucose_measurement(payload)
    assert decoded.record["user_facing_time"] == "2024-10-27T14:30:00"
    assert decoded.record["concentration_unit"] == "mol/L"
    # 0.0053 mol/L x 18016 = 95.4848 mg/dL; sent to 0.1 mmol/L (1.8 mg/dL): whole mg/dL
    assert checks.measurements_json(decoded) == [
        mj(
            "glucose",
            95.0,
            original={"value": 0.0053, "unit": "mol/L"},
            measured_at="2024-10-27T14:30:00",
            sequence=13,
            context={"sample": "capillary_whole_blood", "location": "finger"},
        )
    ]


def test_glucose_above_range_is_plus_inf() -> None:
    # derived from spec: concentration +INF (0x07FE) with "result higher than the device
    # can process" (status bit 5)
    payload = bytes.fromhex("0a0e00" + BASE + "fe07112000")
    decoded = decode_glucose_measurement(payload)
    assert decoded.record["glucose_concentration"] == sf("+inf", 2046)
    assert checks.measurements_json(decoded) == [
        mj(
            "glucose",
            None,
            special="+inf",
            measured_at="2024-10-27T13:30:00",
            flags=["above_range"],
            sequence=14,
            context={"sample": "capillary_whole_blood", "location": "finger"},
        )
    ]


@pytest.mark.parametrize(
    ("special", "name"),
    [
        (SFLOAT_NAN, "nan"),
        (SFLOAT_NRES, "nres"),
        (SFLOAT_POS_INF, "+inf"),
        (SFLOAT_NEG_INF, "-inf"),
        (SFLOAT_RESERVED, "reserved"),
    ],
)
def test_every_special_concentration(special: MedFloat, name: str) -> None:
    payload = encode_glucose_measurement(
        GlucoseMeasurement(1, DateTime(), concentration=special, type=1, sample_location=1)
    )
    (glucose,) = decode_glucose_measurement(payload).measurements
    assert (glucose.value, glucose.special, glucose.original) == (None, name, None)


def test_glucose_without_concentration_has_no_measurement() -> None:
    # derived from spec: flags 0, sequence number and base time only
    decoded = decode_glucose_measurement(bytes.fromhex("000f00" + BASE))
    assert decoded.measurements == ()
    assert decoded.record["glucose_concentration"] is None
    assert decoded.record["type"] is None
    assert decoded.record["sensor_status_annunciation"] is None


def test_control_solution_and_unknown_sample() -> None:
    control = decode_glucose_measurement(bytes.fromhex("021000" + BASE + "5fb04a"))
    (m,) = control.measurements
    assert m.flags == ("control_solution",)
    assert m.loinc == "2339-0"
    assert dict(m.context) == {"sample": "control_solution", "location": "control_solution"}
    # type 7 undetermined whole blood, location 15 "not available" -> no location
    unknown = decode_glucose_measurement(bytes.fromhex("021100" + BASE + "5fb0f7"))
    (m,) = unknown.measurements
    assert m.loinc == "2339-0"
    assert dict(m.context) == {"sample": "undetermined_whole_blood"}
    assert unknown.record["sample_location_name"] == "not_available"
    # reserved type 0 / location 0: no context, numbers kept in the record
    reserved = decode_glucose_measurement(bytes.fromhex("021200" + BASE + "5fb000"))
    assert dict(reserved.measurements[0].context) == {}
    assert (reserved.record["type_name"], reserved.record["sample_location_name"]) == (None, None)


@pytest.mark.parametrize(("bit", "flag"), sorted(STATUS_FLAGS.items()))
def test_every_sensor_status_bit(bit: int, flag: str) -> None:
    value = GlucoseMeasurement(
        2, DateTime(2024, 1, 2, 3, 4, 5), None, sfloat(110), False, 1, 1, 1 << bit
    )
    (m,) = decode_glucose_measurement(encode_glucose_measurement(value)).measurements
    assert m.flags == (flag,)


def test_reserved_status_bits_are_ignored() -> None:
    value = GlucoseMeasurement(2, DateTime(), None, sfloat(110), False, 1, 1, 0xF000)
    (m,) = decode_glucose_measurement(encode_glucose_measurement(value)).measurements
    assert m.flags == ()


def test_unknown_or_unrepresentable_times() -> None:
    unknown = decode_glucose_measurement(bytes.fromhex("02010000000000000000" + "5fb011"))
    assert unknown.measurements[0].measured_at is None
    assert unknown.record["user_facing_time"] is None
    overrun = GlucoseMeasurement(3, DateTime(2024, 1, 1), 0x7FFF, sfloat(100), False, 1, 1)
    assert (
        decode_glucose_measurement(encode_glucose_measurement(overrun)).record["user_facing_time"]
        is None
    )
    # 9999-12-31 23:59 plus one hour is past datetime.max: a FrameError, not OverflowError
    late = GlucoseMeasurement(4, DateTime(9999, 12, 31, 23, 59), 60, sfloat(100), False, 1, 1)
    with pytest.raises(FrameError):
        decode_glucose_measurement(encode_glucose_measurement(late))


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        # Nordic GlucoseMeasurementDataCallbackTest.onInvalidDataReceived ("time offset
        # missing"): {0b011011, 0, 0, 0xE2, 0x07, 4, 26, 11, 9, 30, 30, 0, 0x12, 0b101, 0b1}
        (
            bytes([0x1B, 0, 0, 0xE2, 0x07, 4, 26, 11, 9, 30, 30, 0, 0x12, 0b101, 0b1]),
            IncompleteFrame,
        ),
        (NORDIC_RECORD[:-1], IncompleteFrame),
        (NORDIC_RECORD + b"\x00", FrameError),
        (bytes.fromhex("000100e8070a1b180000"), FrameError),  # hours 24 in the base time
        (b"\x00\x01", IncompleteFrame),
    ],
)
def test_glucose_errors(payload: bytes, error: type[Exception]) -> None:
    checks.assert_raises_exactly(decode_glucose_measurement, payload, error)


def test_encoder_checks() -> None:
    with pytest.raises(ValueError, match="together"):
        encode_glucose_measurement(GlucoseMeasurement(1, DateTime(), concentration=sfloat(90)))
    with pytest.raises(ValueError):
        encode_glucose_measurement(GlucoseMeasurement(70000, DateTime()))
    with pytest.raises(ValueError):
        encode_glucose_measurement(GlucoseMeasurement(1, DateTime(), time_offset=40000))
    with pytest.raises(ValueError):
        encode_glucose_measurement(
            GlucoseMeasurement(1, DateTime(), None, sfloat(90), False, 16, 1)
        )


# --------------------------------------------------------------------------- 0x2A34

NORDIC_CONTEXT = bytes.fromhex(
    # Nordic glucose/GlucoseMeasurementContextDataCallbackTest
    # .onGlucoseMeasurementContextReceived_full: flags 0xFF, seq 0, extended flags 0xB3,
    # carbohydrate dinner 100.0f, meal casual, tester-health 0x12, 60 s exercise at 50 %,
    # long acting insulin 123.45f, HbA1c 34.5f. SFLOAT bytes as Nordic's
    # MutableData.setValue(float, FORMAT_SFLOAT) writes them (123.45f -> 1235e-1, DataTest
    # .setValue_SFLOAT_roundUp; 34.5f -> 345e-1).
    "ff0000b303640004123c003204d3f459f1"
)


def test_glucose_context_full() -> None:
    decoded = decode_glucose_context(NORDIC_CONTEXT)
    assert decoded.protocol == "ble.glucose_context"
    assert decoded.record == {
        "flags": 0xFF,
        "sequence_number": 0,
        "extended_flags": 0xB3,
        "carbohydrate_id": 3,
        "carbohydrate_id_name": "dinner",
        "carbohydrate": sf(100.0, 100),
        "carbohydrate_unit": "kg",
        "meal": 4,
        "meal_name": "casual",
        "tester": 2,
        "tester_name": "health_care_professional",
        "health": 1,
        "health_name": "minor_health_issues",
        "exercise_duration": 60,
        "exercise_duration_overrun": False,
        "exercise_intensity": 50,
        "medication_id": 4,
        "medication_id_name": "long_acting_insulin",
        "medication": sf(123.5, 1235, -1),
        "medication_unit": "L",
        "hba1c": sf(34.5, 345, -1),
    }
    context = {
        "meal": "casual",
        "tester": "health_care_professional",
        "health": "minor_health_issues",
    }
    assert checks.measurements_json(decoded) == [mj("hba1c", 34.5, sequence=0, context=context)]
    value = parse_glucose_context(NORDIC_CONTEXT)
    assert value == GlucoseMeasurementContext(
        sequence_number=0,
        extended_flags=0xB3,
        carbohydrate_id=3,
        carbohydrate=sfloat(100),
        meal=4,
        tester=2,
        health=1,
        exercise_duration=60,
        exercise_intensity=50,
        medication_id=4,
        medication=sfloat(123.5),
        medication_in_liters=True,
        hba1c=sfloat(34.5),
    )
    assert encode_glucose_context(value) == NORDIC_CONTEXT


def test_glucose_context_empty_and_truncated() -> None:
    # Nordic ..._empty: flags 0x00, sequence number 1 (the test's 17-byte buffer is zero
    # padded; only the 3 bytes the flags announce are used here)
    empty = decode_glucose_context(bytes([0x00, 0x01, 0x00]))
    assert empty.record["sequence_number"] == 1
    assert all(
        v is None
        for k, v in empty.record.items()
        if k not in ("flags", "sequence_number", "carbohydrate_unit", "medication_unit")
        and k != "exercise_duration_overrun"
    )
    assert empty.measurements == ()
    # the 17-byte zero-padded form has bytes the flags do not announce
    with pytest.raises(FrameError):
        decode_glucose_context(bytes([0x00, 0x01]) + bytes(15))
    # Nordic onInvalidDataReceived: a 5-byte buffer with flags 0xFF
    with pytest.raises(IncompleteFrame):
        decode_glucose_context(bytes([0xFF, 0x00, 0x00, 0xB3, 0x03]))


def test_glucose_context_meal_and_apply_context() -> None:
    # derived from spec: record #12 is fasting (meal 3)
    context_payload = bytes.fromhex("020c0003")
    assert decode_glucose_context(context_payload).record["meal_name"] == "fasting"
    glucose = decode_glucose_measurement(bytes.fromhex("020c00" + BASE + "5fb011"))
    other = decode_glucose_measurement(bytes.fromhex("020d00" + BASE + "5fb011"))
    merged = apply_context(
        glucose.measurements + other.measurements, parse_glucose_context(context_payload)
    )
    assert dict(merged[0].context) == {
        "sample": "capillary_whole_blood",
        "location": "finger",
        "meal": "fasting",
    }
    assert merged[1] == other.measurements[0]


def test_glucose_context_encoder_pairs() -> None:
    with pytest.raises(ValueError, match="together"):
        encode_glucose_context(GlucoseMeasurementContext(1, carbohydrate_id=1))
    with pytest.raises(ValueError, match="together"):
        encode_glucose_context(GlucoseMeasurementContext(1, tester=1))


# --------------------------------------------------------------------------- 0x2A51


def test_glucose_feature() -> None:
    # Nordic glucose/GlucoseFeatureDataCallbackTest.onGlucoseFeaturesReceived:
    # {0b11110000, 0b00000011}: strip type error .. time fault supported
    decoded = decode_glucose_feature(bytes([0b11110000, 0b00000011]))
    assert decoded.record == {
        "features": 0x03F0,
        "low_battery_detection_supported": False,
        "sensor_malfunction_detection_supported": False,
        "sensor_sample_size_supported": False,
        "sensor_strip_insertion_error_detection_supported": False,
        "sensor_strip_type_error_detection_supported": True,
        "sensor_result_high_low_detection_supported": True,
        "sensor_temperature_high_low_detection_supported": True,
        "sensor_read_interrupt_detection_supported": True,
        "general_device_fault_supported": True,
        "time_fault_supported": True,
        "multiple_bond_supported": False,
    }
    value = GlucoseFeature.LOW_BATTERY_DETECTION | GlucoseFeature.MULTIPLE_BOND
    assert encode_glucose_feature(value) == bytes.fromhex("0104")
    assert parse_glucose_feature(bytes.fromhex("0104")) == value
    # Nordic onInvalidDataReceived: empty
    with pytest.raises(IncompleteFrame):
        decode_glucose_feature(b"")
    with pytest.raises(FrameError):
        decode_glucose_feature(b"\xf0\x03\x00")


# --------------------------------------------------------------------------- properties


@st.composite
def glucose_measurements(draw: st.DrawFn) -> GlucoseMeasurement:
    with_concentration = draw(st.booleans())
    return GlucoseMeasurement(
        sequence_number=draw(st.integers(0, 0xFFFF)),
        base_time=draw(checks.date_times(latest=datetime(9998, 1, 1))),
        time_offset=draw(st.none() | st.integers(-0x8000, 0x7FFF)),
        concentration=draw(checks.sfloats) if with_concentration else None,
        mol_per_l=draw(st.booleans()),
        type=draw(st.integers(0, 15)) if with_concentration else None,
        sample_location=draw(st.integers(0, 15)) if with_concentration else None,
        sensor_status_annunciation=draw(st.none() | st.integers(0, 0xFFFF)),
        context_information_follows=draw(st.booleans()),
    )


def pair(first: st.SearchStrategy[Any], second: st.SearchStrategy[Any]) -> Any:
    return st.none() | st.tuples(first, second)


@st.composite
def glucose_contexts(draw: st.DrawFn) -> GlucoseMeasurementContext:
    carbohydrate = draw(pair(st.integers(0, 255), checks.sfloats))
    tester_health = draw(pair(st.integers(0, 15), st.integers(0, 15)))
    exercise = draw(pair(st.integers(0, 0xFFFF), st.integers(0, 255)))
    medication = draw(pair(st.integers(0, 255), checks.sfloats))
    return GlucoseMeasurementContext(
        sequence_number=draw(st.integers(0, 0xFFFF)),
        extended_flags=draw(st.none() | st.integers(0, 255)),
        carbohydrate_id=carbohydrate[0] if carbohydrate else None,
        carbohydrate=carbohydrate[1] if carbohydrate else None,
        meal=draw(st.none() | st.integers(0, 255)),
        tester=tester_health[0] if tester_health else None,
        health=tester_health[1] if tester_health else None,
        exercise_duration=exercise[0] if exercise else None,
        exercise_intensity=exercise[1] if exercise else None,
        medication_id=medication[0] if medication else None,
        medication=medication[1] if medication else None,
        medication_in_liters=draw(st.booleans()),
        hba1c=draw(st.none() | checks.sfloats),
    )


@settings(max_examples=200)
@given(glucose_measurements())
def test_glucose_round_trip(value: GlucoseMeasurement) -> None:
    payload = checks.assert_round_trip(encode_glucose_measurement, parse_glucose_measurement, value)
    decoded = decode_glucose_measurement(payload)
    assert len(decoded.measurements) == (value.concentration is not None)


@settings(max_examples=200)
@given(glucose_contexts())
def test_glucose_context_round_trip(value: GlucoseMeasurementContext) -> None:
    payload = checks.assert_round_trip(encode_glucose_context, parse_glucose_context, value)
    assert len(decode_glucose_context(payload).measurements) == (value.hba1c is not None)


@settings(max_examples=100)
@given(st.integers(0, 0xFFFF))
def test_glucose_feature_round_trip(raw: int) -> None:
    assert int(parse_glucose_feature(encode_glucose_feature(raw))) == raw


DECODERS = (decode_glucose_measurement, decode_glucose_context, decode_glucose_feature)


@settings(max_examples=400)
@given(st.binary(max_size=30))
def test_random_bytes_raise_only_protocol_errors(payload: bytes) -> None:
    checks.assert_only_protocol_errors(DECODERS, payload)


@settings(max_examples=300)
@given(st.integers(0, 0xFF), st.binary(min_size=9, max_size=24))
def test_flagged_random_fields_raise_only_protocol_errors(flags: int, tail: bytes) -> None:
    checks.assert_only_protocol_errors(DECODERS, bytes([flags]) + tail)


@pytest.mark.parametrize("spec", PROTOCOLS, ids=lambda spec: spec.id)
def test_examples_and_truncation(spec: Any) -> None:
    assert spec.uuid in (0x2A18, 0x2A34, 0x2A51)
    checks.assert_examples_and_truncation(spec)


@pytest.mark.parametrize(
    ("protocol", "hex_", "kinds"),
    [
        ("ble.glucose_measurement", NORDIC_RECORD.hex(), ["glucose"]),
        ("ble.glucose_context", NORDIC_CONTEXT.hex(), ["hba1c"]),
        ("ble.glucose_feature", "f003", []),
    ],
)
def test_cart_decode(
    capsys: pytest.CaptureFixture[str], protocol: str, hex_: str, kinds: list[str]
) -> None:
    out = checks.cli_decode(capsys, protocol, hex_)
    assert out["protocol"] == protocol
    assert [m["kind"] for m in out["measurements"]] == kinds
    assert checks.cli_error(capsys, protocol, hex_[:-2]) == "IncompleteFrame"


def test_cart_decode_glucose_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = checks.cli_decode(capsys, "ble.glucose_measurement", "020c00" + BASE + "5fb011")
    assert out["measurements"] == [
        mj(
            "glucose",
            95.0,
            original={"value": 0.00095, "unit": "kg/L"},
            measured_at="2024-10-27T13:30:00",
            sequence=12,
            context={"sample": "capillary_whole_blood", "location": "finger"},
        )
    ]
