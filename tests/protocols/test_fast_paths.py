"""The helpers the fast decoders use (issue 8) give exactly what the slow paths give."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cart.errors import FrameError, ProtocolError
from cart.measurement import Special
from cart.protocols.ble_common import DateTime, Reader, date_time_at
from cart.protocols.ieee11073 import (
    MedFloat,
    float_from_bytes,
    float_from_raw,
    sfloat_from_bytes,
    sfloat_from_raw,
)

SFLOAT_SPECIALS = {
    2047: Special.NAN,
    -2048: Special.NRES,
    2046: Special.POS_INF,
    -2046: Special.NEG_INF,
    -2047: Special.RESERVED,
}
FLOAT_SPECIALS = {
    0x7FFFFF: Special.NAN,
    -0x800000: Special.NRES,
    0x7FFFFE: Special.POS_INF,
    -0x7FFFFE: Special.NEG_INF,
    -0x7FFFFF: Special.RESERVED,
}


def _signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw & (1 << (bits - 1)) else raw


def reference(raw: int, mantissa_bits: int, exponent_bits: int) -> MedFloat:
    """The spec, spelled out: two's complement fields, specials only at exponent 0."""
    mantissa = _signed(raw & ((1 << mantissa_bits) - 1), mantissa_bits)
    exponent = _signed(raw >> mantissa_bits, exponent_bits)
    specials = SFLOAT_SPECIALS if mantissa_bits == 12 else FLOAT_SPECIALS
    return MedFloat(mantissa, exponent, specials.get(mantissa) if exponent == 0 else None)


def exact(number: MedFloat) -> float | None:
    return None if number.special else float(Decimal(number.mantissa).scaleb(number.exponent))


def test_every_sfloat_pattern_is_the_exact_decimal():
    for raw in range(1 << 16):
        number = sfloat_from_raw(raw)
        assert number == reference(raw, 12, 4), hex(raw)
        assert type(number) is MedFloat
        assert sfloat_from_bytes(raw.to_bytes(2, "little")) == number
        value = number.value
        assert value == exact(number), hex(raw)  # 7.2, never 7.199999999
        assert number.to_json()["value"] == (number.special.value if number.special else value)


@given(st.integers(0, (1 << 32) - 1))
def test_float_patterns_are_the_exact_decimal(raw):
    number = float_from_raw(raw)
    assert number == reference(raw, 24, 8)
    assert float_from_bytes(raw.to_bytes(4, "little")) == number
    assert number.value == exact(number)


def test_exact_values():
    assert sfloat_from_bytes(bytes.fromhex("48f0")).value == 7.2
    assert float_from_bytes(bytes.fromhex("87d612fe")).value == 12345.67
    assert float_from_raw(0x7F000001).value == 1e127
    assert float_from_raw(0x81000001).value == 1e-127


@given(st.binary(min_size=7, max_size=7), st.binary(max_size=3))
def test_date_time_at_is_reader_date_time_then_to_datetime(chunk, prefix):
    data = prefix + chunk
    reader = Reader(data, "p")
    reader.take(len(prefix), "prefix")
    expected: ProtocolError | None = None
    try:
        value = reader.date_time("Time Stamp")
    except ProtocolError as exc:
        expected = exc
    if expected is not None:
        with pytest.raises(FrameError) as info:
            date_time_at(data, len(prefix), "Time Stamp", "p")
        assert str(info.value) == str(expected)
        assert (info.value.protocol, info.value.raw) == ("p", data)
        return
    got, when = date_time_at(data, len(prefix), "Time Stamp", "p")
    assert got == value
    assert when == value.to_datetime()
    assert got.json_with(when) == value.to_json()
    assert got.problems() == []


@pytest.mark.parametrize(
    "value",
    [
        DateTime(2024, 2, 30),
        DateTime(1500, 1, 1),
        DateTime(2024, 13, 1, 24, 60, 60),
        DateTime(0, 0, 0),
        DateTime(2024, 10, 27, 13, 30),
    ],
)
def test_problems_fast_path_agrees_with_the_checks(value):
    found = value.problems()
    assert (found == []) == (
        (value.year == 0 or 1582 <= value.year <= 9999)
        and 0 <= value.month <= 12
        and 0 <= value.day <= 31
        and value.hours <= 23
        and value.minutes <= 59
        and value.seconds <= 59
        and (not value.is_complete or _is_date(value))
    )


def _is_date(value: DateTime) -> bool:
    try:
        datetime(value.year, value.month, value.day)
    except ValueError:
        return False
    return True
