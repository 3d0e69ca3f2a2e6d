"""IEEE 11073-20601 SFLOAT / FLOAT: vectors, every special value, exact decimals, fuzzing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import FrameError, IncompleteFrame
from cart.measurement import Special
from cart.protocols.ieee11073 import (
    FLOAT_NAN,
    FLOAT_NEG_INF,
    FLOAT_NRES,
    FLOAT_POS_INF,
    FLOAT_RESERVED,
    SFLOAT_NAN,
    SFLOAT_NEG_INF,
    SFLOAT_NRES,
    SFLOAT_POS_INF,
    SFLOAT_RESERVED,
    MedFloat,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
    float32,
    parse_float,
    parse_sfloat,
    sfloat,
)
from tests.protocols import checks

SFLOAT_VECTORS = [
    # (hex, value, mantissa, exponent, source)
    # Nordic Android-BLE-Common-Library bps/BloodPressureMeasurementDataCallbackTest
    # .onBloodPressureMeasurementReceived_full: systolic 138 mmHg = {0x8A, 0x00}
    ("8a00", 138.0, 138, 0),
    # same file, _some: systolic 18.9 kPa {0xBD, 0xF0}, MAP 15.9 kPa {0x9F, 0xF0}
    ("bdf0", 18.9, 189, -1),
    ("9ff0", 15.9, 159, -1),
    # Nordic Android-BLE-Library data/DataTest.setValue_SFLOAT_hex: 10.1 = {0x65, 0xF0}
    ("65f0", 10.1, 101, -1),
    # Nordic bps/IntermediateCuffPressureDataCallbackTest _minimal / _some: 21.5, 11.1
    ("d7f0", 21.5, 215, -1),
    ("6ff0", 11.1, 111, -1),
    # ../shared/protocols-ble.md §1.3: 95 mg/dL = 95e-5 kg/L = 0xB05F; 5.3 mmol/L = 0xC035
    ("5fb0", 0.00095, 95, -5),
    ("35c0", 0.0053, 53, -4),
    # derived from spec (IEEE 11073-20601 SFLOAT-Type): mantissa 72, exponent -1
    ("48f0", 7.2, 72, -1),
    # StanfordSpezi/SpeziBluetooth Tests/SpeziBluetoothTests/MedFloatTests: 12.34 = 1234e-2
    ("d2e4", 12.34, 1234, -2),
    # derived from spec: largest/smallest regular mantissa, -1e-1, zero with exponent 7
    ("fd07", 2045.0, 2045, 0),
    ("0308", -2045.0, -2045, 0),
    ("ffff", -0.1, -1, -1),
    ("0070", 0.0, 0, 7),
    # exponent != 0: 0x7FF is an ordinary mantissa, not NaN (Nordic Data.getFloatValue
    # checks the whole 16-bit pattern)
    ("ff77", 20470000000.0, 2047, 7),
    ("0088", -0.00002048, -2048, -8),
]

SFLOAT_SPECIALS = [
    # derived from spec (IEEE 11073-20601 / GATT Specification Supplement medfloat16) and
    # Nordic Android-BLE-Library Data.getFloatValue (0x07FE, 0x07FF, 0x0800-0x0802)
    ("ff07", "nan", 2047, SFLOAT_NAN),
    ("0008", "nres", -2048, SFLOAT_NRES),
    ("fe07", "+inf", 2046, SFLOAT_POS_INF),
    ("0208", "-inf", -2046, SFLOAT_NEG_INF),
    ("0108", "reserved", -2047, SFLOAT_RESERVED),
]

FLOAT_VECTORS = [
    # Nordic ht/TemperatureMeasurementDataCallbackTest: 37.60 = {0xB0, 0x0E, 0x00, 0xFE}
    ("b00e00fe", 37.6, 3760, -2),
    # Nordic Android-BLE-Library DataTest.setValue_FLOAT_hex: 12345.67 = 87 D6 12 FE
    ("87d612fe", 12345.67, 1234567, -2),
    # same file, setValue_FLOAT_basic: 1.0 = 01 00 00 00
    ("01000000", 1.0, 1, 0),
    # derived from spec: -1 x 10^-1, the extreme exponents
    ("ffffffff", -0.1, -1, -1),
    ("0a00007f", 1e128, 10, 127),
    ("01000080", 1e-128, 1, -128),
]

FLOAT_SPECIALS = [
    # derived from spec (medfloat32) and Nordic Data.getFloatValue
    ("ffff7f00", "nan", 0x7FFFFF, FLOAT_NAN),
    ("00008000", "nres", -0x800000, FLOAT_NRES),
    ("feff7f00", "+inf", 0x7FFFFE, FLOAT_POS_INF),
    ("02008000", "-inf", -0x7FFFFE, FLOAT_NEG_INF),
    ("01008000", "reserved", -0x7FFFFF, FLOAT_RESERVED),
]


@pytest.mark.parametrize(("hex_", "value", "mantissa", "exponent"), SFLOAT_VECTORS)
def test_sfloat_vectors(hex_: str, value: float, mantissa: int, exponent: int) -> None:
    decoded = decode_sfloat(bytes.fromhex(hex_))
    assert decoded.protocol == "ieee11073.sfloat"
    assert decoded.record == checks.sfloat_json(value, mantissa, exponent)
    assert decoded.measurements == ()
    assert encode_sfloat(MedFloat(mantissa, exponent)) == bytes.fromhex(hex_)


@pytest.mark.parametrize(("hex_", "name", "mantissa", "constant"), SFLOAT_SPECIALS)
def test_sfloat_specials(hex_: str, name: str, mantissa: int, constant: MedFloat) -> None:
    decoded = decode_sfloat(bytes.fromhex(hex_))
    assert decoded.record == checks.sfloat_json(name, mantissa, 0)
    assert parse_sfloat(bytes.fromhex(hex_)) == constant
    assert constant.special == Special(name)
    assert constant.value is None
    assert constant.decimal is None
    assert encode_sfloat(name) == bytes.fromhex(hex_)
    assert encode_sfloat(constant) == bytes.fromhex(hex_)
    assert encode_sfloat(FLOAT_NAN if name == "nan" else constant) == bytes.fromhex(hex_)


@pytest.mark.parametrize(("hex_", "value", "mantissa", "exponent"), FLOAT_VECTORS)
def test_float_vectors(hex_: str, value: float, mantissa: int, exponent: int) -> None:
    decoded = decode_float(bytes.fromhex(hex_))
    assert decoded.protocol == "ieee11073.float"
    assert decoded.record == checks.sfloat_json(value, mantissa, exponent)
    assert encode_float(MedFloat(mantissa, exponent)) == bytes.fromhex(hex_)


@pytest.mark.parametrize(("hex_", "name", "mantissa", "constant"), FLOAT_SPECIALS)
def test_float_specials(hex_: str, name: str, mantissa: int, constant: MedFloat) -> None:
    assert decode_float(bytes.fromhex(hex_)).record == checks.sfloat_json(name, mantissa, 0)
    assert parse_float(bytes.fromhex(hex_)) == constant
    assert encode_float(name) == bytes.fromhex(hex_)


def test_decoded_values_are_exact_decimals() -> None:
    # 72 * 10**-1 computed in binary floating point is 7.2000000000000002 or 7.199999...
    assert decode_sfloat(bytes.fromhex("48f0")).record["value"] == 7.2
    assert parse_sfloat(bytes.fromhex("48f0")).decimal == Decimal("7.2")
    assert decode_float(bytes.fromhex("b00e00fe")).record["value"] == 37.6


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Nordic Android-BLE-Library DataTest (float -> SFLOAT with rounding)
        (10.1, MedFloat(101, -1)),  # setValue_SFLOAT_hex
        (123.45, MedFloat(1235, -1)),  # setValue_SFLOAT_roundUp: 123.5
        (0.12344, MedFloat(1234, -4)),  # setValue_SFLOAT_roundDown: 0.1234
        (10000000, MedFloat(1000, 4)),  # setValue_SFLOAT_high
        (1000400, MedFloat(1000, 3)),  # setValue_SFLOAT_cutPrecision: 1000000
        (1000500, MedFloat(1001, 3)),  # setValue_SFLOAT_roundUp_500: 1001000
        # StanfordSpezi/SpeziBluetooth MedFloatTests.testBasicRepresentations: 123000
        # is exponent 2, mantissa 1230; -12.34 is exponent -2, mantissa -1234
        (123000, MedFloat(1230, 2)),
        (-12.34, MedFloat(-1234, -2)),
        # derived from spec: integers keep exponent 0, strings and Decimals are exact
        (120, MedFloat(120, 0)),
        ("0.00095", MedFloat(95, -5)),
        (Decimal("18.9"), MedFloat(189, -1)),
        (0, MedFloat(0, 0)),
        (1e-12, MedFloat(0, 0)),
        (204549, MedFloat(2045, 2)),  # rounded once from the exact value, not twice
    ],
)
def test_sfloat_from_numbers(value: float | str | Decimal, expected: MedFloat) -> None:
    assert sfloat(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), SFLOAT_NAN),
        (float("inf"), SFLOAT_POS_INF),
        (float("-inf"), SFLOAT_NEG_INF),
        (Decimal("NaN"), SFLOAT_NAN),
        ("NRes", SFLOAT_NRES),
        ("reserved", SFLOAT_RESERVED),
        (FLOAT_POS_INF, SFLOAT_POS_INF),
    ],
)
def test_sfloat_special_inputs(value: float | str | Decimal | MedFloat, expected: MedFloat) -> None:
    assert sfloat(value) == expected


def test_float32_from_numbers() -> None:
    # Nordic DataTest.setValue_FLOAT_hex / setValue_FLOAT_roundUp (1234.5678 -> 1234.568)
    assert float32(12345.67) == MedFloat(1234567, -2)
    assert float32(1234.5678) == MedFloat(1234568, -3)
    assert float32("-inf") == FLOAT_NEG_INF
    assert encode_float(1.0) == bytes.fromhex("01000000")


@pytest.mark.parametrize(
    "bad",
    [
        2046e7,  # too large
        MedFloat(2047, 0),  # that bit pattern is NaN: specials are built by name
        MedFloat(-2048, 0),
        MedFloat(2048, 1),  # mantissa out of 12 bits
        MedFloat(1, 8),  # exponent out of 4 bits
        "twelve",
    ],
)
def test_sfloat_rejects_what_it_cannot_represent(bad: object) -> None:
    with pytest.raises(ValueError):
        encode_sfloat(bad)  # type: ignore[arg-type]


def test_bool_is_not_a_number() -> None:
    with pytest.raises(TypeError):
        sfloat(True)


@pytest.mark.parametrize(
    ("decoder", "payload", "error"),
    [
        (decode_sfloat, b"", IncompleteFrame),
        (decode_sfloat, b"\x8a", IncompleteFrame),
        (decode_sfloat, b"\x8a\x00\x00", FrameError),
        (decode_float, b"\xb0\x0e\x00", IncompleteFrame),
        (decode_float, b"\xb0\x0e\x00\xfe\x00", FrameError),
    ],
)
def test_length_errors(decoder: object, payload: bytes, error: type[Exception]) -> None:
    checks.assert_raises_exactly(decoder, payload, error)  # type: ignore[arg-type]


floats32 = st.one_of(
    st.sampled_from([FLOAT_NAN, FLOAT_NRES, FLOAT_POS_INF, FLOAT_NEG_INF, FLOAT_RESERVED]),
    st.builds(MedFloat, st.integers(-(2**23), 2**23 - 1), st.integers(-128, 127)).filter(
        lambda m: not (m.exponent == 0 and abs(m.mantissa) >= 2**23 - 2)
    ),
)


@settings(max_examples=300)
@given(checks.sfloats)
def test_sfloat_round_trip(value: MedFloat) -> None:
    checks.assert_round_trip(encode_sfloat, parse_sfloat, value)


@settings(max_examples=300)
@given(floats32)
def test_float_round_trip(value: MedFloat) -> None:
    checks.assert_round_trip(encode_float, parse_float, value)


@settings(max_examples=300)
@given(st.integers(-2045, 2045), st.integers(-8, 7))
def test_numbers_round_trip_exactly(mantissa: int, exponent: int) -> None:
    exact = Decimal(mantissa).scaleb(exponent)
    decoded = parse_sfloat(encode_sfloat(exact))
    assert decoded.decimal == exact
    assert decode_sfloat(encode_sfloat(exact)).record["value"] == float(exact)


@settings(max_examples=300)
@given(st.binary(max_size=6))
def test_random_bytes_raise_only_protocol_errors(payload: bytes) -> None:
    checks.assert_only_protocol_errors((decode_sfloat, decode_float), payload)


@pytest.mark.parametrize(
    ("protocol", "hex_", "record"),
    [
        ("ieee11073.sfloat", "48f0", checks.sfloat_json(7.2, 72, -1)),
        ("ieee11073.sfloat", "0208", checks.sfloat_json("-inf", -2046, 0)),
        ("ieee11073.float", "b00e00fe", checks.sfloat_json(37.6, 3760, -2)),
    ],
)
def test_cart_decode(
    capsys: pytest.CaptureFixture[str], protocol: str, hex_: str, record: dict[str, object]
) -> None:
    out = checks.cli_decode(capsys, protocol, hex_)
    assert out == {"protocol": protocol, "record": record, "measurements": []}


def test_cart_decode_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert checks.cli_error(capsys, "ieee11073.sfloat", "8a") == "IncompleteFrame"
