"""modbus.rtu: ADU decoding, CRC-16, encoders and the hunting framer.

Vectors (every CRC re-checked against pymodbus' own FramerRTU in a test below):
- Modicon PI-MBUS-300 "Read Holding Registers" example, reprinted in device manuals
  (Janitza UMG user manual p.55): device 17 reads 40108-40110, request
  ``11 03 00 6B 00 03``, response ``11 03 06 02 2B 00 00 00 64`` (the manuals print the
  error check as "--"; the CRCs 76 87 and C8 BA are computed).
- Hitachi WJ200 inverter manual p.558 (Ver.3-49): response ``01 03 02 00 64 B9 AF``.
- Applent AT381x manual §12.3 pp.105-109: ``01 03 30 0C 00 01 4B 09``,
  ``01 03 02 00 01 79 84``, ``01 10 30 03 00 01 02 00 01 57 A0``, ``01 10 30 03 00 01 FE C9``.
- pymodbus test/framer/test_framer.py (test_encode_type / test_decode_complicated): RTU
  frames for device ids 0/17/255 and the bad-CRC and "dummy char in stream" cases.
- ../shared/protocols-serial.md, pymodbus 3.16 trial run on a pty (verbatim capture):
  ``01 03 00 00 00 03 05 cb`` -> ``01 03 06 00 00 1c 43 00 01 16 f1``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cart.errors import (
    BufferOverflow,
    ChecksumError,
    FrameError,
    IncompleteFrame,
    UnsupportedMessage,
)
from cart.protocols import NEED_DATA, get_protocol
from cart.protocols.modbus_rtu import (
    Adu,
    RtuFramer,
    crc16,
    decode,
    encode_exception,
    encode_read_bits_response,
    encode_read_registers_response,
    encode_read_request,
    encode_write_multiple_coils,
    encode_write_multiple_registers,
    encode_write_multiple_response,
    encode_write_single,
    parse_adu,
    with_crc,
)
from tests.protocols import checks

H = bytes.fromhex

# (hex frame, expected Adu) - the whole Adu is compared
REAL_FRAMES = [
    # Modicon PI-MBUS-300 example: 40108 is PDU address 0x006B = 107
    ("1103006B00037687", Adu(17, 3, "request", 0x8776, address=107, count=3)),
    (
        "110306022B00000064C8BA",
        Adu(17, 3, "response", 0xBAC8, count=3, registers=(0x022B, 0, 100), byte_count=6),
    ),
    # Hitachi WJ200 manual: register 1210h read back as 100 (0x0064)
    ("0103020064B9AF", Adu(1, 3, "response", 0xAFB9, count=1, registers=(100,), byte_count=2)),
    # Applent AT381x manual: read 300Ch, answer 0001; write 3003h = 0001 and its answer
    ("0103300C00014B09", Adu(1, 3, "request", 0x094B, address=0x300C, count=1)),
    ("01030200017984", Adu(1, 3, "response", 0x8479, count=1, registers=(1,), byte_count=2)),
    (
        "01103003000102000157A0",
        Adu(1, 16, "request", 0xA057, address=0x3003, count=1, registers=(1,), byte_count=2),
    ),
    ("011030030001FEC9", Adu(1, 16, "response", 0xC9FE, address=0x3003, count=1)),
    # pymodbus test_framer.py RTU rows: request/response/exception for ids 0, 17 and 255
    ("0003007C00020402", Adu(0, 3, "request", 0x0204, address=0x7C, count=2)),
    (
        "110304008D008EFBBD",
        Adu(17, 3, "response", 0xBDFB, count=2, registers=(0x8D, 0x8E), byte_count=4),
    ),
    ("118302C134", Adu(17, 0x83, "exception", 0x34C1, exception_code=2)),
    ("FF8302A101", Adu(255, 0x83, "exception", 0x01A1, exception_code=2)),
    # protocols-serial.md: pymodbus 3.16 SimDevice on a pty, captured request and response
    ("01030000000305CB", Adu(1, 3, "request", 0xCB05, address=0, count=3)),
    (
        "01030600001C43000116F1",
        Adu(1, 3, "response", 0xF116, count=3, registers=(0, 0x1C43, 1), byte_count=6),
    ),
]


@pytest.mark.parametrize(("hexframe", "expected"), REAL_FRAMES)
def test_real_frames_decode(hexframe, expected):
    assert parse_adu(H(hexframe)) == expected
    decoded = decode(H(hexframe))
    assert decoded.protocol == "modbus.rtu"
    assert decoded.measurements == ()
    assert decoded.record["device_id"] == expected.device_id
    assert decoded.record["direction"] == expected.direction


def test_modicon_example_record():
    record = decode(H("110306022B00000064C8BA")).record
    assert record == {
        "device_id": 17,
        "broadcast": False,
        "function": 3,
        "function_name": "read_holding_registers",
        "direction": "response",
        "address": None,
        "count": 3,
        "byte_count": 6,
        "registers": [555, 0, 100],
        "bits": None,
        "value": None,
        "exception_code": None,
        "exception_name": None,
        "crc": 0xBAC8,
    }


def test_exception_decodes_as_a_record():
    # pymodbus test_framer.py: exception 02 (illegal data address) to function 03, device 0
    record = decode(H("0083029131")).record
    assert record["direction"] == "exception"
    assert record["function"] == 0x83
    assert record["function_name"] == "read_holding_registers"
    assert record["exception_code"] == 2
    assert record["exception_name"] == "illegal_data_address"
    assert record["broadcast"] is True


def test_crc16_known_values_and_wire_order():
    # Modbus over Serial Line V1.02 §6.2.2: CRC low byte first on the wire
    assert crc16(H("1103006B0003")) == 0x8776
    assert with_crc(H("1103006B0003")) == H("1103006B00037687")
    # pymodbus test_framer.py::test_LRC_CRC (pymodbus returns the bytes swapped: 0xE2DB)
    assert crc16(H("1234234534564567")) == 0xDBE2
    assert crc16(b"") == 0xFFFF


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_crc16_matches_pymodbus(data):
    from pymodbus.framer import FramerRTU

    assert crc16(data).to_bytes(2, "little") == FramerRTU.compute_CRC(data).to_bytes(2, "big")


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (H("0083029121"), ChecksumError),  # pymodbus test_decode_complicated "bad crc"
        (H("1103006B00037688"), ChecksumError),
        (H("1103006B0003"), IncompleteFrame),  # CRC missing: a request needs 8 bytes
        (H("110306022B0000"), IncompleteFrame),  # truncated response
        (H("0183"), IncompleteFrame),
        (b"", IncompleteFrame),
        (H("1103006B0003768700"), FrameError),  # a byte too many for a request or response
        (with_crc(H("110305022B000064")), FrameError),  # odd register byte count
        (H("010000000000"), FrameError),  # function code 0
        (with_crc(H("010500001234")), FrameError),  # coil value neither FF00 nor 0000
        (with_crc(H("0110000000020300010002")), FrameError),  # byte count != 2 x count
        (with_crc(H("010F0000000A0100")), FrameError),  # 10 coils need 2 bytes
        (H("012B0E01000000"), ChecksumError),  # unknown function, bad CRC
        (H("01") + H("FF") * 300, FrameError),  # longer than any ADU
    ],
)
def test_bad_frames_map_to_exact_errors(frame, error):
    checks.assert_raises_exactly(parse_adu, frame, error, protocol="modbus.rtu")


def test_checksum_error_carries_wire_and_calculated():
    with pytest.raises(ChecksumError) as info:
        parse_adu(H("0083029121"))
    assert info.value.wire == 0x2191
    assert info.value.calculated == 0x3191


def test_unknown_function_with_valid_crc_is_unsupported():
    # 0x2B/0x0E read device identification (Application Protocol §6.21): well formed
    with pytest.raises(UnsupportedMessage):
        parse_adu(with_crc(H("012B0E0100")))


def test_direction_can_be_forced_for_ambiguous_bit_frames():
    # a 01 response with 3 data bytes has a request's length (8 bytes)
    frame = encode_read_bits_response(1, [True, False, True] + [False] * 21)
    assert parse_adu(frame).direction == "response"
    as_request = parse_adu(frame, direction="request")
    assert (as_request.address, as_request.count) == (0x0305, 0x0000)
    with pytest.raises(FrameError):
        parse_adu(H("118302C134"), direction="request")


def test_register_request_never_read_as_an_odd_response():
    # address 0x03xx puts 03 where a response's byte count would be: registers come in pairs
    adu = parse_adu(encode_read_request(1, 0x0310, 2))
    assert (adu.direction, adu.address, adu.count) == ("request", 0x0310, 2)
    with pytest.raises(FrameError):
        parse_adu(encode_read_request(1, 0x0310, 2), direction="response")


def test_register_number_pitfall_in_request():
    # 40108 (1-based register number) travels as PDU address 107
    assert encode_read_request(17, 40108 - 40001, 3) == H("1103006B00037687")


def test_encoders_make_the_spec_frames():
    assert encode_read_registers_response(17, [0x022B, 0, 100]) == H("110306022B00000064C8BA")
    assert encode_exception(17, 3, 2) == H("118302C134")
    assert encode_write_multiple_registers(1, 0x3003, [1]) == H("01103003000102000157A0")
    assert encode_write_multiple_response(1, 0x3003, 1) == H("011030030001FEC9")
    single = encode_write_single(1, 5, True, function=5)
    assert parse_adu(single) == Adu(1, 5, "echo", parse_adu(single).crc, address=5, value=0xFF00)
    coils = parse_adu(encode_write_multiple_coils(1, 19, [True, False, True] * 3 + [True]))
    assert coils.bits == (True, False, True) * 3 + (True,)
    assert coils.byte_count == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_read_request(1, 0, 1, function=6),
        lambda: encode_read_request(1, 70000, 1),
        lambda: encode_read_registers_response(1, []),
        lambda: encode_read_registers_response(1, [0x10000]),
        lambda: encode_write_single(1, 0, 7, function=5),
        lambda: encode_exception(256, 3, 2),
    ],
)
def test_encoders_refuse_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


@settings(max_examples=150)
@given(
    device_id=st.integers(0, 255),
    function=st.sampled_from([3, 4]),
    registers=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=125),
    address=st.integers(0, 0xFFFF),
)
def test_round_trip_registers(device_id, function, registers, address):
    response = parse_adu(encode_read_registers_response(device_id, registers, function=function))
    assert (response.device_id, response.function) == (device_id, function)
    assert response.registers == tuple(registers)
    request = parse_adu(encode_read_request(device_id, address, len(registers), function=function))
    assert (request.direction, request.address, request.count) == (
        "request",
        address,
        len(registers),
    )
    write = parse_adu(encode_write_multiple_registers(device_id, address, registers[:123]))
    assert write.registers == tuple(registers[:123])


@settings(max_examples=100)
@given(
    device_id=st.integers(0, 255),
    function=st.integers(1, 0x7F),
    code=st.integers(0, 255),
)
def test_round_trip_exceptions(device_id, function, code):
    adu = parse_adu(encode_exception(device_id, function, code))
    assert (adu.device_id, adu.base_function, adu.exception_code) == (device_id, function, code)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_protocol_error(data):
    checks.assert_only_protocol_errors(decode, data)


@settings(max_examples=200)
@given(st.binary(min_size=2, max_size=40))
def test_random_frames_with_valid_crc_only_raise_protocol_error(body):
    checks.assert_only_protocol_errors(decode, with_crc(body))


# --------------------------------------------------------------------------- framer


RESPONSES = [h for h, adu in REAL_FRAMES if adu.direction != "request"]
REQUESTS = [h for h, adu in REAL_FRAMES if adu.direction == "request"]


@pytest.mark.parametrize("hexframe", RESPONSES)
@pytest.mark.parametrize("split", checks.SPLITS)
def test_framer_client_split_delivery(hexframe, split):
    framer = RtuFramer("client")
    assert checks.feed_all(framer, checks.split_delivery(H(hexframe), split)) == [H(hexframe)]
    assert framer.buffered == 0
    assert framer.discarded == 0


@pytest.mark.parametrize("hexframe", [*REQUESTS, "01103003000102000157A0"])
@pytest.mark.parametrize("split", checks.SPLITS)
def test_framer_server_split_delivery(hexframe, split):
    framer = RtuFramer("server")
    assert checks.feed_all(framer, checks.split_delivery(H(hexframe), split)) == [H(hexframe)]


def test_framer_partial_needs_data():
    framer = RtuFramer("client")
    framer.feed(H("110306022B"))
    assert framer.next_frame() is NEED_DATA
    assert framer.buffered == 5
    framer.feed(H("00000064C8BA118302"))
    assert framer.next_frame() == H("110306022B00000064C8BA")
    assert framer.next_frame() is NEED_DATA
    assert framer.buffered == 3  # the next frame's beginning stays buffered
    framer.feed(H("C134"))
    assert framer.next_frame() == H("118302C134")


@pytest.mark.parametrize("split", checks.SPLITS)
def test_framer_hunts_past_garbage(split):
    # pymodbus test_decode_complicated: "dummy char in stream, bad crc + good CRC"
    stream = H("008302F09131") + H("0083029131")
    framer = RtuFramer("client")
    assert checks.feed_all(framer, checks.split_delivery(stream, split)) == [H("0083029131")]
    assert framer.discarded == 6


def test_framer_noise_claiming_a_long_frame_does_not_stall_a_short_one():
    # 0x01 0x03 0xFF would announce 255 data bytes; the real response follows at once
    framer = RtuFramer("client")
    assert checks.feed_all(framer, [H("0103FF") + H("0103020064B9AF")]) == [H("0103020064B9AF")]


def test_framer_trailing_garbage_and_back_to_back_frames():
    frames = [H(h) for h in RESPONSES]
    framer = RtuFramer("client")
    out = checks.feed_all(framer, [b"\x00\xfe" + b"".join(frames) + b"\xff\x13"])
    assert out == frames
    assert framer.buffered <= 4


def test_framer_any_role_reads_a_bus():
    bus = H("1103006B00037687") + H("110306022B00000064C8BA")
    assert checks.feed_all(RtuFramer("any"), checks.split_delivery(bus, "bytewise")) == [
        H("1103006B00037687"),
        H("110306022B00000064C8BA"),
    ]


def test_framer_buffer_is_bounded():
    framer = RtuFramer("server", max_buffer=256)
    # function 0x10 with byte count 0xFF announces 264 bytes: more than the buffer holds
    checks.assert_feed_raises(framer, H("0110000000FFFF") + b"\x00" * 253, BufferOverflow)
    assert framer.buffered == 0
    framer.feed(H("1103006B00037687"))
    assert framer.next_frame() == H("1103006B00037687")


def test_framer_rejects_bad_configuration():
    with pytest.raises(ValueError):
        RtuFramer("master")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RtuFramer(max_buffer=10)


@settings(max_examples=150)
@given(checks.chunk_lists(40, 10), st.sampled_from(["client", "server", "any"]))
def test_framer_random_chunks_only_raise_protocol_error(chunks, role):
    framer = RtuFramer(role, max_buffer=256)
    for frame in checks.feed_all(framer, chunks, skip_errors=True):
        assert isinstance(frame, bytes)
        checks.assert_only_protocol_errors(parse_adu, frame)


@settings(max_examples=100)
@given(
    noise=st.binary(max_size=12),
    registers=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=20),
    device_id=st.integers(1, 247),
)
def test_framer_finds_a_response_after_noise(noise, registers, device_id):
    frame = encode_read_registers_response(device_id, registers)
    framer = RtuFramer("client")
    out = checks.feed_all(framer, [noise, frame])
    assert out[-1] == frame


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(
    "payload", ["1103006B00037687", "11 03 06 02 2B 00 00 00 64 C8 BA", "118302C134"]
)
def test_cli_decode(payload, capsys):
    out = checks.cli_decode(capsys, "modbus.rtu", payload)
    assert out["protocol"] == "modbus.rtu"
    assert out["record"]["device_id"] == 17
    assert out["measurements"] == []


def test_cli_decode_bad_crc(capsys):
    assert checks.cli_error(capsys, "modbus.rtu", "0083029121") == "ChecksumError"


def test_registry_and_examples_decode():
    spec = get_protocol("modbus.rtu")
    assert spec.payload == "hex"
    checks.decode_examples(spec)
