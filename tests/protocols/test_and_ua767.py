"""and.ua767: A&D UA-767PBT blood-pressure data section and PBT packets.

Vectors:
- Public Android driver ``com/cking/phss/bluetooth/BluetoothServer4And.java`` (Cking Inc.,
  2012), log lines kept as comments: ``UA-767PBT sn: 5111124008  Reading: 801D4C4152``
  and ``parsePbtData8020423C4C`` (verbatim data sections from a real UA-767PBT), and a
  whole captured UC-411PBT-C packet (verbatim, 151 bytes) whose header confirms the
  little-endian layout (type 2, length 91, device type 407, 2012-09-21 00:54:40).
- "Phonegap Healthcare Adapter Bluetooth Spec" (CDOT wiki, Seneca College): header
  offsets, device type 767 (0x02FF), data section ``80`` + SYS-DIA + DIA + PULSE + MAP.
- Whole UA-767PBT packets below are DERIVED from that layout (the encoder's output).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import BufferOverflow, FrameError, IncompleteFrame, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind
from cart.protocols import get_protocol
from cart.protocols.and_ua767 import ACK, NAK, UA767Stream, decode, encode_data, encode_packet
from tests.protocols import checks

# verbatim UC-411PBT-C packet from BluetoothServer4And.java (device type 407, not BP)
UC411_PACKET = bytes.fromhex(
    "02005b000000970100dc070915003628dc070916080c16ed4a801f090055432d34313135"
    "31323034303030313700005042542d430000000000f0002353542c2b3037382e30356b67"
    "0d0a52542c303438362e314f0d0a46542c32352e34250d0a48542c2b313734306d6d0d0a"
    "42542c30313638336b630d0a4d542c3035352e326b670d0a57542c3034322e356b670d0a"
    "49442c30310d0a"
)
MEASURED = datetime(2024, 5, 10, 9, 22, 0)
PACKET = encode_packet(b"801D4C4152", measured_at=MEASURED, serial_number="5111124008")


@pytest.mark.parametrize(
    ("data", "sys_", "dia", "pulse", "mean"),
    [
        (b"801D4C4152", 105, 76, 65, 82),  # UA-767PBT sn 5111124008, logged reading
        (b"8020423C4C", 98, 66, 60, 76),  # parsePbtData log line
    ],
)
def test_real_data_sections(data, sys_, dia, pulse, mean):
    decoded = decode(data)
    assert decoded.protocol == "and.ua767"
    record = decoded.record
    assert (record["systolic"], record["diastolic"]) == (sys_, dia)
    assert (record["pulse_rate"], record["mean_arterial_pressure"]) == (pulse, mean)
    assert record["valid"] is True
    assert decoded.measurements == (
        Measurement.create(MeasurementKind.SYSTOLIC_PRESSURE, sys_, decimals=0),
        Measurement.create(MeasurementKind.DIASTOLIC_PRESSURE, dia, decimals=0),
        Measurement.create(MeasurementKind.MEAN_ARTERIAL_PRESSURE, mean, decimals=0),
        Measurement.create(MeasurementKind.PULSE_RATE, pulse, decimals=0),
    )


def test_data_section_tolerates_crlf_and_lower_case():
    assert decode(b"801d4c4152\r\n").record["systolic"] == 105


def test_invalid_measurement_is_a_record_without_readings():
    decoded = decode(b"001D4C4152")
    assert decoded.record["valid"] is False
    assert decoded.record["status"] == "00"
    assert decoded.record["systolic"] is None
    assert decoded.measurements == ()


def test_whole_packet_header_and_timestamp():
    decoded = decode(PACKET)
    record = decoded.record
    assert record["device_type"] == 767
    assert record["model"] == "UA-767PBT"
    assert record["serial_number"] == "5111124008"
    assert record["measured_at"] == "2024-05-10T09:22:00"
    assert record["systolic"] == 105
    assert all(m.measured_at == MEASURED for m in decoded.measurements)
    assert PACKET[:8] == bytes.fromhex("02000a000000ff02")  # LE type, length 10, 0x02FF


def test_real_uc411_packet_header_is_little_endian_and_not_bp():
    assert len(UC411_PACKET) == 151
    assert int.from_bytes(UC411_PACKET[2:6], "little") == 91  # data length after 60 bytes
    assert int.from_bytes(UC411_PACKET[6:8], "little") == 407
    assert UC411_PACKET[9:16] == bytes.fromhex("dc070915003628")  # 2012-09-21 00:54:40
    with pytest.raises(UnsupportedMessage, match="UC-411PBT-C"):
        decode(UC411_PACKET)


def test_invalid_device_clock_keeps_the_reading():
    bad = bytearray(PACKET)
    bad[11] = 13  # month 13
    decoded = decode(bytes(bad))
    assert decoded.record["measured_at"] is None
    assert decoded.measurements[0].measured_at is None
    assert decoded.measurements[0].value == 105


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"801D4C", IncompleteFrame),
        (b"", IncompleteFrame),
        (b"801D4C41", IncompleteFrame),
        (b"801D4C41520", FrameError),
        (b"80-D4C4152", FrameError),
        (b"\xff\xfe", FrameError),
        (PACKET[:40], IncompleteFrame),
        (PACKET[:-3], IncompleteFrame),
        (PACKET + b"\x00", FrameError),
        (encode_packet(b"801D4C41", measured_at=MEASURED), FrameError),  # 8-byte data section
        (encode_packet(b"801D4C4152", measured_at=MEASURED, device_type=321), UnsupportedMessage),
        (PACKET[:2] + (100000).to_bytes(4, "little") + PACKET[6:], FrameError),
        (PACKET[:-10] + b"zz1D4C4152", FrameError),
    ],
)
def test_bad_frames_map_to_exact_errors(frame, error):
    checks.assert_raises_exactly(decode, frame, error, protocol="and.ua767")


def test_host_replies():
    assert (ACK, NAK) == (b"PWA1", b"PWA0")


# --------------------------------------------------------------------------- stream


@pytest.mark.parametrize("split", checks.SPLITS)
def test_stream_split_delivery(split):
    assert len(PACKET) == 70  # halved at byte 35
    checks.assert_delivered_whole(UA767Stream(), PACKET, split, decode)


def test_stream_garbage_around_packets():
    other = encode_packet(b"8020423C4C", measured_at=MEASURED)
    stream = UA767Stream()
    out = checks.feed_all(stream, [b"\x00\x02\xffPWCAPI" + PACKET + b"\x13\x02" + other + b"\x00"])
    assert [f.record["systolic"] for f in out] == [105, 98]
    assert stream.discarded > 0


def test_stream_passes_on_non_bp_packets_as_errors_and_continues():
    stream = UA767Stream()
    checks.assert_feed_raises(stream, UC411_PACKET + PACKET, UnsupportedMessage)
    assert stream.next_frame().record["systolic"] == 105


def test_stream_buffer_is_bounded():
    stream = UA767Stream(max_buffer=100)
    oversized = PACKET[:2] + (500).to_bytes(4, "little") + PACKET[6:] + b"\x00" * 60
    checks.assert_feed_raises(stream, oversized, BufferOverflow)
    assert stream.buffered == 0
    stream.feed(PACKET)
    assert stream.next_frame().record["systolic"] == 105


@settings(max_examples=200)
@given(checks.chunk_lists(40, 10))
def test_stream_random_chunks_only_raise_protocol_error(chunks):
    checks.feed_all(UA767Stream(max_buffer=128), chunks, skip_errors=True)


# --------------------------------------------------------------------------- properties


@settings(max_examples=300)
@given(st.binary(max_size=90))
def test_random_bytes_only_raise_protocol_error(data):
    checks.assert_only_protocol_errors(decode, data)


@settings(max_examples=200)
@given(st.binary(min_size=58, max_size=80))
def test_random_packets_only_raise_protocol_error(tail):
    checks.assert_only_protocol_errors(decode, b"\x02\x00" + tail)


@settings(max_examples=300)
@given(
    dia=st.integers(30, 150),
    delta=st.integers(0, 105),
    pulse=st.integers(30, 255),
    mean=st.integers(30, 200),
    valid=st.booleans(),
)
def test_encode_decode_round_trip(dia, delta, pulse, mean, valid):
    data = encode_data(dia + delta, dia, pulse, mean, valid=valid)
    record = decode(data).record
    assert record["valid"] is valid
    if valid:
        assert (record["systolic"], record["diastolic"]) == (dia + delta, dia)
        assert (record["pulse_rate"], record["mean_arterial_pressure"]) == (pulse, mean)
    packet = encode_packet(data, measured_at=MEASURED)
    assert decode(packet).record["data"] == data.decode()


def test_encoder_refuses_values_that_do_not_fit():
    with pytest.raises(ValueError):
        encode_data(80, 120, 60, 90)  # systolic below diastolic
    with pytest.raises(ValueError):
        encode_data(400, 80, 60, 90)


# --------------------------------------------------------------------------- CLI


def test_cli_decode_data_section(capsys):
    out = checks.cli_decode(capsys, "and.ua767", "801D4C4152")
    assert out["protocol"] == "and.ua767"
    assert [(m["kind"], m["value"], m["unit"]) for m in out["measurements"]] == [
        ("systolic_pressure", 105.0, "mm[Hg]"),
        ("diastolic_pressure", 76.0, "mm[Hg]"),
        ("mean_arterial_pressure", 82.0, "mm[Hg]"),
        ("pulse_rate", 65.0, "/min"),
    ]


def test_cli_decode_whole_packet_as_hex(capsys):
    out = checks.cli_decode(capsys, "and.ua767", PACKET.hex(), hex=True)
    assert out["record"]["serial_number"] == "5111124008"
    assert out["measurements"][0]["measured_at"] == "2024-05-10T09:22:00"


def test_registry_and_examples_decode():
    spec = get_protocol("and.ua767")
    assert spec.payload == "text"
    checks.decode_examples(spec)
