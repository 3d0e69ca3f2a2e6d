"""taidoc.td42xx: 8-byte frames, datetime word, readings, stream decoding."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import (
    ChecksumError,
    FrameError,
    IncompleteFrame,
    ProtocolError,
    UnsupportedMessage,
)
from cart.protocols import Decoded, NeedData
from cart.protocols.taidoc_td42xx import (
    PROTOCOL_ID,
    PROTOCOLS,
    Command,
    Direction,
    TaiDocStream,
    combine_reading,
    decode,
    encode_frame,
    parse_frame,
    request_clear_memory,
    request_connect,
    request_model,
    request_read_clock,
    request_record_count,
    request_record_time,
    request_record_value,
    request_set_clock,
    response_clear_memory,
    response_clock,
    response_connect,
    response_model,
    response_record_count,
    response_record_time,
    response_record_value,
    response_set_clock,
)
from tests.protocols import checks

# glucometers-tech/glucometerutils glucometerutils/drivers/tests/test_td42xx.py:
# _make_packet(0x22, 0) == b"\x51\x22\x00\x00\x00\x00\xa3\x16"
CONNECT = b"\x51\x22\x00\x00\x00\x00\xa3\x16"


def _reply(command: int, message: bytes) -> bytes:
    """A meter->host frame around a 4-byte message (checksum computed)."""
    body = bytes((0x51, command)) + message + b"\xa5"
    return body + bytes((sum(body) & 0xFF,))


# --------------------------------------------------------------------------- vectors


def test_connect_vector() -> None:
    assert request_connect() == CONNECT
    assert decode(CONNECT).record == {
        "command": 0x22,
        "direction": "host_to_meter",
        "data": "00000000",
        "message": "connect",
    }


@pytest.mark.parametrize(
    ("message", "when"),
    [
        # glucometerutils test_td42xx.py test_parse_datetime, verbatim messages
        (b"\x21\x24\x0e\x15", datetime(2018, 1, 1, 21, 14)),
        (b"\x21\x26\x0e\x15", datetime(2019, 1, 1, 21, 14)),
        (b"\x04\x27\x25\x0d", datetime(2019, 8, 4, 13, 37)),
    ],
)
def test_datetime_vectors(message: bytes, when: datetime) -> None:
    for command in (Command.READ_CLOCK, Command.RECORD_TIME, Command.SET_CLOCK):
        decoded = decode(_reply(command, message))
        assert decoded.record["timestamp"] == when.isoformat()
    assert response_record_time(when) == _reply(Command.RECORD_TIME, message)


def test_model_reply() -> None:
    # glucometer-protocols taidoc/td4277.md: model = %x77 %x42 (BCD 0x4277, little-endian)
    decoded = decode(_reply(Command.MODEL, b"\x77\x42\x00\x00"))
    assert decoded.record["model"] == "TD-4277"
    assert response_model(4277) == _reply(Command.MODEL, b"\x77\x42\x00\x00")
    assert decode(_reply(Command.MODEL, b"\x4a\x00\x00\x00")).record["model"] is None


@pytest.mark.parametrize(
    ("meal_byte", "meal"),
    # glucometer-protocols taidoc/td42xx.md: meal-none 00, meal-before 40, meal-after 80
    [(0x00, None), (0x40, "preprandial"), (0x80, "postprandial")],
)
def test_reading_value(meal_byte: int, meal: str | None) -> None:
    # td4277.md: glucose-value uint16le, %x06, meal-flag (values DERIVED)
    decoded = decode(_reply(Command.RECORD_VALUE, bytes((0x8C, 0x00, 0x06, meal_byte))))
    (m,) = decoded.measurements
    assert (m.value, m.unit, m.measured_at) == (140.0, "mg/dL", None)
    assert dict(m.context) == ({"meal": meal} if meal else {})
    assert decoded.record["extra"] == 6


def test_unknown_meal_byte_is_kept() -> None:
    decoded = decode(_reply(Command.RECORD_VALUE, b"\x64\x00\x06\x20"))
    assert decoded.record["meal"] == "unknown"
    assert decoded.measurements[0].context == {}


def test_record_count_and_requests() -> None:
    # td42xx.md: an empty meter answers count 0 with the unknown word 0xFFFF
    empty = decode(response_record_count(0)).record
    assert (empty["count"], empty["extra"]) == (0, 0xFFFF)
    assert decode(response_record_count(12)).record["count"] == 12
    assert decode(request_record_count()).record["message"] == "record_count"
    assert decode(request_record_time(513)).record["record_index"] == 513
    assert decode(request_record_value(2)).record["record_index"] == 2
    assert decode(request_model()).record["message"] == "model"
    assert decode(request_read_clock()).record["message"] == "read_clock"
    assert decode(request_clear_memory()).record["message"] == "clear_memory"
    assert decode(response_clear_memory()).record["direction"] == "meter_to_host"
    when = datetime(2024, 5, 10, 9, 22)
    assert decode(request_set_clock(when)).record["timestamp"] == when.isoformat()
    assert decode(response_set_clock(when)).record["timestamp"] == when.isoformat()
    assert decode(response_clock(when)).record["timestamp"] == when.isoformat()
    for command in (0x22, 0x24, 0x54):
        assert decode(response_connect(command)).record["message"] in ("connect", "model")


def test_combine_reading() -> None:
    when = datetime(2019, 8, 4, 13, 37)
    decoded = combine_reading(
        response_record_time(when), response_record_value(105, "postprandial"), index=0
    )
    (m,) = decoded.measurements
    assert (m.value, m.measured_at, dict(m.context)) == (105.0, when, {"meal": "postprandial"})
    assert decoded.record["record_index"] == 0
    with pytest.raises(UnsupportedMessage):
        combine_reading(response_record_value(105), response_record_time(when))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"", IncompleteFrame),
        (CONNECT[:7], IncompleteFrame),
        (CONNECT + b"\x00", FrameError),
        (b"\x52" + CONNECT[1:], FrameError),
        (CONNECT[:7] + b"\x17", ChecksumError),
        (b"\x51\x22\x00\x00\x00\x00\xa4\x17", FrameError),  # direction A4, good sum
        (_reply(0x99, b"\x00\x00\x00\x00"), UnsupportedMessage),
        (_reply(Command.RECORD_TIME, b"\x00\x00\x00\x00"), FrameError),  # month 0
        (_reply(Command.READ_CLOCK, b"\x21\x24\x3c\x15"), FrameError),  # minute 60
        (_reply(Command.READ_CLOCK, b"\xff\xff\xff\xff"), FrameError),  # invalid RTC
    ],
)
def test_error_frames(frame: bytes, error: type[ProtocolError]) -> None:
    checks.assert_raises_exactly(decode, frame, error, protocol=PROTOCOL_ID)


def test_checksum_error_values() -> None:
    with pytest.raises(ChecksumError) as info:
        decode(CONNECT[:7] + b"\x99")
    assert (info.value.wire, info.value.calculated) == (0x99, 0x16)


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("how", checks.SPLITS)
def test_stream(how: str) -> None:
    when = datetime(2019, 8, 4, 13, 37)
    frames = [CONNECT, response_model(4277), response_record_time(when), response_record_value(98)]
    wire = checks.GARBAGE_HEAD + b"".join(frames) + checks.GARBAGE_TAIL
    decoded = checks.feed_all(TaiDocStream(), checks.split_delivery(wire, how))
    assert [d.raw for d in decoded] == frames
    assert decoded[3].measurements[0].value == 98


def test_stream_noise_sync_byte_and_bad_frame() -> None:
    stream = TaiDocStream()
    # a noise 0x51 right before a real frame, then a frame with a bad sum, then a good one
    stream.feed(b"\x51\x00" + CONNECT + CONNECT[:7] + b"\x00" + response_clear_memory())
    first = stream.next_frame()
    assert isinstance(first, Decoded)
    assert first.raw == CONNECT
    with pytest.raises(ChecksumError):
        stream.next_frame()
    last = stream.next_frame()
    assert isinstance(last, Decoded)
    assert last.record["message"] == "clear_memory"
    assert isinstance(stream.next_frame(), NeedData)
    assert stream.buffered == 0


# --------------------------------------------------------------------------- properties


@settings(max_examples=150)
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2127, 12, 31)),
    st.integers(0, 0xFFFF),
    st.sampled_from([None, "preprandial", "postprandial"]),
)
def test_roundtrip(when: datetime, value: int, meal: str | None) -> None:
    when = when.replace(second=0, microsecond=0)
    decoded = combine_reading(response_record_time(when), response_record_value(value, meal))
    (m,) = decoded.measurements
    assert (m.value, m.measured_at) == (value, when)
    assert m.context.get("meal") == meal


@settings(max_examples=150)
@given(st.integers(0, 255), st.binary(min_size=4, max_size=4), st.sampled_from(list(Direction)))
def test_frame_roundtrip(command: int, data: bytes, direction: Direction) -> None:
    frame = parse_frame(encode_frame(command, data, direction))
    assert (frame.command, frame.data, frame.direction) == (command, data, direction)
    checks.assert_only_protocol_errors(decode, encode_frame(command, data, direction))


@settings(max_examples=300)
@given(st.binary(max_size=40))
def test_random_bytes_only_raise_protocol_errors(data: bytes) -> None:
    checks.assert_only_protocol_errors(decode, data)
    checks.feed_all(TaiDocStream(), [data], skip_errors=True, limit=len(data) + 1)


# --------------------------------------------------------------------------- registry / CLI


def test_examples_decode() -> None:
    (spec,) = PROTOCOLS
    assert [d.protocol for d in checks.decode_examples(spec)] == [PROTOCOL_ID] * len(spec.examples)


def test_cli_decode(capsys: pytest.CaptureFixture[str]) -> None:
    out = checks.cli_decode(capsys, PROTOCOL_ID, response_record_value(105, "preprandial").hex())
    assert out["measurements"][0]["value"] == 105.0
    assert out["measurements"][0]["context"] == {"meal": "preprandial"}
    assert checks.cli_error(capsys, PROTOCOL_ID, "51 22 00 00 00 00 a3 17") == "ChecksumError"
