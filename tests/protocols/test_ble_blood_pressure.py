"""Blood Pressure Measurement (0x2A35), Intermediate Cuff Pressure (0x2A36), Feature (0x2A49)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import FrameError, IncompleteFrame
from cart.protocols.ble_blood_pressure import (
    PROTOCOLS,
    BloodPressureFeature,
    BloodPressureMeasurement,
    DateTime,
    IntermediateCuffPressure,
    MeasurementStatus,
    decode_blood_pressure,
    decode_blood_pressure_feature,
    decode_intermediate_cuff_pressure,
    encode_blood_pressure,
    encode_blood_pressure_feature,
    encode_intermediate_cuff_pressure,
    parse_blood_pressure,
    parse_blood_pressure_feature,
    parse_intermediate_cuff_pressure,
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

LOINC = {
    "systolic_pressure": "8480-6",
    "diastolic_pressure": "8462-4",
    "mean_arterial_pressure": "8478-0",
    "pulse_rate": "8867-4",
    "cuff_pressure": None,
}


def mj(kind: str, value: float | None, **fields: Any) -> dict[str, Any]:
    unit = "/min" if kind == "pulse_rate" else "mm[Hg]"
    # the SFLOAT exponent is the precision: the vectors' whole numbers have exponent 0, the
    # others -1; after kPa -> mmHg, 0.1 kPa (0.75 mmHg) keeps 1 decimal and 1 kPa none
    sent = fields["original"]["value"] if "original" in fields else value
    fields.setdefault("decimals", None if sent is None else checks.places(sent))
    return checks.measurement_json(kind, value, unit=unit, loinc=LOINC[kind], **fields)


def kpa(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "kPa"}


PARTIAL_STAMP = {
    "timestamp": None,
    "year": 0,
    "month": 4,
    "day": 17,
    "hours": 20,
    "minutes": 41,
    "seconds": 59,
}
ALL_STATUS = {
    "raw": 0b100111,
    "body_movement": True,
    "cuff_fit_loose": True,
    "irregular_pulse": True,
    "pulse_rate_range": "within_range",
    "improper_position": True,
}
# Nordic Android-BLE-Common-Library bps/BloodPressureMeasurementDataCallbackTest
# .onBloodPressureMeasurementReceived_full: {0x1E, 0x8A, 0x00, 0x58, 0x00, 0x78, 0x00,
# 0x00, 0x00, 0x04, 0x11, 0x14, 0x29, 0x3B, 0x3C, 0x00, 0x01, 0x27, 0x00} (flags 0b11110,
# 138/88/120 mmHg, year 0 April 17 20:41:59, pulse 60, user 1, status 0b100111)
NORDIC_FULL = bytes.fromhex("1e8a00580078000000041114293b3c00012700")


def test_blood_pressure_full() -> None:
    decoded = decode_blood_pressure(NORDIC_FULL)
    assert decoded.protocol == "ble.blood_pressure"
    assert decoded.record == {
        "flags": 0x1E,
        "units": "mmHg",
        "systolic": sf(138.0, 138),
        "diastolic": sf(88.0, 88),
        "mean_arterial_pressure": sf(120.0, 120),
        "time_stamp": PARTIAL_STAMP,
        "pulse_rate": sf(60.0, 60),
        "user_id": 1,
        "measurement_status": ALL_STATUS,
    }
    flags = ["body_movement", "cuff_fit_loose", "improper_position", "irregular_pulse"]
    assert checks.measurements_json(decoded) == [
        mj("systolic_pressure", 138.0, flags=flags, user_id=1),
        mj("diastolic_pressure", 88.0, flags=flags, user_id=1),
        mj("mean_arterial_pressure", 120.0, flags=flags, user_id=1),
        mj("pulse_rate", 60.0, flags=flags, user_id=1),
    ]
    value = parse_blood_pressure(NORDIC_FULL)
    assert value == BloodPressureMeasurement(
        sfloat(138),
        sfloat(88),
        sfloat(120),
        False,
        DateTime(0, 4, 17, 20, 41, 59),
        sfloat(60),
        1,
        MeasurementStatus.BODY_MOVEMENT
        | MeasurementStatus.CUFF_FIT_LOOSE
        | MeasurementStatus.IRREGULAR_PULSE
        | MeasurementStatus.IMPROPER_POSITION,
    )
    assert encode_blood_pressure(value) == NORDIC_FULL


def test_blood_pressure_kpa() -> None:
    # Nordic ..._some: {0x15, 0xBD, 0xF0, 0xB, 0x0, 0x9F, 0xF0, 0x3C, 0x0, 0x12, 0x0}:
    # kPa 18.9/11/15.9, pulse 60, status cuff too loose + pulse below lower limit
    payload = bytes([0x15, 0xBD, 0xF0, 0x0B, 0x00, 0x9F, 0xF0, 0x3C, 0x00, 0x12, 0x00])
    decoded = decode_blood_pressure(payload)
    assert decoded.record == {
        "flags": 0x15,
        "units": "kPa",
        "systolic": sf(18.9, 189, -1),
        "diastolic": sf(11.0, 11),
        "mean_arterial_pressure": sf(15.9, 159, -1),
        "time_stamp": None,
        "pulse_rate": sf(60.0, 60),
        "user_id": None,
        "measurement_status": {
            "raw": 0x12,
            "body_movement": False,
            "cuff_fit_loose": True,
            "irregular_pulse": False,
            "pulse_rate_range": "below_lower_limit",
            "improper_position": False,
        },
    }
    flags = ["cuff_fit_loose", "pulse_out_of_range"]
    # 1 kPa = 7.50062 mmHg: 141.761718, 82.50682, 119.259858 -> 0.1 mmHg, except the
    # diastolic the cuff sent as a whole kPa (mantissa 11, exponent 0): 1 kPa = 7.5 mmHg
    # resolution, so whole mmHg (PHD IG: the exponent gives the precision)
    assert checks.measurements_json(decoded) == [
        mj("systolic_pressure", 141.8, original=kpa(18.9), flags=flags),
        mj("diastolic_pressure", 83.0, original=kpa(11.0), flags=flags),
        mj("mean_arterial_pressure", 119.3, original=kpa(15.9), flags=flags),
        mj("pulse_rate", 60.0, flags=flags),
    ]


def test_blood_pressure_minimal() -> None:
    # Nordic ..._minimal: {0x00, 0xBD, 0xF0, 0xB, 0x0, 0x9F, 0xF0}, mmHg
    decoded = decode_blood_pressure(bytes([0x00, 0xBD, 0xF0, 0x0B, 0x00, 0x9F, 0xF0]))
    assert decoded.record["measurement_status"] is None
    assert checks.measurements_json(decoded) == [
        mj("systolic_pressure", 18.9),
        mj("diastolic_pressure", 11.0),
        mj("mean_arterial_pressure", 15.9),
    ]


def test_blood_pressure_cart_typical_map_nan() -> None:
    # derived from spec: 120/80 mmHg, MAP NaN (0x07FF, what many cuffs send),
    # 2024-10-27 13:30:00, pulse 72, user 1, status clear
    payload = bytes.fromhex("1e78005000ff07e8070a1b0d1e004800010000")
    decoded = decode_blood_pressure(payload)
    assert decoded.record["mean_arterial_pressure"] == sf("nan", 2047)
    when = "2024-10-27T13:30:00"
    assert checks.measurements_json(decoded) == [
        mj("systolic_pressure", 120.0, measured_at=when, user_id=1),
        mj("diastolic_pressure", 80.0, measured_at=when, user_id=1),
        mj("mean_arterial_pressure", None, special="nan", measured_at=when, user_id=1),
        mj("pulse_rate", 72.0, measured_at=when, user_id=1),
    ]
    value = BloodPressureMeasurement(
        sfloat(120), sfloat(80), SFLOAT_NAN, False, DateTime(2024, 10, 27, 13, 30), sfloat(72), 1, 0
    )
    assert encode_blood_pressure(value) == payload


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
def test_every_special_value_is_special_never_a_number(special: MedFloat, name: str) -> None:
    # derived from spec: each SFLOAT special in the systolic and pulse fields, kPa units
    payload = encode_blood_pressure(
        BloodPressureMeasurement(special, sfloat(80), sfloat(93), kpa=True, pulse_rate=special)
    )
    decoded = decode_blood_pressure(payload)
    systolic, _, _, pulse = decoded.measurements
    assert (systolic.value, systolic.special, systolic.original) == (None, name, None)
    assert (pulse.value, pulse.special) == (None, name)
    assert decoded.record["systolic"]["value"] == name


@pytest.mark.parametrize(
    ("status", "flags", "pulse_rate_range"),
    [
        # derived from spec (GSS blood_pressure_measurement, Measurement Status)
        (0x0000, [], "within_range"),
        (0x0001, ["body_movement"], "within_range"),
        (0x0002, ["cuff_fit_loose"], "within_range"),
        (0x0004, ["irregular_pulse"], "within_range"),
        (0x0008, ["pulse_out_of_range"], "exceeds_upper_limit"),
        (0x0010, ["pulse_out_of_range"], "below_lower_limit"),
        (0x0018, [], "reserved"),
        (0x0020, ["improper_position"], "within_range"),
        (0xFFC0, [], "within_range"),  # bits 6-15 are RFU
        (
            0x002F,
            [
                "body_movement",
                "cuff_fit_loose",
                "improper_position",
                "irregular_pulse",
                "pulse_out_of_range",
            ],
            "exceeds_upper_limit",
        ),
    ],
)
def test_every_status_bit(status: int, flags: list[str], pulse_rate_range: str) -> None:
    payload = encode_blood_pressure(
        BloodPressureMeasurement(sfloat(130), sfloat(85), sfloat(100), measurement_status=status)
    )
    decoded = decode_blood_pressure(payload)
    assert decoded.record["measurement_status"]["raw"] == status
    assert decoded.record["measurement_status"]["pulse_rate_range"] == pulse_rate_range
    assert all(list(m.flags) == flags for m in decoded.measurements)


def test_unknown_user_is_not_a_user() -> None:
    payload = encode_blood_pressure(
        BloodPressureMeasurement(sfloat(130), sfloat(85), sfloat(100), user_id=0xFF)
    )
    decoded = decode_blood_pressure(payload)
    assert decoded.record["user_id"] == 255
    assert {m.user_id for m in decoded.measurements} == {None}


def test_complete_time_stamp_sets_measured_at() -> None:
    value = BloodPressureMeasurement(
        sfloat(118), sfloat(76), sfloat(90), time_stamp=DateTime(2024, 5, 10, 9, 22, 0)
    )
    decoded = decode_blood_pressure(encode_blood_pressure(value))
    assert {m.measured_at for m in decoded.measurements} == {datetime(2024, 5, 10, 9, 22)}


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        # Nordic ..DataCallbackTest.onInvalidDataReceived_toShort: {1, 2, 3, 4, 5, 6}
        (bytes([1, 2, 3, 4, 5, 6]), IncompleteFrame),
        # Nordic onInvalidDataReceived_noTimestamp: {3, 2, 3, 4, 5, 6, 7} (time stamp flag)
        (bytes([3, 2, 3, 4, 5, 6, 7]), IncompleteFrame),
        (b"", IncompleteFrame),
        (NORDIC_FULL[:-1], IncompleteFrame),
        (NORDIC_FULL + b"\x00", FrameError),
        (bytes.fromhex("1e78005000ff07e8070a2b0d1e004800010000"), FrameError),  # day 43
    ],
)
def test_blood_pressure_errors(payload: bytes, error: type[Exception]) -> None:
    for decoder in (decode_blood_pressure, decode_intermediate_cuff_pressure):
        checks.assert_raises_exactly(decoder, payload, error)


# --------------------------------------------------------------------------- 0x2A36


def test_intermediate_cuff_pressure_full() -> None:
    # Nordic bps/IntermediateCuffPressureDataCallbackTest._full: {0x1E, 0x04, 0x00, 0x00,
    # 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x11, 0x14, 0x29, 0x3B, 0x3C, 0x00, 0x01, 0x27,
    # 0x00}: cuff 4 mmHg, unused fields 0, year 0 April 17 20:41:59, pulse 60, user 1,
    # status 0b100111
    payload = bytes.fromhex("1e0400000000000000041114293b3c00012700")
    decoded = decode_intermediate_cuff_pressure(payload)
    assert decoded.protocol == "ble.intermediate_cuff_pressure"
    assert decoded.record == {
        "flags": 0x1E,
        "units": "mmHg",
        "current_cuff_pressure": sf(4.0, 4),
        "diastolic": sf(0.0, 0),
        "mean_arterial_pressure": sf(0.0, 0),
        "time_stamp": PARTIAL_STAMP,
        "pulse_rate": sf(60.0, 60),
        "user_id": 1,
        "measurement_status": ALL_STATUS,
    }
    flags = ["body_movement", "cuff_fit_loose", "improper_position", "irregular_pulse"]
    # the pulse rate sent while inflating is progress too: record only, no measurement
    assert checks.measurements_json(decoded) == [mj("cuff_pressure", 4.0, flags=flags, user_id=1)]
    value = parse_intermediate_cuff_pressure(payload)
    assert value.diastolic == MedFloat(0, 0)
    assert encode_intermediate_cuff_pressure(value) == payload


def test_intermediate_cuff_pressure_kpa_and_minimal() -> None:
    # Nordic ..._some: {0x15, 0x6F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x3C, 0x0, 0x12, 0x0}
    some = decode_intermediate_cuff_pressure(
        bytes([0x15, 0x6F, 0xF0, 0x00, 0x00, 0x00, 0x00, 0x3C, 0x00, 0x12, 0x00])
    )
    flags = ["cuff_fit_loose", "pulse_out_of_range"]
    # 11.1 kPa x 7.50062 = 83.256882 mmHg
    assert checks.measurements_json(some) == [
        mj("cuff_pressure", 83.3, original=kpa(11.1), flags=flags)
    ]
    assert some.record["pulse_rate"] == sf(60.0, 60)
    # Nordic ..._minimal: {0x00, 0xD7, 0xF0, 0x00, 0x00, 0x00, 0x00}: 21.5 mmHg
    minimal = decode_intermediate_cuff_pressure(bytes([0x00, 0xD7, 0xF0, 0, 0, 0, 0]))
    assert checks.measurements_json(minimal) == [mj("cuff_pressure", 21.5)]


def test_intermediate_cuff_pressure_defaults_to_nan_in_unused_fields() -> None:
    payload = encode_intermediate_cuff_pressure(IntermediateCuffPressure(sfloat(90)))
    assert payload == bytes.fromhex("005a00ff07ff07")
    assert len(decode_intermediate_cuff_pressure(payload).measurements) == 1


# --------------------------------------------------------------------------- 0x2A49


def test_blood_pressure_feature() -> None:
    # derived from spec (GSS blood_pressure_feature; bits 6-8 as in StanfordSpezi/
    # SpeziBluetooth Sources/BluetoothServices/Characteristics/BloodPressureFeature.swift)
    decoded = decode_blood_pressure_feature(bytes.fromhex("3f00"))
    assert decoded.record == {
        "features": 0x3F,
        "body_movement_detection_supported": True,
        "cuff_fit_detection_supported": True,
        "irregular_pulse_detection_supported": True,
        "pulse_rate_range_detection_supported": True,
        "measurement_position_detection_supported": True,
        "multiple_bond_supported": True,
        "e2e_crc_supported": False,
        "user_data_service_supported": False,
        "user_facing_time_supported": False,
    }
    everything = decode_blood_pressure_feature(bytes.fromhex("ff01")).record
    assert all(v is True for k, v in everything.items() if k != "features")
    value = BloodPressureFeature.IRREGULAR_PULSE_DETECTION | BloodPressureFeature.USER_FACING_TIME
    assert encode_blood_pressure_feature(value) == bytes.fromhex("0401")
    assert parse_blood_pressure_feature(bytes.fromhex("0401")) == value


@pytest.mark.parametrize(("payload", "error"), [(b"\x3f", IncompleteFrame), (b"?\0\0", FrameError)])
def test_blood_pressure_feature_errors(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_blood_pressure_feature(payload)


# --------------------------------------------------------------------------- properties

optional = {
    "kpa": st.booleans(),
    "time_stamp": st.none() | checks.date_times(),
    "pulse_rate": st.none() | checks.sfloats,
    "user_id": st.none() | st.integers(0, 255),
    "measurement_status": st.none() | st.integers(0, 0xFFFF),
}


@settings(max_examples=200)
@given(
    st.builds(BloodPressureMeasurement, checks.sfloats, checks.sfloats, checks.sfloats, **optional)
)
def test_blood_pressure_round_trip(value: BloodPressureMeasurement) -> None:
    payload = checks.assert_round_trip(encode_blood_pressure, parse_blood_pressure, value)
    assert len(decode_blood_pressure(payload).measurements) == 3 + (value.pulse_rate is not None)


@settings(max_examples=200)
@given(
    st.builds(
        IntermediateCuffPressure,
        checks.sfloats,
        diastolic=checks.sfloats,
        mean_arterial_pressure=checks.sfloats,
        **optional,
    )
)
def test_intermediate_cuff_pressure_round_trip(value: IntermediateCuffPressure) -> None:
    payload = checks.assert_round_trip(
        encode_intermediate_cuff_pressure, parse_intermediate_cuff_pressure, value
    )
    assert len(decode_intermediate_cuff_pressure(payload).measurements) == 1


@settings(max_examples=100)
@given(st.integers(0, 0xFFFF))
def test_feature_round_trip(raw: int) -> None:
    assert int(parse_blood_pressure_feature(encode_blood_pressure_feature(raw))) == raw


DECODERS = (
    decode_blood_pressure,
    decode_intermediate_cuff_pressure,
    decode_blood_pressure_feature,
)


@settings(max_examples=400)
@given(st.binary(max_size=30))
def test_random_bytes_raise_only_protocol_errors(payload: bytes) -> None:
    checks.assert_only_protocol_errors(DECODERS, payload)


@settings(max_examples=300)
@given(st.integers(0, 0xFF), st.binary(min_size=6, max_size=24))
def test_flagged_random_fields_raise_only_protocol_errors(flags: int, tail: bytes) -> None:
    checks.assert_only_protocol_errors(DECODERS, bytes([flags]) + tail)


@pytest.mark.parametrize("spec", PROTOCOLS, ids=lambda spec: spec.id)
def test_examples_and_truncation(spec: Any) -> None:
    assert spec.uuid in (0x2A35, 0x2A36, 0x2A49)
    checks.assert_examples_and_truncation(spec)


@pytest.mark.parametrize(
    ("protocol", "hex_", "kinds"),
    [
        (
            "ble.blood_pressure",
            "1e8a00580078000000041114293b3c00012700",
            ["systolic_pressure", "diastolic_pressure", "mean_arterial_pressure", "pulse_rate"],
        ),
        ("ble.intermediate_cuff_pressure", "00d7f000000000", ["cuff_pressure"]),
        ("ble.blood_pressure_feature", "3f00", []),
    ],
)
def test_cart_decode(
    capsys: pytest.CaptureFixture[str], protocol: str, hex_: str, kinds: list[str]
) -> None:
    out = checks.cli_decode(capsys, protocol, hex_)
    assert out["protocol"] == protocol
    assert [m["kind"] for m in out["measurements"]] == kinds
    assert checks.cli_error(capsys, protocol, hex_[:-2]) == "IncompleteFrame"


def test_cart_decode_kpa_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = checks.cli_decode(capsys, "ble.blood_pressure", "15 bd f0 0b 00 9f f0 3c 00 12 00")
    assert out["measurements"][0] == mj(
        "systolic_pressure",
        141.8,
        original=kpa(18.9),
        flags=["cuff_fit_loose", "pulse_out_of_range"],
    )
