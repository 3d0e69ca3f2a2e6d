"""Weight Measurement (0x2A9D), Weight Scale Feature (0x2A9E), Body Composition (0x2A9C)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import FrameError, IncompleteFrame
from cart.protocols.ble_weight import (
    PROTOCOLS,
    BodyCompositionMeasurement,
    DateTime,
    WeightMeasurement,
    WeightScaleFeature,
    decode_body_composition,
    decode_weight_measurement,
    decode_weight_scale_feature,
    encode_body_composition,
    encode_weight_measurement,
    encode_weight_scale_feature,
    parse_body_composition,
    parse_weight_measurement,
    parse_weight_scale_feature,
)
from tests.protocols import checks

LOINC = {"body_weight": "29463-7", "body_height": "8302-2", "bmi": "39156-5", "body_fat": "41982-0"}
UNIT = {"body_weight": "kg", "body_height": "cm", "bmi": "kg/m2", "body_fat": "%"}


# the precision of each field's fixed step, in the canonical unit: 0.005 kg -> 3, 0.01 lb ->
# 3 after lb->kg (0.0045 kg), 0.001 m / 0.1 in -> 1 in cm, BMI and fat 0.1 -> 1
DECIMALS = {"body_weight": 3, "body_height": 1, "bmi": 1, "body_fat": 1}


def mj(kind: str, value: float | None, **fields: Any) -> dict[str, Any]:
    """A Measurement as JSON, with the defaults of everything not given."""
    fields.setdefault("decimals", None if value is None else DECIMALS[kind])
    return checks.measurement_json(kind, value, unit=UNIT[kind], loinc=LOINC[kind], **fields)


def stamp(year: int, month: int, day: int, h: int, m: int, s: int, iso: str | None) -> dict:
    return {
        "timestamp": iso,
        "year": year,
        "month": month,
        "day": day,
        "hours": h,
        "minutes": m,
        "seconds": s,
    }


def weight_record(**fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "flags": 0,
        "units": "si",
        "weight": None,
        "weight_unit": "kg",
        "measurement_unsuccessful": False,
        "time_stamp": None,
        "user_id": None,
        "bmi": None,
        "height": None,
        "height_unit": "m",
    }
    out.update(fields)
    return out


# --------------------------------------------------------------------------- 0x2A9D


def test_weight_si_minimal() -> None:
    # RonanB96/bluetooth-sig-python tests/gatt/characteristics/test_weight_measurement.py
    # test 1: [0x00, 0xB0, 0x36] = 14000 x 0.005 kg = 70.0 kg
    decoded = decode_weight_measurement(bytes([0x00, 0xB0, 0x36]))
    assert decoded.protocol == "ble.weight_measurement"
    assert decoded.record == weight_record(weight=70.0)
    assert checks.measurements_json(decoded) == [mj("body_weight", 70.0)]


def test_weight_imperial() -> None:
    # same file, test 2: [0x01, 0x54, 0x3D] = 15700 x 0.01 lb = 157.00 lb
    decoded = decode_weight_measurement(bytes([0x01, 0x54, 0x3D]))
    assert decoded.record == weight_record(
        flags=1, units="imperial", weight=157.0, weight_unit="lb", height_unit="in"
    )
    # 157 lb x 0.45359237 = 71.21400209 kg, kept to 3 decimals
    assert checks.measurements_json(decoded) == [
        mj("body_weight", 71.214, original={"value": 157.0, "unit": "[lb_av]"})
    ]


def test_weight_with_time_stamp() -> None:
    # same file, test 3: 70.0 kg at 2023-12-25 14:30:45
    payload = bytes([0x02, 0xB0, 0x36, 0xE7, 0x07, 0x0C, 0x19, 0x0E, 0x1E, 0x2D])
    decoded = decode_weight_measurement(payload)
    assert decoded.record == weight_record(
        flags=2, weight=70.0, time_stamp=stamp(2023, 12, 25, 14, 30, 45, "2023-12-25T14:30:45")
    )
    assert checks.measurements_json(decoded) == [
        mj("body_weight", 70.0, measured_at="2023-12-25T14:30:45")
    ]


def test_weight_imperial_everything_rfu_bit_ignored() -> None:
    # same file, test 6: flags 0x1F (bit4 is RFU in WSS 1.0 and ignored), 157.00 lb,
    # 2023-12-25 14:30:45, user 3, BMI 24.5, height 680 x 0.1 in = 68.0 in
    payload = bytes.fromhex("1f543de7070c190e1e2d03f500a802")
    decoded = decode_weight_measurement(payload)
    when = "2023-12-25T14:30:45"
    assert decoded.record == weight_record(
        flags=0x1F,
        units="imperial",
        weight=157.0,
        weight_unit="lb",
        time_stamp=stamp(2023, 12, 25, 14, 30, 45, when),
        user_id=3,
        bmi=24.5,
        height=68.0,
        height_unit="in",
    )
    common = {"measured_at": when, "user_id": 3}
    assert checks.measurements_json(decoded) == [
        mj("body_weight", 71.214, original={"value": 157.0, "unit": "[lb_av]"}, **common),
        # 68.0 in at 0.1 in resolution (0.254 cm): 172.72 cm is kept to 1 decimal
        mj("body_height", 172.7, original={"value": 68.0, "unit": "[in_i]"}, **common),
        mj("bmi", 24.5, **common),
    ]
    # the encoder never sets RFU bits
    assert encode_weight_measurement(parse_weight_measurement(payload)) == b"\x0f" + payload[1:]


def test_weight_si_bmi_and_height() -> None:
    # derived from spec (WSS 1.0 / GSS weight_measurement): flags 0x0E, 70.5 kg
    # (14100 = 0x3714), 2024-10-27 13:30:00, user 1, BMI 25.3 (253), height 1.670 m (1670)
    payload = bytes.fromhex("0e1437e8070a1b0d1e0001fd008606")
    decoded = decode_weight_measurement(payload)
    when = "2024-10-27T13:30:00"
    assert decoded.record == weight_record(
        flags=0x0E,
        weight=70.5,
        time_stamp=stamp(2024, 10, 27, 13, 30, 0, when),
        user_id=1,
        bmi=25.3,
        height=1.67,
    )
    common = {"measured_at": when, "user_id": 1}
    assert checks.measurements_json(decoded) == [
        mj("body_weight", 70.5, **common),
        mj("body_height", 167.0, original={"value": 1.67, "unit": "m"}, **common),
        mj("bmi", 25.3, **common),
    ]
    value = WeightMeasurement(70.5, False, DateTime(2024, 10, 27, 13, 30), 1, 25.3, 1.67)
    assert parse_weight_measurement(payload) == value
    assert encode_weight_measurement(value) == payload


def test_weight_unsuccessful_and_unknown_user() -> None:
    # derived from spec: weight 0xFFFF = "measurement unsuccessful"; user id 0xFF = unknown
    payload = bytes.fromhex("06ffffe8070a1b0d1e00ff")
    decoded = decode_weight_measurement(payload)
    when = "2024-10-27T13:30:00"
    assert decoded.record == weight_record(
        flags=6,
        measurement_unsuccessful=True,
        time_stamp=stamp(2024, 10, 27, 13, 30, 0, when),
        user_id=255,
    )
    assert checks.measurements_json(decoded) == [
        mj(
            "body_weight",
            None,
            special="nan",
            flags=["measurement_unsuccessful"],
            measured_at=when,
        )
    ]


def test_weight_bit3_means_bmi_and_height() -> None:
    # RonanB96/bluetooth-sig-python test 4 sends flags 0x0C with BMI only
    # ([0x0C, 0xB0, 0x36, 0x05, 0xF5, 0x00]); in WSS bit3 announces BMI *and* height,
    # so per spec that value ends before the height field.
    with pytest.raises(IncompleteFrame):
        decode_weight_measurement(bytes([0x0C, 0xB0, 0x36, 0x05, 0xF5, 0x00]))


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", IncompleteFrame),
        (bytes([0x00, 0x01]), IncompleteFrame),  # RonanB96 test_weight_measurement_invalid_data
        (bytes([0x00]), IncompleteFrame),  # same test, "missing weight data"
        (bytes([0x02, 0xB0, 0x36, 0xE7, 0x07]), IncompleteFrame),
        (bytes([0x00, 0xB0, 0x36, 0x00]), FrameError),  # byte the flags do not announce
        (bytes.fromhex("02b036e7070d190e1e2d"), FrameError),  # month 13 in the time stamp
    ],
)
def test_weight_errors(payload: bytes, error: type[Exception]) -> None:
    checks.assert_raises_exactly(decode_weight_measurement, payload, error)


def test_weight_encoder_checks() -> None:
    with pytest.raises(ValueError, match="together"):
        encode_weight_measurement(WeightMeasurement(70.0, bmi=24.5))
    with pytest.raises(ValueError):
        encode_weight_measurement(WeightMeasurement(400.0))  # above 327.67 kg
    with pytest.raises(ValueError):
        encode_weight_measurement(WeightMeasurement(-1.0))
    with pytest.raises(ValueError):
        encode_weight_measurement(WeightMeasurement(70.0, user_id=256))
    # rounds to the 0.005 kg wire step
    assert encode_weight_measurement(WeightMeasurement(70.502)) == bytes.fromhex("001437")


# --------------------------------------------------------------------------- 0x2A9E


def test_weight_scale_feature() -> None:
    # StanfordSpezi/SpeziBluetooth WeightScaleTests.testWeightScaleFeatureStrings:
    # time stamp + multiple users + BMI supported = raw 0x07
    decoded = decode_weight_scale_feature(bytes.fromhex("07000000"))
    assert decoded.record == {
        "features": 7,
        "time_stamp_supported": True,
        "multiple_users_supported": True,
        "bmi_supported": True,
        "weight_measurement_resolution": 0,
        "weight_resolution_kg": None,
        "weight_resolution_lb": None,
        "height_measurement_resolution": 0,
        "height_resolution_m": None,
        "height_resolution_in": None,
    }
    # derived from spec: same test file's WeightScaleFeature(weightResolution: 20 g,
    # heightResolution: 10 mm, options: bmi, multiple users): codes 5 and 1 -> 0x000000AE
    value = WeightScaleFeature(False, True, True, 5, 1)
    assert encode_weight_scale_feature(value) == bytes.fromhex("ae000000")
    record = decode_weight_scale_feature(bytes.fromhex("ae000000")).record
    assert (record["weight_resolution_kg"], record["weight_resolution_lb"]) == (0.02, 0.05)
    assert (record["height_resolution_m"], record["height_resolution_in"]) == (0.01, 1.0)
    # best resolutions (0.005 kg, 0.001 m) and a reserved height code
    assert decode_weight_scale_feature(bytes.fromhex("bf010000")).record[
        "weight_resolution_kg"
    ] == (0.005)
    assert decode_weight_scale_feature(bytes.fromhex("00020000")).record["height_resolution_m"] is (
        None
    )


@pytest.mark.parametrize(
    ("payload", "error"),
    [(b"\x07\x00\x00", IncompleteFrame), (b"\x07\x00\x00\x00\x00", FrameError)],
)
def test_weight_scale_feature_errors(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_weight_scale_feature(payload)


# --------------------------------------------------------------------------- 0x2A9C


def body_record(**fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "flags": 0,
        "units": "si",
        "body_fat_percentage": None,
        "measurement_unsuccessful": False,
        "time_stamp": None,
        "user_id": None,
        "basal_metabolism": None,
        "muscle_percentage": None,
        "muscle_mass": None,
        "fat_free_mass": None,
        "soft_lean_mass": None,
        "body_water_mass": None,
        "impedance": None,
        "weight": None,
        "height": None,
        "mass_unit": "kg",
        "height_unit": "m",
        "multiple_packet_measurement": False,
    }
    out.update(fields)
    return out


def test_body_composition_minimal() -> None:
    # RonanB96/bluetooth-sig-python tests/gatt/characteristics/
    # test_body_composition_measurement.py test 1: 5.0 % body fat
    decoded = decode_body_composition(bytes([0x00, 0x00, 0x32, 0x00]))
    assert decoded.protocol == "ble.body_composition"
    assert decoded.record == body_record(body_fat_percentage=5.0)
    assert checks.measurements_json(decoded) == [mj("body_fat", 5.0)]


def test_body_composition_imperial_time_stamp() -> None:
    # same file, test 2: imperial + time stamp, 15.0 %, 2024-06-20 10:30:00
    payload = bytes.fromhex("03009600e80706140a1e00")
    decoded = decode_body_composition(payload)
    when = "2024-06-20T10:30:00"
    assert decoded.record == body_record(
        flags=3,
        units="imperial",
        body_fat_percentage=15.0,
        time_stamp=stamp(2024, 6, 20, 10, 30, 0, when),
        mass_unit="lb",
        height_unit="in",
    )
    assert checks.measurements_json(decoded) == [mj("body_fat", 15.0, measured_at=when)]


def test_body_composition_user_and_basal_metabolism() -> None:
    # same file, test 3: user 5, basal metabolism 1600 kJ, 12.0 %
    decoded = decode_body_composition(bytes.fromhex("0c007800054006"))
    assert decoded.record == body_record(
        flags=0x0C, body_fat_percentage=12.0, user_id=5, basal_metabolism=1600
    )
    assert checks.measurements_json(decoded) == [mj("body_fat", 12.0, user_id=5)]


def test_body_composition_masses() -> None:
    # same file, test 5: fat free 60.0 kg, soft lean 50.0 kg, body water 40.0 kg, 8.0 %
    decoded = decode_body_composition(bytes.fromhex("c0015000e02e1027401f"))
    assert decoded.record == body_record(
        flags=0x01C0,
        body_fat_percentage=8.0,
        fat_free_mass=60.0,
        soft_lean_mass=50.0,
        body_water_mass=40.0,
    )


def test_body_composition_impedance_weight_height() -> None:
    # same file, test 6: impedance 800.0 ohm, weight 70.0 kg, height 1.000 m, 7.0 %
    decoded = decode_body_composition(bytes.fromhex("000e4600401fb036e803"))
    assert decoded.record == body_record(
        flags=0x0E00, body_fat_percentage=7.0, impedance=800.0, weight=70.0, height=1.0
    )
    assert checks.measurements_json(decoded) == [
        mj("body_fat", 7.0),
        mj("body_weight", 70.0),
        mj("body_height", 100.0, original={"value": 1.0, "unit": "m"}),
    ]


def test_body_composition_muscle_percentage_comes_before_muscle_mass() -> None:
    # derived from spec (GSS body_composition_measurement field order): muscle percentage
    # (bit4) precedes muscle mass (bit5); 25.0 % (250 = 0xFA) then 30.0 kg (6000 = 0x1770).
    # RonanB96's test 4 writes them in the other order, so it is not used here.
    value = parse_body_composition(bytes.fromhex("30006400fa007017"))
    assert (value.muscle_percentage, value.muscle_mass) == (25.0, 30.0)


def test_body_composition_everything_imperial_multi_packet() -> None:
    # derived from spec: every flag (0x1FFF), imperial, values in lb / in
    value = BodyCompositionMeasurement(
        body_fat_percentage=22.5,
        imperial=True,
        time_stamp=DateTime(2024, 10, 27, 13, 30, 5),
        user_id=2,
        basal_metabolism=6500,
        muscle_percentage=40.1,
        muscle_mass=60.25,
        fat_free_mass=120.5,
        soft_lean_mass=110.0,
        body_water_mass=80.75,
        impedance=512.3,
        weight=155.43,
        height=66.5,
        multiple_packet_measurement=True,
    )
    payload = encode_body_composition(value)
    assert payload[:2] == bytes.fromhex("ff1f")
    assert parse_body_composition(payload) == value
    decoded = decode_body_composition(payload)
    when = "2024-10-27T13:30:05"
    assert checks.measurements_json(decoded) == [
        mj("body_fat", 22.5, measured_at=when, user_id=2),
        mj(
            "body_weight",
            70.502,
            original={"value": 155.43, "unit": "[lb_av]"},
            measured_at=when,
            user_id=2,
        ),
        mj(
            "body_height",
            168.9,  # 66.5 in at 0.1 in (0.254 cm) resolution: 1 decimal
            original={"value": 66.5, "unit": "[in_i]"},
            measured_at=when,
            user_id=2,
        ),
    ]
    assert decoded.record["multiple_packet_measurement"] is True


def test_body_composition_unsuccessful() -> None:
    # derived from spec: body fat 0xFFFF = measurement unsuccessful, with user 1
    decoded = decode_body_composition(bytes.fromhex("0400ffff01"))
    assert decoded.record == body_record(flags=4, measurement_unsuccessful=True, user_id=1)
    assert checks.measurements_json(decoded) == [
        mj("body_fat", None, special="nan", flags=["measurement_unsuccessful"], user_id=1)
    ]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        # RonanB96 test_body_composition_invalid_data: [0x00, 0x01] is too short
        (bytes([0x00, 0x01]), IncompleteFrame),
        (bytes.fromhex("0002320040"), IncompleteFrame),  # impedance announced, 1 byte
        (bytes.fromhex("0000320000"), FrameError),
    ],
)
def test_body_composition_errors(payload: bytes, error: type[Exception]) -> None:
    checks.assert_raises_exactly(decode_body_composition, payload, error)


# --------------------------------------------------------------------------- properties


def scaled(step: str, high: int = 0xFFFF) -> st.SearchStrategy[float]:
    return st.integers(0, high).map(lambda raw: float(raw * Decimal(step)))


@st.composite
def weight_measurements(draw: st.DrawFn) -> WeightMeasurement:
    imperial = draw(st.booleans())
    with_bmi = draw(st.booleans())
    return WeightMeasurement(
        weight=draw(st.none() | scaled("0.01" if imperial else "0.005", 0xFFFE)),
        imperial=imperial,
        time_stamp=draw(st.none() | checks.date_times()),
        user_id=draw(st.none() | st.integers(0, 255)),
        bmi=draw(scaled("0.1")) if with_bmi else None,
        height=draw(scaled("0.1" if imperial else "0.001")) if with_bmi else None,
    )


@st.composite
def body_compositions(draw: st.DrawFn) -> BodyCompositionMeasurement:
    imperial = draw(st.booleans())
    mass = "0.01" if imperial else "0.005"
    return BodyCompositionMeasurement(
        body_fat_percentage=draw(st.none() | scaled("0.1", 0xFFFE)),
        imperial=imperial,
        time_stamp=draw(st.none() | checks.date_times()),
        user_id=draw(st.none() | st.integers(0, 255)),
        basal_metabolism=draw(st.none() | st.integers(0, 0xFFFF)),
        muscle_percentage=draw(st.none() | scaled("0.1")),
        muscle_mass=draw(st.none() | scaled(mass)),
        fat_free_mass=draw(st.none() | scaled(mass)),
        soft_lean_mass=draw(st.none() | scaled(mass)),
        body_water_mass=draw(st.none() | scaled(mass)),
        impedance=draw(st.none() | scaled("0.1")),
        weight=draw(st.none() | scaled(mass)),
        height=draw(st.none() | scaled("0.1" if imperial else "0.001")),
        multiple_packet_measurement=draw(st.booleans()),
    )


@settings(max_examples=200)
@given(weight_measurements())
def test_weight_round_trip(value: WeightMeasurement) -> None:
    payload = checks.assert_round_trip(encode_weight_measurement, parse_weight_measurement, value)
    decode_weight_measurement(payload)  # normalises without error


@settings(max_examples=100)
@given(st.booleans(), st.booleans(), st.booleans(), st.integers(0, 15), st.integers(0, 7))
def test_weight_scale_feature_round_trip(a: bool, b: bool, c: bool, w: int, h: int) -> None:
    value = WeightScaleFeature(a, b, c, w, h)
    checks.assert_round_trip(encode_weight_scale_feature, parse_weight_scale_feature, value)


@settings(max_examples=200)
@given(body_compositions())
def test_body_composition_round_trip(value: BodyCompositionMeasurement) -> None:
    payload = checks.assert_round_trip(encode_body_composition, parse_body_composition, value)
    decode_body_composition(payload)


DECODERS = (decode_weight_measurement, decode_weight_scale_feature, decode_body_composition)


@settings(max_examples=400)
@given(st.binary(max_size=40))
def test_random_bytes_raise_only_protocol_errors(payload: bytes) -> None:
    checks.assert_only_protocol_errors(DECODERS, payload)


@settings(max_examples=300)
@given(st.integers(0, 0xFFFF), st.binary(min_size=2, max_size=40))
def test_flagged_random_fields_raise_only_protocol_errors(flags: int, tail: bytes) -> None:
    # random bytes behind every flag combination, so the optional fields are reached
    flags_8, flags_16 = bytes([flags & 0xFF]), flags.to_bytes(2, "little")
    checks.assert_only_protocol_errors(DECODERS, flags_8 + tail, flags_16 + tail)


@pytest.mark.parametrize("spec", PROTOCOLS, ids=lambda spec: spec.id)
def test_examples_and_truncation(spec: Any) -> None:
    assert spec.uuid in (0x2A9D, 0x2A9E, 0x2A9C)
    checks.assert_examples_and_truncation(spec)


@pytest.mark.parametrize(
    ("protocol", "hex_", "key", "expected"),
    [
        ("ble.weight_measurement", "00b036", "weight", 70.0),
        ("ble.weight_scale_feature", "bf010000", "weight_resolution_kg", 0.005),
        ("ble.body_composition", "00003200", "body_fat_percentage", 5.0),
    ],
)
def test_cart_decode(
    capsys: pytest.CaptureFixture[str], protocol: str, hex_: str, key: str, expected: float
) -> None:
    out = checks.cli_decode(capsys, protocol, hex_)
    assert out["protocol"] == protocol
    assert out["record"][key] == expected
    assert checks.cli_error(capsys, protocol, hex_ + "00") == "FrameError"


def test_cart_decode_weight_measurement_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = checks.cli_decode(capsys, "ble.weight_measurement", "01543d")
    assert out["measurements"] == [
        mj("body_weight", 71.214, original={"value": 157.0, "unit": "[lb_av]"})
    ]
