"""onetouch.ultraeasy: binary packets, CRC-CCITT, link-control bits and the link layer."""

from __future__ import annotations

from datetime import datetime
from functools import partial

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
from cart.protocols._checksums import crc_ccitt
from cart.protocols.onetouch_ultraeasy import (
    PROTOCOL_ID,
    PROTOCOLS,
    AckReceived,
    DisconnectAcknowledged,
    DisconnectReceived,
    DuplicateReceived,
    LinkControl,
    MessageReceived,
    RequestKind,
    UltraEasyLink,
    UltraEasyStream,
    classify_request,
    decode,
    encode_packet,
    parse_packet,
    request_erase,
    request_glucose_unit,
    request_read_clock,
    request_record,
    request_record_count,
    request_serial_number,
    request_set_clock,
    request_version,
    response_clock,
    response_error,
    response_glucose_unit,
    response_reading,
    response_record_count,
    response_serial_number,
    response_success,
    response_version,
)
from tests.protocols import checks

# glucometers-tech/glucometerutils glucometerutils/drivers/tests/test_otultraeasy.py:
# _make_packet(b"", False, False, False, True) -> the disconnect (link reset) packet
DISCONNECT = bytes.fromhex("02060803c262")
# _make_packet(b"\x05\x0d\x02", True, True, False, False) -> version request, S=1 E=1
VERSION_REQUEST_S1_E1 = bytes.fromhex("020903050d0203089f")
# glucometerutils support/tests/test_lifescan.py: crc_ccitt(02 06 06 03) == 0x41CD, i.e. the
# ACK packet with E=1 (link byte 0x06) is 02 06 06 03 cd 41.
ACK_E1 = bytes.fromhex("02060603cd41")


# --------------------------------------------------------------------------- vectors


def test_packet_vectors() -> None:
    assert encode_packet(b"", LinkControl(disconnect=True)) == DISCONNECT
    assert (
        encode_packet(request_version(), LinkControl(sequence_number=True, expect_receive=True))
        == VERSION_REQUEST_S1_E1
    )
    assert encode_packet(b"", LinkControl(acknowledge=True, expect_receive=True)) == ACK_E1


def test_decode_vectors() -> None:
    assert decode(DISCONNECT).record["message_type"] == "disconnect"
    version = decode(VERSION_REQUEST_S1_E1).record
    assert version["request"] == "version"
    assert version["link_control"] == {
        "more": False,
        "disconnect": False,
        "acknowledge": False,
        "expect_receive": True,
        "sequence_number": True,
    }
    assert decode(ACK_E1).record["message_type"] == "ack"


def test_requests_classify() -> None:
    when = datetime(2024, 5, 10, 9, 22, 0)
    assert classify_request(request_version()) is RequestKind.VERSION
    assert classify_request(request_serial_number()) is RequestKind.SERIAL_NUMBER
    assert classify_request(request_read_clock()) is RequestKind.READ_CLOCK
    assert classify_request(request_set_clock(when)) is RequestKind.SET_CLOCK
    assert classify_request(request_glucose_unit()) is RequestKind.GLUCOSE_UNIT
    assert classify_request(request_erase()) is RequestKind.ERASE
    assert classify_request(request_record_count()) is RequestKind.RECORD_COUNT
    assert classify_request(request_record(7)) is RequestKind.READ_RECORD
    # glucometerutils otultraeasy.py: record count = read record 501 (05 1f f5 01)
    assert request_record_count() == bytes.fromhex("051ff501")
    decoded = decode(encode_packet(request_set_clock(when))).record
    assert decoded["timestamp"] == "2024-05-10T09:22:00"
    assert decode(encode_packet(request_record(7))).record["record_index"] == 7


def test_responses_with_request_context() -> None:
    when = datetime(2015, 3, 21, 16, 45, 24)

    def answer(message: bytes, request: RequestKind) -> dict[str, object]:
        return dict(decode(encode_packet(message), request=request).record)

    assert answer(response_version("P02.00.00"), RequestKind.VERSION)["software_version"] == (
        "P02.00.00"
    )
    assert answer(response_serial_number("C3HGH7RKP"), RequestKind.SERIAL_NUMBER)[
        "serial_number"
    ] == ("C3HGH7RKP")
    assert answer(response_clock(when), RequestKind.READ_CLOCK)["timestamp"] == when.isoformat()
    assert answer(response_glucose_unit("mmol/L"), RequestKind.GLUCOSE_UNIT)["glucose_unit"] == (
        "mmol/L"
    )
    assert answer(response_success(), RequestKind.ERASE)["response"] == "erase"
    assert answer(response_record_count(42), RequestKind.RECORD_COUNT)["count"] == 42
    assert answer(response_error(), RequestKind.VERSION) == {
        "link_control": LinkControl().to_json(),
        "message": "0509",
        "message_type": "response",
        "response": "error",
        "status": 9,
    }


def test_reading_response() -> None:
    when = datetime(2015, 3, 21, 16, 45, 24)
    decoded = decode(encode_packet(response_reading(when, 105)))
    assert decoded.record["response"] == "reading"
    (m,) = decoded.measurements
    assert (m.value, m.unit, m.measured_at) == (105.0, "mg/dL", when)


@pytest.mark.parametrize(
    ("value", "special", "flag"),
    [
        # tidepool-org/uploader oneTouchUltraMini.js: values > 600 are HI (0xFFFF seen), < 20 LO
        (0xFFFF, "+inf", "above_range"),
        (601, "+inf", "above_range"),
        (19, "-inf", "below_range"),
    ],
)
def test_reading_out_of_range(value: int, special: str, flag: str) -> None:
    decoded = decode(encode_packet(response_reading(datetime(2020, 1, 1), value)))
    (m,) = decoded.measurements
    assert m.value is None
    assert m.special == special
    assert m.flags == (flag,)
    assert decoded.record["value"] == value


def test_limits_are_readings() -> None:
    for value in (20, 600):
        (m,) = decode(encode_packet(response_reading(datetime(2020, 1, 1), value))).measurements
        assert m.value == value


# --------------------------------------------------------------------------- errors


def _with_crc(body: bytes) -> bytes:
    return body + crc_ccitt(body).to_bytes(2, "little")


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"", IncompleteFrame),
        (b"\x02", IncompleteFrame),
        (DISCONNECT[:-1], IncompleteFrame),
        (VERSION_REQUEST_S1_E1[:5], IncompleteFrame),
        (b"\x03" + DISCONNECT[1:], FrameError),
        (DISCONNECT + b"\x00", FrameError),
        (_with_crc(b"\x02\x05\x00\x03"), FrameError),  # length byte < 6
        (_with_crc(b"\x02\x06\x00\x04"), FrameError),  # no ETX
        (_with_crc(b"\x02\x06\x20\x03"), FrameError),  # padding bit set
        (DISCONNECT[:-2] + b"\x00\x00", ChecksumError),
        (VERSION_REQUEST_S1_E1[:-1] + b"\x00", ChecksumError),
        (encode_packet(b""), UnsupportedMessage),  # empty, neither ACK nor disconnect
        (encode_packet(b"\x07\x0d\x02"), UnsupportedMessage),  # wrong command prefix
        (encode_packet(b"\x05\x0d\x02\x00"), FrameError),  # version request too long
        (encode_packet(b"\x05\x20\x07\x00\x00\x00\x00"), FrameError),  # clock type 7
        (encode_packet(b"\x05\x0f\x01"), FrameError),  # count reply too short
        (encode_packet(b"\x05"), IncompleteFrame),  # response without status
    ],
)
def test_error_frames(frame: bytes, error: type[ProtocolError]) -> None:
    checks.assert_raises_exactly(decode, frame, error, protocol=PROTOCOL_ID)


def test_context_errors() -> None:
    with pytest.raises(FrameError):
        decode(encode_packet(response_success() + b"\x01"), request=RequestKind.READ_CLOCK)
    with pytest.raises(FrameError):
        decode(encode_packet(response_success() + b"\x07\0\0\0"), request="glucose_unit")
    with pytest.raises(FrameError):
        decode(encode_packet(response_success() + b"\x09abc"), request=RequestKind.VERSION)


def test_checksum_error_values() -> None:
    with pytest.raises(ChecksumError) as info:
        decode(DISCONNECT[:-2] + b"\x34\x12")
    assert (info.value.wire, info.value.calculated) == (0x1234, 0x62C2)


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("how", checks.SPLITS)
def test_stream(how: str) -> None:
    reading = encode_packet(response_reading(datetime(2015, 3, 21, 16, 45, 24), 105))
    wire = (
        checks.GARBAGE_HEAD
        + DISCONNECT
        + VERSION_REQUEST_S1_E1
        + ACK_E1
        + reading
        + checks.GARBAGE_TAIL
    )
    frames = checks.feed_all(UltraEasyStream(), checks.split_delivery(wire, how))
    assert [f.raw for f in frames] == [DISCONNECT, VERSION_REQUEST_S1_E1, ACK_E1, reading]
    assert frames[3].measurements[0].value == 105


def test_stream_skips_noise_stx() -> None:
    # An STX in the noise announcing 255 bytes must not hide the real packet behind it.
    stream = UltraEasyStream()
    stream.feed(b"\x02\xff\x00" + DISCONNECT)
    frame = stream.next_frame()
    assert isinstance(frame, Decoded)
    assert frame.raw == DISCONNECT


def test_stream_bad_crc_then_resync() -> None:
    stream = UltraEasyStream()
    checks.assert_feed_raises(stream, DISCONNECT[:-1] + b"\x00" + ACK_E1, ChecksumError)
    frame = stream.next_frame()
    assert isinstance(frame, Decoded)
    assert frame.raw == ACK_E1
    assert isinstance(stream.next_frame(), NeedData)
    assert stream.buffered == 0


# --------------------------------------------------------------------------- link layer


def _exchange(host: UltraEasyLink, meter: UltraEasyLink, request: bytes, reply: bytes) -> bytes:
    packet = host.send(request)
    event = meter.receive(packet)
    assert isinstance(event, MessageReceived)
    assert event.message == request
    assert isinstance(host.receive(event.reply), AckReceived)
    response = meter.send(reply)
    got = host.receive(response)
    assert isinstance(got, MessageReceived)
    assert isinstance(meter.receive(got.reply), AckReceived)
    return got.message


def test_link_dialogue_matches_reference_packets() -> None:
    host, meter = UltraEasyLink(), UltraEasyLink()
    assert host.disconnect() == DISCONNECT
    event = meter.receive(DISCONNECT)
    assert isinstance(event, DisconnectReceived)
    assert isinstance(host.receive(event.reply), DisconnectAcknowledged)
    # First exchange: the meter's ACK is the glucometerutils CRC vector packet (E=1).
    packet = host.send(request_version())
    ack = meter.receive(packet)
    assert isinstance(ack, MessageReceived)
    assert ack.reply == ACK_E1
    assert isinstance(host.receive(ack.reply), AckReceived)
    response = host.receive(meter.send(response_version("P02.00.00 30/08/06")))
    assert isinstance(response, MessageReceived)
    assert isinstance(meter.receive(response.reply), AckReceived)
    # Second request: both bits have flipped -> the glucometerutils version-request vector.
    assert host.send(request_version()) == VERSION_REQUEST_S1_E1


def test_link_full_download() -> None:
    host, meter = UltraEasyLink(), UltraEasyLink()
    ev = meter.receive(host.disconnect())
    assert isinstance(ev, DisconnectReceived)
    host.receive(ev.reply)
    count = _exchange(host, meter, request_record_count(), response_record_count(3))
    assert count == response_record_count(3)
    for i in range(3):
        when = datetime(2024, 5, 10, 9, i)
        message = _exchange(host, meter, request_record(i), response_reading(when, 90 + i))
        packet = encode_packet(message)
        decoded = decode(packet, request=RequestKind.READ_RECORD)
        assert decoded.measurements[0].value == 90 + i


def test_link_duplicate_and_resend() -> None:
    host, meter = UltraEasyLink(), UltraEasyLink()
    packet = host.send(request_erase())
    first = meter.receive(packet)
    assert isinstance(first, MessageReceived)
    # The ACK is lost: the host resends the same packet; the meter re-ACKs, no new message.
    again = meter.receive(host.resend())
    assert isinstance(again, DuplicateReceived)
    assert again.reply == first.reply
    assert isinstance(host.receive(again.reply), AckReceived)
    with pytest.raises(UnsupportedMessage):
        host.receive(again.reply)  # nothing outstanding any more
    meter.send(b"\x05\x06")
    with pytest.raises(RuntimeError):
        meter.send(b"\x05\x06")


def test_link_feed_and_events() -> None:
    host, meter = UltraEasyLink(), UltraEasyLink()
    meter.feed(checks.GARBAGE_HEAD + host.send(request_version())[:4])
    assert isinstance(meter.next_event(), NeedData)
    meter.feed(host.resend()[4:])
    event = meter.next_event()
    assert isinstance(event, MessageReceived)
    assert event.message == request_version()


# --------------------------------------------------------------------------- properties

_LINKS = st.builds(
    LinkControl,
    sequence_number=st.booleans(),
    expect_receive=st.booleans(),
    acknowledge=st.booleans(),
    disconnect=st.booleans(),
    more=st.booleans(),
)


@settings(max_examples=200)
@given(st.binary(max_size=249), _LINKS)
def test_packet_roundtrip(message: bytes, link: LinkControl) -> None:
    packet = parse_packet(encode_packet(message, link))
    assert packet.message == message
    assert packet.link == link


@settings(max_examples=150)
@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2106, 2, 7)),
    st.integers(20, 600),
)
def test_reading_roundtrip(when: datetime, value: int) -> None:
    when = when.replace(microsecond=0)
    (m,) = decode(encode_packet(response_reading(when, value))).measurements
    assert (m.value, m.measured_at) == (value, when)


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_random_bytes_only_raise_protocol_errors(data: bytes) -> None:
    checks.assert_only_protocol_errors(
        [decode, *(partial(decode, request=r) for r in RequestKind)], data
    )
    checks.feed_all(UltraEasyStream(), [data], skip_errors=True, limit=len(data) + 1)
    link = UltraEasyLink()
    link.feed(data)
    checks.pull_all(link.next_event, skip_errors=True, limit=len(data) + 1)


@settings(max_examples=200)
@given(st.binary(max_size=20), _LINKS, st.sampled_from([None, *RequestKind]))
def test_valid_crc_random_message_only_raises_protocol_errors(
    message: bytes, link: LinkControl, request: RequestKind | None
) -> None:
    checks.assert_only_protocol_errors(
        partial(decode, request=request), encode_packet(b"\x05" + message, link)
    )


# --------------------------------------------------------------------------- registry / CLI


def test_examples_decode() -> None:
    (spec,) = PROTOCOLS
    assert [d.protocol for d in checks.decode_examples(spec)] == [PROTOCOL_ID] * len(spec.examples)


def test_cli_decode(capsys: pytest.CaptureFixture[str]) -> None:
    packet = encode_packet(response_reading(datetime(2015, 3, 21, 16, 45, 24), 105))
    out = checks.cli_decode(capsys, PROTOCOL_ID, packet.hex(" "))
    assert out["record"]["response"] == "reading"
    assert out["measurements"][0]["value"] == 105.0
    assert out["measurements"][0]["measured_at"] == "2015-03-21T16:45:24"
    assert checks.cli_error(capsys, PROTOCOL_ID, "02 06 08 03 00 00") == "ChecksumError"
