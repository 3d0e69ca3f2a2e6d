"""contour.astm: E1381 frames and checksums, E1394 records, the ENQ/ACK/NAK/EOT dialogue."""

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
from cart.protocols.contour_astm import (
    PROTOCOL_ID,
    PROTOCOLS,
    AstmStream,
    ContourReceiver,
    ContourSender,
    Delimiters,
    DuplicateFrame,
    Established,
    FrameRejected,
    ReceiverEvent,
    RecordReceived,
    SenderState,
    TransferComplete,
    decode,
    decode_record,
    encode_frame,
    encode_header,
    encode_message,
    encode_patient,
    encode_result,
    encode_terminator,
    parse_frame,
)
from tests.protocols import checks

# glucometers-tech/glucometerutils glucometerutils/drivers/tests/test_contourusb.py: one HID
# read from a Contour USB (model 7390): EOT, the header frame (FN 1, CR ETB, checksum D7), ENQ.
HID_READ = (
    b"\x04\x021H|\\^&||7w3LBL|Bayer7390^01.24\\01.04\\09.02.20^7390-2336773^7403-|A=1^C=63^G=1^"
    b"I=0200^R=0^S=1^U=0^V=10600^X=070070070070180130150250^Y=360126090050099050300089^Z=1|"
    b"1714||||||1|201909221304\r\x17D7\r\n\x05"
)
HEADER_FRAME = HID_READ[1:-1]
# Same test file, test_parse_result_record: a result record as the meter sends it.
RESULT_USB = "R|8|^^^Glucose|133|mg/dL^P||B/X||201202052034"
# GGC (andyrozman/ggc) AscensiaDecoder comment: a Contour USB result in mmol/L.
RESULT_MMOL = "R|5|^^^Glucose|7.9|mmol/L^P||B||201102241308"
# DERIVED from tidepool-org/uploader lib/drivers/bayer/bayerContour.js (classic serial
# layout: range, abnormal flags, user marks, status, two empty fields, date).
RESULT_CLASSIC_HI = "R|2|^^^Glucose|600|mg/dL^P|0|>|A||||200701011200"


# --------------------------------------------------------------------------- frames & records


def test_header_frame_vector() -> None:
    frame = parse_frame(HEADER_FRAME)
    assert (frame.number, frame.final, frame.ends_record) == (1, False, True)
    decoded = decode(HEADER_FRAME)
    record = decoded.record
    # field values from glucometerutils test_parse_header_record
    assert record["record_type"] == "header"
    assert record["delimiters"] == "|\\^&"
    assert record["product_code"] == "Bayer7390"
    assert record["versions"] == ["01.24", "01.04", "09.02.20"]
    assert record["serial_number"] == "7390-2336773"
    assert record["sku"] == "7403-"
    assert record["config"]["V"] == "10600"
    assert record["glucose_unit"] == "mg/dL"
    assert record["number_of_records"] == 1714
    assert record["version"] == "1"
    assert record["timestamp"] == "2019-09-22T13:04:00"
    assert decoded.measurements == ()
    # re-encoding the text with the frame encoder gives the captured bytes
    assert encode_frame(1, frame.text, final=False) == HEADER_FRAME


def test_result_record_usb_layout() -> None:
    decoded = decode_record(RESULT_USB)
    assert decoded.record["sequence_number"] == 8
    assert decoded.record["markers"] == ["B", "X"]
    assert decoded.record["reference_method"] == "plasma"
    (m,) = decoded.measurements
    assert (m.value, m.unit, m.sequence) == (133.0, "mg/dL", 8)
    assert m.measured_at == datetime(2012, 2, 5, 20, 34)
    assert dict(m.context) == {"meal": "preprandial"}
    assert m.flags == ()


def test_result_record_mmol_converted() -> None:
    (m,) = decode_record(RESULT_MMOL).measurements
    # 7.9 x 18.016 = 142.33: 0.1 mmol/L is 1.8 mg/dL, so whole mg/dL (converted_decimals)
    assert (m.value, m.decimals) == (142.0, 0)
    assert m.original is not None
    assert (m.original.value, m.original.unit) == (7.9, "mmol/L")
    assert m.sequence == 5


def test_result_record_classic_layout_high() -> None:
    decoded = decode_record(RESULT_CLASSIC_HI)
    assert decoded.record["layout"] == "classic"
    assert decoded.record["value"] == "600"
    (m,) = decoded.measurements
    assert (m.value, m.special, m.flags) == (None, "+inf", ("above_range",))
    assert dict(m.context) == {"meal": "postprandial"}


@pytest.mark.parametrize(
    ("markers", "special", "flags"),
    [
        (("<",), "-inf", ("below_range",)),
        ((">",), "+inf", ("above_range",)),
        (("C",), None, ("control_solution",)),
        (("A", "Z3"), None, ()),
        (("D", "M0", "T1"), None, ()),
    ],
)
def test_markers(markers: tuple[str, ...], special: str | None, flags: tuple[str, ...]) -> None:
    text = encode_result(3, 98, datetime(2024, 5, 10, 9, 22), markers=markers)
    (m,) = decode_record(text).measurements
    assert m.special == special
    assert m.value == (None if special else 98.0)
    assert m.flags == flags


def test_other_records() -> None:
    assert decode_record(encode_patient(1)).record == {
        "record_type": "patient",
        "sequence_number": 1,
    }
    assert decode_record(encode_terminator()).record == {
        "record_type": "terminator",
        "sequence_number": 1,
        "termination_code": "N",
    }
    other = decode_record("R|1|^^^Insulin|4|U||||201202052034")
    assert other.record["test_id"] == "Insulin"
    assert other.measurements == ()
    for control, name in ((b"\x05", "ENQ"), (b"\x06", "ACK"), (b"\x15", "NAK"), (b"\x04", "EOT")):
        assert decode(control).record == {"message": "control", "control": name}


def test_custom_delimiters() -> None:
    d = Delimiters("!", "~", "#", "%")
    (m,) = decode_record("R!4!###Glucose!101!mg/dL#P!!A!!202401020304", d).measurements
    assert (m.value, m.sequence, dict(m.context)) == (101.0, 4, {"meal": "postprandial"})


def test_encode_message_splits_and_terminates() -> None:
    long_record = "R|1|^^^Glucose|99|mg/dL^P||" + "/".join(["D"] * 150) + "||201202052034"
    frames = encode_message([encode_patient(), long_record, encode_terminator()], first_number=7)
    parsed = [parse_frame(f) for f in frames]
    assert [p.number for p in parsed] == [7, 0, 1, 2]
    assert [p.final for p in parsed] == [False, False, False, True]
    assert [p.ends_record for p in parsed] == [True, False, True, True]
    assert all(len(f) <= 247 for f in frames)
    partial = decode(frames[1])
    assert partial.record["message"] == "frame"
    assert partial.measurements == ()
    standard = encode_message(["P|1", "L|1|N"], etb_between_records=False)
    assert [parse_frame(f).final for f in standard] == [True, True]


# --------------------------------------------------------------------------- errors


def _frame_bytes(number: bytes, text: bytes, end: bytes = b"\x03") -> bytes:
    body = number + text + end
    return b"\x02" + body + f"{sum(body) % 256:02X}\r\n".encode()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (HEADER_FRAME.replace(b"D7\r\n", b"D8\r\n"), ChecksumError),
        (HEADER_FRAME.replace(b"Bayer7390", b"Bayer7391"), ChecksumError),
        (HEADER_FRAME[:100], IncompleteFrame),
        (b"\x02", IncompleteFrame),
        (HEADER_FRAME.replace(b"D7\r\n", b"Z7\r\n"), FrameError),
        (HEADER_FRAME.replace(b"\r\x17", b"\r\x16"), FrameError),
        (_frame_bytes(b"8", b"L|1|N\r"), FrameError),  # frame number 8
        (_frame_bytes(b"1", b"L|1\x01|N\r"), FrameError),  # control char in text
        (_frame_bytes(b"1", b"X" * 241 + b"\r"), FrameError),  # longer than 247
        (HEADER_FRAME[:-1], FrameError),
        (_frame_bytes(b"1", b"Q|1|ALL\r"), UnsupportedMessage),
        (_frame_bytes(b"1", b"R|1|^^^Glucose|99|mg/dL^P||||\r"), FrameError),  # no date
        (_frame_bytes(b"1", b"R|1|^^^Glucose|abc|mg/dL^P||||201202052034\r"), FrameError),
        (_frame_bytes(b"1", b"R|1|^^^Glucose|99|g/L^P||||201202052034\r"), UnsupportedMessage),
        (_frame_bytes(b"1", b"R|1|^^^Glucose|99|mg/dL^P||||201202302034\r"), FrameError),
        (_frame_bytes(b"1", b"R|x|^^^Glucose|99|mg/dL^P||||201202052034\r"), FrameError),
        (_frame_bytes(b"1", b"H|\\^^||\r"), FrameError),  # delimiters not distinct
        (_frame_bytes(b"1", b"Rx\r"), FrameError),
        (b"\r\n", IncompleteFrame),
    ],
)
def test_error_frames(frame: bytes, error: type[ProtocolError]) -> None:
    checks.assert_raises_exactly(decode, frame, error, protocol=PROTOCOL_ID)


def test_checksum_error_values() -> None:
    with pytest.raises(ChecksumError) as info:
        decode(HEADER_FRAME.replace(b"D7\r\n", b"D8\r\n"))
    assert (info.value.wire, info.value.calculated) == (0xD8, 0xD7)


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("how", checks.SPLITS)
def test_stream_hid_read(how: str) -> None:
    tokens = checks.feed_all(
        AstmStream(),
        checks.split_delivery(checks.GARBAGE_HEAD + HID_READ + checks.GARBAGE_TAIL, how),
    )
    assert [t.record.get("control") or t.record["record_type"] for t in tokens] == [
        "EOT",
        "header",
        "ENQ",
    ]
    assert tokens[1].raw == HEADER_FRAME


@pytest.mark.parametrize("how", checks.SPLITS)
def test_stream_message(how: str) -> None:
    frames = encode_message([encode_patient(), RESULT_USB, RESULT_MMOL, encode_terminator()])
    wire = checks.GARBAGE_HEAD + b"\x05" + b"".join(frames) + b"\x04" + checks.GARBAGE_TAIL
    tokens = checks.feed_all(AstmStream(), checks.split_delivery(wire, how))
    values = [m.value for t in tokens for m in t.measurements]
    assert values == [133.0, 142.0]
    assert tokens[0].record["control"] == "ENQ"
    assert tokens[-1].record["control"] == "EOT"


def test_stream_truncated_frame_then_resync() -> None:
    stream = AstmStream()
    checks.assert_feed_raises(stream, HEADER_FRAME[:60] + b"\x04" + HEADER_FRAME, IncompleteFrame)
    eot = stream.next_frame()
    assert isinstance(eot, Decoded)
    assert eot.record["control"] == "EOT"
    header = stream.next_frame()
    assert isinstance(header, Decoded)
    assert header.record["record_type"] == "header"


def test_stream_buffer_bounded() -> None:
    stream = AstmStream()
    checks.assert_feed_raises(stream, b"\x02" + b"A" * 300, BufferOverflow)
    stream.feed(b"\x05")
    assert isinstance(stream.next_frame(), Decoded)


# --------------------------------------------------------------------------- dialogue


def _run(
    sender: ContourSender,
    receiver: ContourReceiver,
    *,
    corrupt: set[int] | None = None,
    drop_ack: set[int] | None = None,
    chunk: int = 0,
) -> list[ReceiverEvent]:
    """Drive both ends; ``corrupt``/``drop_ack`` name meter transmissions by index.

    ``corrupt`` flips a bit of a frame (receiver NAKs); ``drop_ack`` garbles the receiver's
    ACK, which the sender treats as NAK (E1381), so the receiver sees a duplicate frame.
    """
    events: list[ReceiverEvent] = []
    wire = sender.start()
    for sent in range(5000):
        if corrupt and sent in corrupt and len(wire) > 5:
            wire = wire[:5] + bytes((wire[5] ^ 0x01,)) + wire[6:]
        pieces = [wire[i : i + chunk] for i in range(0, len(wire), chunk)] if chunk else [wire]
        for piece in pieces:
            receiver.feed(piece)
            events += checks.pull_all(receiver.next_event)
        reply = receiver.data_to_send()
        if sender.done:
            break
        if drop_ack and sent in drop_ack:
            reply = b"\x00"  # the ACK arrives garbled: the meter resends the frame
        wire = sender.receive(reply)
    return events


def _records(events: list[ReceiverEvent]) -> list[Decoded]:
    return [e.decoded for e in events if isinstance(e, RecordReceived) and e.decoded]


MESSAGE = [
    encode_header(total=3, when=datetime(2024, 5, 10, 9, 22)),
    encode_patient(),
    RESULT_USB,
    RESULT_MMOL,
    "R|9|^^^Glucose|" + "7" * 2 + "|mg/dL^P||" + "/".join(["X"] * 120) + "||202405100900",
    encode_terminator(),
]


@pytest.mark.parametrize("chunk", [0, 1, 7])
def test_dialogue_clean(chunk: int) -> None:
    sender, receiver = ContourSender.for_records(MESSAGE), ContourReceiver()
    events = _run(sender, receiver, chunk=chunk)
    assert isinstance(events[0], Established)
    assert isinstance(events[-1], TransferComplete)
    kinds = [d.record["record_type"] for d in _records(events)]
    assert kinds == ["header", "patient", "result", "result", "result", "terminator"]
    assert [m.value for d in _records(events) for m in d.measurements] == [133.0, 142.0, 77.0]
    assert receiver.header is not None
    assert receiver.header.record["number_of_records"] == 3
    assert sender.state is SenderState.DONE
    assert not sender.aborted


def test_dialogue_nak_and_retransmission() -> None:
    sender, receiver = ContourSender.for_records(MESSAGE), ContourReceiver()
    events = _run(sender, receiver, corrupt={2, 4})
    rejected = [e for e in events if isinstance(e, FrameRejected)]
    assert len(rejected) == 2
    assert all(isinstance(e.error, ChecksumError) for e in rejected)
    assert len(_records(events)) == len(MESSAGE)
    assert not sender.aborted


def test_dialogue_lost_ack_gives_duplicate() -> None:
    sender, receiver = ContourSender.for_records(MESSAGE), ContourReceiver()
    events = _run(sender, receiver, drop_ack={3})
    assert any(isinstance(e, DuplicateFrame) for e in events)
    assert len(_records(events)) == len(MESSAGE)


def test_sender_gives_up_after_six_naks() -> None:
    sender = ContourSender.for_records(["P|1", "L|1|N"])
    assert sender.start() == b"\x05"
    first = sender.receive(b"\x06")
    for _ in range(6):
        assert sender.receive(b"\x15") == first
    assert sender.receive(b"\x15") == b"\x04"
    assert sender.done
    assert sender.aborted


def test_sender_busy_interrupt_and_timeout() -> None:
    sender = ContourSender.for_records(["P|1", "L|1|N"])
    sender.start()
    assert sender.receive(b"\x15") == b""  # receiver busy: back to idle
    assert sender.state is SenderState.IDLE
    sender.start()
    sender.receive(b"\x06")
    assert sender.receive(b"\x04") == b"\x04"  # receiver interrupt: stop with EOT
    assert sender.aborted
    late = ContourSender.for_records(["L|1|N"])
    late.start()
    assert late.timeout() == b"\x04"
    assert late.timeout() == b""
    with pytest.raises(RuntimeError):
        late.start()


def test_receiver_rejects_wrong_frame_number() -> None:
    receiver = ContourReceiver()
    receiver.feed(b"\x05" + encode_frame(2, "P|1\r", final=False))
    assert isinstance(receiver.next_event(), Established)
    event = receiver.next_event()
    assert isinstance(event, FrameRejected)
    assert isinstance(event.error, FrameError)
    assert receiver.data_to_send() == b"\x06\x15"


def test_receiver_reports_undecodable_record_but_acks() -> None:
    receiver = ContourReceiver()
    receiver.feed(b"\x05" + encode_frame(1, "Q|1|ALL\r"))
    receiver.next_event()
    event = receiver.next_event()
    assert isinstance(event, RecordReceived)
    assert isinstance(event.error, UnsupportedMessage)
    assert receiver.data_to_send() == b"\x06\x06"


def test_receiver_accepts_contour_usb_read() -> None:
    # The HID capture starts with EOT and the header frame before any ENQ.
    receiver = ContourReceiver()
    receiver.feed(HID_READ)
    events = checks.pull_all(receiver.next_event)
    assert isinstance(events[0], TransferComplete)
    assert isinstance(events[1], RecordReceived)
    assert events[1].decoded is not None
    assert isinstance(events[2], Established)


# --------------------------------------------------------------------------- properties

_RESULTS = st.builds(
    encode_result,
    st.integers(1, 9999),
    st.integers(10, 600),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    markers=st.lists(st.sampled_from(["A", "B", "C", "D", "X", "M0", "T1", "Z2"]), max_size=4),
    classic=st.booleans(),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_RESULTS, max_size=6), st.integers(16, 240), st.integers(0, 9))
def test_roundtrip_through_the_dialogue(results: list[str], max_text: int, chunk: int) -> None:
    records = [encode_header(), encode_patient(), *results, encode_terminator()]
    sender = ContourSender(encode_message(records, max_text=max_text))
    events = _run(sender, ContourReceiver(), chunk=chunk)
    decoded = _records(events)
    assert [d.raw.decode() for d in decoded] == records
    assert len([m for d in decoded for m in d.measurements]) == len(results)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_protocol_errors(data: bytes) -> None:
    checks.assert_only_protocol_errors(decode, data, b"\x02" + data)
    checks.feed_all(AstmStream(), [data], skip_errors=True, limit=len(data) + 1)
    receiver = ContourReceiver()  # never raises: bad input becomes FrameRejected events
    receiver.feed(b"\x05" + data)
    checks.pull_all(receiver.next_event, limit=len(data) + 2)


@settings(max_examples=200)
@given(st.text(alphabet="RHPLO|^\\&0123456789./<>ABCDmgdLol^", max_size=60))
def test_valid_frames_with_random_text_only_raise_protocol_errors(text: str) -> None:
    checks.assert_only_protocol_errors(decode, encode_frame(1, text + "\r"))


# --------------------------------------------------------------------------- registry / CLI


def test_examples_decode() -> None:
    (spec,) = PROTOCOLS
    assert [d.protocol for d in checks.decode_examples(spec)] == [PROTOCOL_ID] * len(spec.examples)


def test_cli_decode(capsys: pytest.CaptureFixture[str]) -> None:
    frame = encode_frame(2, RESULT_USB + "\r", final=False)
    out = checks.cli_decode(capsys, PROTOCOL_ID, checks.escaped(frame))
    assert out["record"]["frame_number"] == 2
    assert out["measurements"][0]["value"] == 133.0
    assert out["measurements"][0]["sequence"] == 8
    mmol = checks.cli_decode(capsys, PROTOCOL_ID, RESULT_MMOL)
    assert mmol["measurements"][0]["original"]["unit"] == "mmol/L"
    bad = checks.escaped(HEADER_FRAME.replace(b"D7", b"D8"))
    assert checks.cli_error(capsys, PROTOCOL_ID, bad) == "ChecksumError"
