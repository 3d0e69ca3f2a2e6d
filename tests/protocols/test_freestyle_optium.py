"""freestyle.optium: $xmem dump with its END checksum, $colq, commands, stream assembly."""

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
from cart.protocols import Decoded
from cart.protocols.freestyle_optium import (
    PROTOCOL_ID,
    PROTOCOLS,
    OptiumReading,
    OptiumStream,
    checksum,
    decode,
    encode_clock_line,
    encode_cmd_ok,
    encode_colq,
    encode_command,
    encode_reading,
    encode_set_clock,
    encode_xmem,
)
from tests.protocols import checks

# DERIVED from the grammar in glucometer-protocols abbott/freestyle-optium.md (no public
# capture of a full $xmem reply exists): values invented, layout and checksum rule per spec.
XMEM = (
    b"\r\n"
    b"AAAA123-B4567\r\n"
    b"0.22\r\n"
    b"Apr  22 2014 02:14:37\r\n"
    b"003\r\n"
    b"105  Apr  22 2014 02:10 G 0x00\r\n"
    b"HI   July 10 2013 14:26 G 0x00\r\n"
    b"003  June 01 2013 07:05 K 0x00\r\n"
)
XMEM += f"0x{sum(XMEM) & 0xFFFF:04X}  END\r\n".encode()

COLQ = (
    b"S/N:\tAAAA123-B4567\r\n"
    b"Ver:\t0.22\tMMOL\r\n"
    b"Clock:\tApr  22 2014\t02:14:37\r\n"
    b"Market:\t1\t2\r\n"
    b"ROM:\t0\t1\t2\t3\r\n"
    b"Usage:\t3\r\n"
    b"CMD OK\r\n"
)


# --------------------------------------------------------------------------- vectors


@pytest.mark.parametrize(
    ("line", "when"),
    [
        # glucometers-tech/glucometerutils drivers/tests/test_fsoptium.py test_parse_clock
        (b"Clock:\tApr  22 2014\t02:14:37", datetime(2014, 4, 22, 2, 14, 37)),
        (b"Clock:\tJul  10 2013\t14:26:44", datetime(2013, 7, 10, 14, 26, 44)),
        (b"Clock:\tSep  29 2013\t17:35:34", datetime(2013, 9, 29, 17, 35, 34)),
    ],
)
def test_clock_vectors(line: bytes, when: datetime) -> None:
    assert decode(line + b"\r\n").record == {"message": "clock", "timestamp": when.isoformat()}
    assert encode_clock_line(when) == line + b"\r\n"


@pytest.mark.parametrize(
    "line",
    [
        # glucometerutils test_fsoptium.py test_parse_clock_invalid
        b"Apr 22 2014 02:14:37",
        b"Clock:\tXxx  10 2013\t14:26",
        b"Clock:\tSep  29 2013\t17:35:22.34",
        b"Foo",
    ],
)
def test_clock_invalid_vectors(line: bytes) -> None:
    with pytest.raises(UnsupportedMessage):
        decode(line)


def test_xmem_dump() -> None:
    decoded = decode(XMEM)
    record = decoded.record
    assert record["serial_number"] == "AAAA123-B4567"
    assert record["software_version"] == "0.22"
    assert record["clock"] == "2014-04-22T02:14:37"
    assert record["number_of_records"] == 3
    assert [r["type"] for r in record["readings"]] == ["glucose", "glucose", "ketone"]
    normal, high = decoded.measurements  # the ketone result has no measurement kind
    assert (normal.value, normal.unit, normal.measured_at) == (
        105.0,
        "mg/dL",
        datetime(2014, 4, 22, 2, 10),
    )
    assert (high.value, high.special, high.flags) == (None, "+inf", ("above_range",))
    assert high.measured_at == datetime(2013, 7, 10, 14, 26)


def test_xmem_encoder_matches_derived_vector() -> None:
    readings = [
        OptiumReading(datetime(2014, 4, 22, 2, 10), 105),
        OptiumReading(datetime(2013, 7, 10, 14, 26), None),
        OptiumReading(datetime(2013, 6, 1, 7, 5), 3, kind="K"),
    ]
    assert encode_xmem("AAAA123-B4567", "0.22", datetime(2014, 4, 22, 2, 14, 37), readings) == XMEM
    assert checksum(XMEM[: XMEM.rindex(b"0x")]) == int(XMEM[-11:-7], 16)


def test_colq() -> None:
    record = decode(COLQ).record
    assert record == {
        "message": "device_info",
        "serial_number": "AAAA123-B4567",
        "software_version": "0.22",
        "glucose_unit_label": "MMOL",
        "glucose_unit": "mmol/L",
        "clock": "2014-04-22T02:14:37",
        "market": ["1", "2"],
        "rom": ["0", "1", "2", "3"],
        "usage_count": 3,
    }
    assert (
        encode_colq(
            "AAAA123-B4567",
            "0.22",
            datetime(2014, 4, 22, 2, 14, 37),
            3,
            market=(1, 2),
            rom=(0, 1, 2, 3),
        )
        == COLQ
    )


def test_commands_and_single_lines() -> None:
    assert encode_command("xmem") == b"$xmem\r\n"
    assert decode(b"$colq\r\n").record == {"message": "command", "command": "colq"}
    tim = encode_set_clock(datetime(2024, 5, 10, 9, 22))
    assert tim == b"$tim,05,10,24,09,22\r\n"
    assert decode(tim).record["timestamp"] == "2024-05-10T09:22:00"
    assert decode(encode_cmd_ok()).record == {"message": "command_ok"}
    line = decode(encode_reading(OptiumReading(datetime(2014, 6, 3, 8, 0), 87)))
    assert line.record["message"] == "reading"
    assert line.measurements[0].value == 87


# --------------------------------------------------------------------------- errors


def _replace(old: bytes, new: bytes) -> bytes:
    body = XMEM[: XMEM.rindex(b"0x")].replace(old, new)
    return body + f"0x{sum(body) & 0xFFFF:04X}  END\r\n".encode()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (XMEM.replace(b"105 ", b"106 "), ChecksumError),
        (XMEM[:-30], IncompleteFrame),  # cut inside the last result: no END line
        (XMEM[: XMEM.rindex(b"0x")], IncompleteFrame),
        (_replace(b"003\r\n1", b"002\r\n1"), FrameError),  # count disagrees with lines
        (_replace(b"Apr  22 2014 02:10", b"Apr  31 2014 02:10"), FrameError),  # 31 April
        (_replace(b"G 0x00\r\nHI", b"X 0x00\r\nHI"), FrameError),
        (_replace(b"Apr  22 2014 02:14:37", b"Qqq  22 2014 02:14:37"), FrameError),
        (COLQ[: -len(b"CMD OK\r\n")], IncompleteFrame),
        (COLQ.replace(b"Usage:\t3", b"Usage:\tx"), FrameError),
        (b"", IncompleteFrame),
        (b"$tim,1,2\r\n", FrameError),
        (b"$xmem,1\r\n", UnsupportedMessage),
        (b"$XMEM\r\n", FrameError),
        (b"Temperature = 23.10 *C / 73.58 *F\r\nCMD OK\r\n", UnsupportedMessage),
        (b"\xff\xfe", FrameError),
        (b"105  Apr  31 2014 02:10 G 0x00", FrameError),
    ],
)
def test_error_frames(frame: bytes, error: type[ProtocolError]) -> None:
    checks.assert_raises_exactly(decode, frame, error, protocol=PROTOCOL_ID)


def test_checksum_error_values() -> None:
    with pytest.raises(ChecksumError) as info:
        decode(XMEM.replace(b"105 ", b"106 "))
    assert info.value.calculated == info.value.wire + 1


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("how", checks.SPLITS)
def test_stream(how: str) -> None:
    wire = checks.GARBAGE_HEAD + b"$xmem\r\n" + XMEM + COLQ + b"CMD OK\r\n" + checks.GARBAGE_TAIL
    frames = checks.feed_all(OptiumStream(), checks.split_delivery(wire, how))
    assert [f.record["message"] for f in frames] == [
        "command",
        "memory_dump",
        "device_info",
        "command_ok",
    ]
    assert frames[1].raw == XMEM
    assert len(frames[1].measurements) == 2


def test_stream_garbage_before_dump() -> None:
    # Noise in front of the dump's empty first line is dropped; the checksum still holds.
    frames = checks.feed_all(OptiumStream(), [checks.GARBAGE_HEAD + XMEM])
    assert [f.record["message"] for f in frames] == ["memory_dump"]


def test_stream_stray_empty_line_is_not_a_dump() -> None:
    frames = checks.feed_all(
        OptiumStream(), checks.split_delivery(b"\r\n\r\nCMD OK\r\n", "bytewise")
    )
    assert [f.record["message"] for f in frames] == ["command_ok"]


def test_stream_bad_dump_then_resync() -> None:
    stream = OptiumStream()
    checks.assert_feed_raises(stream, XMEM.replace(b"105 ", b"106 ") + COLQ, ChecksumError)
    frame = stream.next_frame()
    assert isinstance(frame, Decoded)
    assert frame.record["message"] == "device_info"


def test_stream_bounds() -> None:
    stream = OptiumStream(max_line=64, max_lines=10)
    checks.assert_feed_raises(stream, b"x" * 100, BufferOverflow)
    too_many_lines = b"\r\nAAAA123-B4567\r\n" + b"105  Apr  22 2014 02:10 G 0x00\r\n" * 12
    checks.assert_feed_raises(stream, too_many_lines, BufferOverflow)
    stream.feed(b"CMD OK\r\n")
    frame = stream.next_frame()
    assert isinstance(frame, Decoded)


# --------------------------------------------------------------------------- properties

_READINGS = st.builds(
    OptiumReading,
    measured_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    value=st.none() | st.integers(0, 999),
    kind=st.sampled_from(["G", "K"]),
)


@settings(max_examples=100)
@given(st.lists(_READINGS, max_size=20))
def test_xmem_roundtrip(readings: list[OptiumReading]) -> None:
    clock = datetime(2024, 5, 10, 9, 22, 0)
    decoded = decode(encode_xmem("AAAA123-B4567", "0.22", clock, readings))
    glucose = [r for r in readings if r.kind == "G"]
    assert len(decoded.measurements) == len(glucose)
    for reading, m in zip(glucose, decoded.measurements, strict=True):
        assert m.measured_at == reading.measured_at.replace(second=0, microsecond=0)
        if reading.value is None:
            assert m.special == "+inf"
        else:
            assert m.value == reading.value


@settings(max_examples=300)
@given(st.binary(max_size=120))
def test_random_bytes_only_raise_protocol_errors(data: bytes) -> None:
    checks.assert_only_protocol_errors(decode, data)
    checks.feed_all(OptiumStream(), [data + b"\r\n"], skip_errors=True, limit=len(data) + 2)


@settings(max_examples=200)
@given(
    st.text(
        alphabet="\r\n\t 0123456789ABCDEFGHIKLMNOPSTUVXabcdefgijlmnoprstuvxy:/$.,-", max_size=120
    )
)
def test_near_miss_text_only_raises_protocol_errors(text: str) -> None:
    raw = text.encode("ascii")
    checks.assert_only_protocol_errors(decode, raw, b"\r\n" + raw + b"\r\n0x0000  END\r\n")


# --------------------------------------------------------------------------- registry / CLI


def test_examples_decode() -> None:
    (spec,) = PROTOCOLS
    assert [d.protocol for d in checks.decode_examples(spec)] == [PROTOCOL_ID] * len(spec.examples)


def test_cli_decode(capsys: pytest.CaptureFixture[str]) -> None:
    out = checks.cli_decode(capsys, PROTOCOL_ID, checks.escaped(XMEM))
    assert out["record"]["number_of_records"] == 3
    assert [m["special"] for m in out["measurements"]] == [None, "+inf"]
    bad = checks.escaped(XMEM.replace(b"105 ", b"106 "))
    assert checks.cli_error(capsys, PROTOCOL_ID, bad) == "ChecksumError"
