"""onetouch.ultra2: commands, replies, DMP dump lines, stream decoding."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import (
    BufferOverflow,
    ChecksumError,
    FrameError,
    IncompleteFrame,
    ProtocolError,
    UnsupportedMessage,
)
from cart.protocols import NEED_DATA, Decoded
from cart.protocols.onetouch_ultra2 import (
    PROTOCOL_ID,
    PROTOCOLS,
    Command,
    DumpRecord,
    Ultra2Stream,
    decode,
    encode_clock,
    encode_command,
    encode_dump,
    encode_dump_header,
    encode_erase_ack,
    encode_record,
    encode_response,
    encode_serial_number,
    encode_set_clock,
    encode_unit,
    encode_version,
)
from tests.protocols import checks

# tidepool-org/uploader lib/drivers/onetouch/oneTouchUltra2.js, header comment (a real dump):
TIDEPOOL_DUMP = (
    b'P 003,"GMF600DCY","MG/DL " 05A6\r\n'
    b'P "SAT","03/21/15","16:45:24   ","  081 ","N","03", 00 09B6\r\n'
    b'P "SAT","03/21/15","16:42:11   ","  105 ","B","02", 00 099F\r\n'
    b'P "SAT","03/21/15","16:39:46   ","  176 ","N","02", 00 09C1\r\n'
)


# --------------------------------------------------------------------------- vectors


def test_dump_header() -> None:
    decoded = decode(TIDEPOOL_DUMP.split(b"\r\n")[0])
    assert decoded.record == {
        "message": "dump_header",
        "number_of_records": 3,
        "serial_number": "GMF600DCY",
        "glucose_unit": "mg/dL",
    }
    assert decoded.measurements == ()


@pytest.mark.parametrize(
    ("line", "value", "when", "meal", "comment"),
    [
        # tidepool-org/uploader oneTouchUltra2.js header comment, verbatim lines
        (
            b'P "SAT","03/21/15","16:45:24   ","  081 ","N","03", 00 09B6',
            81,
            datetime(2015, 3, 21, 16, 45, 24),
            None,
            "mild_exercise",
        ),
        (
            b'P "SAT","03/21/15","16:42:11   ","  105 ","B","02", 00 099F',
            105,
            datetime(2015, 3, 21, 16, 42, 11),
            "preprandial",
            "too_much_food",
        ),
        (
            b'P "SAT","03/21/15","16:39:46   ","  176 ","N","02", 00 09C1',
            176,
            datetime(2015, 3, 21, 16, 39, 46),
            None,
            "too_much_food",
        ),
    ],
)
def test_dump_records(
    line: bytes, value: int, when: datetime, meal: str | None, comment: str
) -> None:
    decoded = decode(line + b"\r\n")
    assert decoded.protocol == PROTOCOL_ID
    assert decoded.record["comment"] == comment
    (m,) = decoded.measurements
    assert m.kind == "glucose"
    assert m.value == value
    assert m.unit == "mg/dL"
    assert m.original is None
    assert m.measured_at == when
    assert m.flags == ()
    assert dict(m.context) == ({"meal": meal} if meal else {})


def test_record_reencodes_byte_for_byte() -> None:
    # The encoder reproduces the captured line exactly (tidepool vector).
    record = DumpRecord(datetime(2015, 3, 21, 16, 42, 11), 105, meal="B", comment="02")
    assert (
        encode_record(record) == b'P "SAT","03/21/15","16:42:11   ","  105 ","B","02", 00 099F\r\n'
    )


def test_original_ultra_layout_without_meal() -> None:
    # DERIVED from the layout (no meal/comment fields, as the original OneTouch Ultra sends).
    line = encode_record(DumpRecord(datetime(2009, 9, 14, 13, 46, 8), 170), with_meal=False)
    assert line == b'P "MON","09/14/09","13:46:08   ","  170 ", 00 0831\r\n'
    decoded = decode(line)
    assert decoded.record["meal"] is None
    assert decoded.measurements[0].value == 170


def test_high_and_control_markers() -> None:
    # Result formats " HIGH " and "C nnn " from the LifeScan Ultra spec (as quoted in the
    # diabetech OneTouch parser); lines DERIVED with the encoder.
    high = decode(encode_record(DumpRecord(datetime(2015, 3, 21, 8, 0), None)))
    (m,) = high.measurements
    assert m.value is None
    assert m.special == "+inf"
    assert m.flags == ("above_range",)
    assert high.record["value"] == "HIGH"

    control = decode(
        encode_record(DumpRecord(datetime(2015, 3, 21, 8, 0), 120, control_solution=True))
    )
    assert control.measurements[0].flags == ("control_solution",)
    assert control.measurements[0].value == 120


def test_parity_error_marker_is_kept() -> None:
    line = encode_record(DumpRecord(datetime(2015, 3, 21, 8, 0), 99, parity_error=True))
    assert b'"  099?"' in line
    assert decode(line).record["parity_error"] is True


def test_replies() -> None:
    # glucometerutils test_otultra2.py: 'T "SAT","08/03/13","22:12:00   "' sums to 0x0608.
    clock = decode(b'T "SAT","08/03/13","22:12:00   " 0608\r\n')
    assert clock.record == {
        "message": "clock_set",
        "timestamp": "2013-08-03T22:12:00",
        "day_of_week": "SAT",
    }
    assert decode(encode_version()).record == {
        "message": "version",
        "software_version": "P02.00.00 30/08/06",
    }
    serial = decode(encode_serial_number("GMF600DCY")).record
    assert serial == {"message": "serial_number", "serial_number": "GMF600DCY", "ultra2": True}
    # glucometerutils test_otultra2.py "_invalid_serial_number": valid checksum, not an Ultra 2.
    assert decode(b'@ "12345678O" 0297\r').record["ultra2"] is False
    assert decode(encode_unit("mmol/L")).record == {
        "message": "glucose_unit",
        "glucose_unit": "mmol/L",
    }
    assert decode(encode_erase_ack()).record == {"message": "erased"}
    read = decode(encode_clock(datetime(2024, 5, 10, 9, 22, 0))).record
    assert read == {"message": "clock", "timestamp": "2024-05-10T09:22:00", "day_of_week": "FRI"}


def test_commands() -> None:
    assert encode_command(Command.DUMP) == b"\x11\rDMP\r"
    for command in Command:
        if command is Command.SET_CLOCK:
            continue
        assert decode(encode_command(command)).record == {
            "message": "command",
            "command": command.value,
        }
    set_clock = encode_set_clock(datetime(2013, 8, 3, 22, 12, 0))
    assert set_clock == b"\x11\rDMT08/03/13 22:12:00\r"
    assert decode(set_clock).record["timestamp"] == "2013-08-03T22:12:00"


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        # glucometerutils test_otultra2.py: "% 1337" has a wrong checksum
        (b"% 1337\r", ChecksumError),
        # glucometerutils "_generic": "% 2500" is well formed but its sum is 0x0025
        (b"% 2500\r", ChecksumError),
        # glucometerutils "_missing_checksum" and "_broken_checksum"
        (b"INVALID", FrameError),
        (b"% 13AZ\r", FrameError),
        # glucometerutils "_short"
        (b".\r", FrameError),
        (b"", IncompleteFrame),
        (b'P "SAT","03/21/15","16:45:24   ","  0', IncompleteFrame),
        (b'P 003,"GMF6', IncompleteFrame),
        # valid checksum, unknown reply
        (encode_response("% 1"), UnsupportedMessage),
        (b"\x11\rDMX\r", UnsupportedMessage),
        (b"\x11\rDMT13/45/99 99:00:00\r", FrameError),
        # a captured line with one digit changed (checksum no longer matches)
        (b'P "SAT","03/21/15","16:45:24   ","  181 ","N","03", 00 09B6', ChecksumError),
        # a valid checksum over an impossible date
        (encode_response('P "SAT","02/30/15","16:45:24   ","  081 ","N","03", 00'), FrameError),
        (b"\xff\xfe 0000", FrameError),
    ],
)
def test_error_frames(frame: bytes, error: type[ProtocolError]) -> None:
    checks.assert_raises_exactly(decode, frame, error, protocol=PROTOCOL_ID)


def test_checksum_error_carries_both_values() -> None:
    with pytest.raises(ChecksumError) as info:
        decode(b"% 1337\r")
    assert (info.value.wire, info.value.calculated) == (0x1337, 0x25)


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("how", checks.SPLITS)
def test_stream_dump(how: str) -> None:
    wire = checks.GARBAGE_HEAD + TIDEPOOL_DUMP + checks.GARBAGE_TAIL
    frames = checks.feed_all(Ultra2Stream(), checks.split_delivery(wire, how))
    assert [f.record["message"] for f in frames] == ["dump_header"] + ["dump_record"] * 3
    values = [f.measurements[0].value for f in frames[1:]]
    assert values == [81, 105, 176]


@pytest.mark.parametrize("how", checks.SPLITS)
def test_stream_host_commands(how: str) -> None:
    wire = encode_command(Command.SERIAL_NUMBER) + encode_command(Command.DUMP)
    frames = checks.feed_all(Ultra2Stream(), checks.split_delivery(checks.GARBAGE_HEAD + wire, how))
    assert [f.record["command"] for f in frames] == ["DM@", "DMP"]


def test_stream_bad_line_then_resync() -> None:
    stream = Ultra2Stream()
    lines = TIDEPOOL_DUMP.split(b"\r\n")
    wire = lines[1].replace(b"081", b"082") + b"\r\n" + lines[2] + b"\r\n"
    checks.assert_feed_raises(stream, wire, ChecksumError)
    good = stream.next_frame()
    assert isinstance(good, Decoded)
    assert good.measurements[0].value == 105


def test_stream_buffer_is_bounded() -> None:
    stream = Ultra2Stream(max_buffer=64)
    checks.assert_feed_raises(stream, b"x" * 100, BufferOverflow)
    stream.feed(TIDEPOOL_DUMP)
    assert stream.next_frame() is not NEED_DATA


def test_encode_dump_roundtrip() -> None:
    records = [
        DumpRecord(datetime(2024, 5, 10, 9, 22, 0), 98, meal="B"),
        DumpRecord(datetime(2024, 5, 9, 21, 5, 30), None, meal="A", comment="11"),
    ]
    stream = Ultra2Stream()
    stream.feed(encode_dump("ABC123DEY", records))
    frames = [f for f in stream.frames() if isinstance(f, Decoded)]
    assert frames[0].record["number_of_records"] == 2
    assert frames[1].measurements[0].context == {"meal": "preprandial"}
    assert frames[2].measurements[0].special == "+inf"
    with pytest.raises(ValueError):
        encode_dump_header(1000, "ABC123DEY")


# --------------------------------------------------------------------------- properties

_WHEN = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
_RECORDS = st.builds(
    DumpRecord,
    measured_at=_WHEN,
    value=st.none() | st.integers(0, 999),
    control_solution=st.booleans(),
    meal=st.sampled_from(["N", "B", "A"]),
    comment=st.sampled_from([f"{i:02d}" for i in range(12)]),
    parity_error=st.booleans(),
)


@settings(max_examples=150)
@given(_RECORDS, st.booleans())
def test_record_roundtrip(record: DumpRecord, with_meal: bool) -> None:
    decoded = decode(encode_record(record, with_meal=with_meal))
    (m,) = decoded.measurements
    assert m.measured_at == record.measured_at.replace(microsecond=0)
    assert decoded.record["control_solution"] is record.control_solution
    assert decoded.record["parity_error"] is record.parity_error
    if record.value is None:
        assert m.special == "+inf"
    else:
        assert m.value == record.value
    if with_meal:
        assert decoded.record["meal"] == record.meal
        assert decoded.record["comment_code"] == record.comment


@settings(max_examples=300)
@given(st.binary(max_size=120))
def test_random_bytes_only_raise_protocol_errors(data: bytes) -> None:
    checks.assert_only_protocol_errors(decode, data)
    stream = Ultra2Stream()
    stream.feed(data)
    for _ in stream.frames():
        pass


@settings(max_examples=200)
@given(st.text(alphabet='P "0123456789,:/ABCDEFGHINMSTUY?\r\n', max_size=80))
def test_near_miss_text_only_raises_protocol_errors(text: str) -> None:
    checks.assert_only_protocol_errors(decode, text.encode("ascii"))


# --------------------------------------------------------------------------- registry / CLI


def test_examples_decode() -> None:
    (spec,) = PROTOCOLS
    assert spec.id == PROTOCOL_ID
    assert [d.protocol for d in checks.decode_examples(spec)] == [PROTOCOL_ID] * len(spec.examples)


def test_cli_decode(capsys: pytest.CaptureFixture[str]) -> None:
    line = TIDEPOOL_DUMP.split(b"\r\n")[2] + b"\r\n"
    out = checks.cli_decode(capsys, PROTOCOL_ID, checks.escaped(line))
    assert out["protocol"] == PROTOCOL_ID
    assert out["measurements"][0]["value"] == 105.0
    assert out["measurements"][0]["context"] == {"meal": "preprandial"}
    assert checks.cli_error(capsys, PROTOCOL_ID, "% 1337\\r") == "ChecksumError"
