"""Date Time (0x2A08) and Current Time (0x2A2B)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import FrameError, IncompleteFrame
from cart.protocols.base import ProtocolSpec
from cart.protocols.ble_time import (
    PROTOCOLS,
    CurrentTime,
    DateTime,
    decode_current_time,
    decode_date_time,
    encode_current_time,
    encode_date_time,
    parse_current_time,
    parse_date_time,
)
from tests.protocols import checks


def test_date_time_nordic_vector() -> None:
    # Nordic Android-BLE-Common-Library DateTimeDataCallbackTest.onDateTimeReceived_correct:
    # {0xE2, 0x07, 4, 17, 15, 51, 0} = 2018-04-17 15:51:00
    payload = bytes([0xE2, 0x07, 4, 17, 15, 51, 0])
    decoded = decode_date_time(payload)
    assert decoded.protocol == "ble.date_time"
    assert decoded.record == {
        "timestamp": "2018-04-17T15:51:00",
        "year": 2018,
        "month": 4,
        "day": 17,
        "hours": 15,
        "minutes": 51,
        "seconds": 0,
    }
    assert decoded.measurements == ()
    value = parse_date_time(payload)
    assert value.to_datetime() == datetime(2018, 4, 17, 15, 51)
    assert encode_date_time(value) == payload
    assert DateTime.from_datetime(datetime(2018, 4, 17, 15, 51, 0, 999)) == value


def test_date_not_known() -> None:
    # Nordic DateTimeDataCallbackTest.onDateTimeReceived_dateNotKnown: {0, 0, 0, 0, 18, 26, 32}
    decoded = decode_date_time(bytes([0, 0, 0, 0, 18, 26, 32]))
    assert decoded.record == {
        "timestamp": None,
        "year": 0,
        "month": 0,
        "day": 0,
        "hours": 18,
        "minutes": 26,
        "seconds": 32,
    }


def test_partial_date_has_no_timestamp() -> None:
    # Nordic bps/BloodPressureMeasurementDataCallbackTest._full uses year 0, April 17
    value = parse_date_time(bytes.fromhex("0000041114293b"))
    assert value == DateTime(0, 4, 17, 20, 41, 59)
    assert value.to_datetime() is None
    assert decode_date_time(bytes(7)).record["timestamp"] is None  # all zero: unknown


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        # Nordic DateTimeDataCallbackTest.onInvalidDataReceived_dataTooShort / _dataTooLong
        (bytes([0xE2, 0x07, 4, 17, 15, 51]), IncompleteFrame),
        (b"", IncompleteFrame),
        (bytes([0xE2, 0x07, 4, 17, 15, 51, 0, 0]), FrameError),
        # derived from spec ranges (GATT Specification Supplement, Date Time)
        (bytes.fromhex("e8070d0a090f00"), FrameError),  # month 13
        (bytes.fromhex("e807021e090f00"), FrameError),  # 2024-02-30 is not a date
        (bytes.fromhex("e807050a180000"), FrameError),  # hours 24
        (bytes.fromhex("e807050a093c00"), FrameError),  # minutes 60
        (bytes.fromhex("e807050a09003c"), FrameError),  # seconds 60
        (bytes.fromhex("e803050a090000"), FrameError),  # year 1000 (0 or 1582-9999)
        (bytes.fromhex("e807052009000000"), FrameError),  # day 32 (and one byte too many)
    ],
)
def test_date_time_errors(payload: bytes, error: type[Exception]) -> None:
    checks.assert_raises_exactly(decode_date_time, payload, error, protocol="ble.date_time")


def test_current_time_vector() -> None:
    # ../shared/protocols-ble.md §1.5: E8 07 05 0A 09 0F 00 05 00 01 =
    # Friday 2024-05-10 09:15:00, manual update (checked against the CTS field layout)
    payload = bytes.fromhex("e807050a090f00050001")
    decoded = decode_current_time(payload)
    assert decoded.protocol == "ble.current_time"
    assert decoded.record == {
        "timestamp": "2024-05-10T09:15:00",
        "year": 2024,
        "month": 5,
        "day": 10,
        "hours": 9,
        "minutes": 15,
        "seconds": 0,
        "day_of_week": 5,
        "day_of_week_name": "friday",
        "fractions256": 0,
        "adjust_reason": 1,
        "adjust_reasons": ["manual_time_update"],
    }
    value = CurrentTime(DateTime(2024, 5, 10, 9, 15, 0), 5, 0, 1)
    assert parse_current_time(payload) == value
    assert encode_current_time(value) == payload


def test_current_time_all_adjust_reasons_and_unknown_day() -> None:
    # date, time and fractions256 from StanfordSpezi/SpeziBluetooth
    # CurrentTimeTests.testCurrentTime (2005-12-27 12:31:40, 127/256 s); every adjust
    # reason bit set and day of week 0 (not known), bytes derived from the CTS layout
    payload = encode_current_time(CurrentTime(DateTime(2005, 12, 27, 12, 31, 40), 0, 127, 0x0F))
    assert payload == bytes.fromhex("d5070c1b0c1f28007f0f")
    record = decode_current_time(payload).record
    assert record["day_of_week_name"] is None
    assert record["adjust_reasons"] == [
        "manual_time_update",
        "external_reference_time_update",
        "change_of_time_zone",
        "change_of_dst",
    ]


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (bytes.fromhex("e807050a090f000500"), IncompleteFrame),
        (bytes.fromhex("e807050a090f0005000100"), FrameError),
        (bytes.fromhex("e807050a090f00080001"), FrameError),  # day of week 8 is reserved
        (bytes.fromhex("e8070d0a090f00050001"), FrameError),  # month 13
    ],
)
def test_current_time_errors(payload: bytes, error: type[Exception]) -> None:
    checks.assert_raises_exactly(decode_current_time, payload, error)


@pytest.mark.parametrize(
    "value",
    [
        DateTime(2024, 13, 1),
        DateTime(1000, 1, 1),
        DateTime(2023, 2, 29),
        DateTime(2024, 1, 1, 24),
        DateTime(-1, 1, 1),
    ],
)
def test_encoder_refuses_invalid_dates(value: DateTime) -> None:
    with pytest.raises(ValueError):
        encode_date_time(value)


@st.composite
def date_times(draw: st.DrawFn) -> DateTime:
    if draw(st.booleans()):
        when = draw(
            st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))
        )
        return DateTime.from_datetime(when)
    return DateTime(
        0,
        draw(st.integers(0, 12)),
        draw(st.integers(0, 31)),
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )


@settings(max_examples=200)
@given(date_times())
def test_date_time_round_trip(value: DateTime) -> None:
    checks.assert_round_trip(encode_date_time, parse_date_time, value)


@settings(max_examples=200)
@given(date_times(), st.integers(0, 7), st.integers(0, 255), st.integers(0, 255))
def test_current_time_round_trip(value: DateTime, dow: int, fractions: int, adjust: int) -> None:
    current = CurrentTime(value, dow, fractions, adjust)
    checks.assert_round_trip(encode_current_time, parse_current_time, current)


@settings(max_examples=400)
@given(st.binary(max_size=12))
def test_random_bytes_raise_only_protocol_errors(payload: bytes) -> None:
    checks.assert_only_protocol_errors((decode_date_time, decode_current_time), payload)


@pytest.mark.parametrize("spec", PROTOCOLS, ids=lambda spec: spec.id)
def test_examples_and_truncation(spec: ProtocolSpec) -> None:
    checks.assert_examples_and_truncation(spec)


@pytest.mark.parametrize(
    ("protocol", "hex_", "timestamp"),
    [
        ("ble.date_time", "e20704110f3300", "2018-04-17T15:51:00"),
        ("ble.current_time", "e807050a090f00050001", "2024-05-10T09:15:00"),
    ],
)
def test_cart_decode(
    capsys: pytest.CaptureFixture[str], protocol: str, hex_: str, timestamp: str
) -> None:
    out = checks.cli_decode(capsys, protocol, hex_)
    assert out["protocol"] == protocol
    assert out["record"]["timestamp"] == timestamp
    assert out["measurements"] == []
    assert checks.cli_error(capsys, protocol, hex_[:-2]) == "IncompleteFrame"
