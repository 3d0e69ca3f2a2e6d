"""Modbus RTU application data units (``modbus.rtu``): CRC-16, PDU decoding, a hunting framer.

Devices: weighing indicators (CAS CI-600D, Eagle EI-1000/2000/4000, Pavone JBX8, Tuna
ID551PN...) and ultrasonic height sensors answering as Modbus servers on RS-485/RS-232.
Link: usually 9600 or 19200 baud, 8N1 (the serial-line spec's default is 8E1); the
device id, word order and scaling are per device (see :mod:`cart.protocols.modbus_maps`).

Wire layout of one RTU ADU (Modbus over Serial Line v1.02 §2.5.1)::

    +-----------+----------+-----------------------------+--------+--------+
    | device id | function | data (0..252 bytes)         | CRC lo | CRC hi |
    +-----------+----------+-----------------------------+--------+--------+
      1 byte      1 byte     big-endian 16-bit fields      CRC-16, little-endian

    read holding registers 40108-40110 of device 17 (Modicon PI-MBUS-300, function 03):
      request    11 03 00 6B 00 03 76 87           address 0x006B = 40108 - 40001, count 3
      response   11 03 06 02 2B 00 00 00 64 C8 BA  byte count 6, registers 022B 0000 0064
      exception  11 83 02 C1 34                    function | 0x80, code 2 (illegal address)

CRC-16/MODBUS: reflected polynomial 0xA001, initial value 0xFFFF, no final XOR, sent low
byte first. RTU has no delimiters (frames are separated by 3.5 character times of
silence, which a pure decoder cannot see): the length of a frame follows from its
function code, whether it is a request or a response, and a byte count field.
:class:`RtuFramer` uses that to hunt for CRC-valid frames in a byte stream with noise.

Function codes decoded: 01/02 (read coils/discrete inputs), 03/04 (read holding/input
registers), 05/06 (write single coil/register), 15/16 (write multiple coils/registers),
and exception responses (function | 0x80) for any function. Others raise
:class:`~cart.errors.UnsupportedMessage`. Register addresses in the PDU are 0-based:
register "40001" is address 0 (the 1-based numbering is handled in ``modbus_maps``).

Sources: Modbus Application Protocol Specification V1.1b3 (function and exception
codes, PDU layouts); Modbus over Serial Line Specification V1.02 (RTU framing, CRC);
Modicon PI-MBUS-300 (read-holding-registers example, as reprinted in device manuals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from cart.errors import (
    BufferOverflow,
    ChecksumError,
    FrameError,
    IncompleteFrame,
    UnsupportedMessage,
)
from cart.protocols.base import NEED_DATA, Decoded, NeedData, PayloadKind, ProtocolSpec

__all__ = [
    "EXCEPTION_CODES",
    "FUNCTIONS",
    "MAX_ADU",
    "PROTOCOLS",
    "PROTOCOL_ID",
    "Adu",
    "Direction",
    "RtuFramer",
    "crc16",
    "decode",
    "encode_adu",
    "encode_exception",
    "encode_read_bits_response",
    "encode_read_registers_response",
    "encode_read_request",
    "encode_write_multiple_coils",
    "encode_write_multiple_registers",
    "encode_write_multiple_response",
    "encode_write_single",
    "parse_adu",
    "with_crc",
]

PROTOCOL_ID: Final = "modbus.rtu"

#: Largest RTU ADU: device id + 253-byte PDU + 2 CRC bytes.
MAX_ADU: Final = 256
MIN_ADU: Final = 5

Direction = Literal["request", "response", "exception", "echo"]
"""``echo``: functions 05/06, whose normal response repeats the request byte for byte."""

Role = Literal["client", "server", "any"]

_BITS, _REGISTERS, _SINGLE, _MULTI_BITS, _MULTI_REGISTERS = (
    "bits",
    "registers",
    "single",
    "multiple_bits",
    "multiple_registers",
)

#: function code -> (snake_case name, PDU family)
FUNCTIONS: Final[dict[int, tuple[str, str]]] = {
    0x01: ("read_coils", _BITS),
    0x02: ("read_discrete_inputs", _BITS),
    0x03: ("read_holding_registers", _REGISTERS),
    0x04: ("read_input_registers", _REGISTERS),
    0x05: ("write_single_coil", _SINGLE),
    0x06: ("write_single_register", _SINGLE),
    0x0F: ("write_multiple_coils", _MULTI_BITS),
    0x10: ("write_multiple_registers", _MULTI_REGISTERS),
}

#: exception code -> snake_case name (Application Protocol V1.1b3 §7)
EXCEPTION_CODES: Final[dict[int, str]] = {
    0x01: "illegal_function",
    0x02: "illegal_data_address",
    0x03: "illegal_data_value",
    0x04: "server_device_failure",
    0x05: "acknowledge",
    0x06: "server_device_busy",
    0x08: "memory_parity_error",
    0x0A: "gateway_path_unavailable",
    0x0B: "gateway_target_device_failed_to_respond",
}

COIL_ON: Final = 0xFF00
COIL_OFF: Final = 0x0000


# --------------------------------------------------------------------------- CRC-16


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS of ``data`` (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    """``body`` (device id + PDU) followed by its CRC, low byte first."""
    return body + crc16(body).to_bytes(2, "little")


# --------------------------------------------------------------------------- lengths


def _request_length(buf: bytes | bytearray, start: int = 0) -> int | None:
    """Length of the request beginning at ``start``; None while the byte count is unknown."""
    family = FUNCTIONS[buf[start + 1]][1]
    if family in (_MULTI_BITS, _MULTI_REGISTERS):
        if len(buf) < start + 7:
            return None
        return 9 + buf[start + 6]
    return 8


def _response_length(buf: bytes | bytearray, start: int = 0) -> int | None:
    """Length of the normal or exception response beginning at ``start``."""
    function = buf[start + 1]
    if function & 0x80:
        return 5
    family = FUNCTIONS[function][1]
    if family in (_BITS, _REGISTERS):
        if len(buf) < start + 3:
            return None
        return 5 + buf[start + 2]
    return 8


# --------------------------------------------------------------------------- ADU


@dataclass(frozen=True, slots=True)
class Adu:
    """One decoded RTU frame. Fields that do not apply to the function are None."""

    device_id: int
    """0 is broadcast (no response); 1-247 are servers."""
    function: int
    """Function code as on the wire (0x83 for an exception to 0x03)."""
    direction: Direction
    crc: int
    address: int | None = None
    """0-based PDU address of the first register or coil (request, write response)."""
    count: int | None = None
    """Number of registers or coils (request, write-multiple response)."""
    registers: tuple[int, ...] | None = None
    """Register values (read response, write-multiple request)."""
    bits: tuple[bool, ...] | None = None
    """Coil/input states, LSB of the first byte first (read response: padded to whole bytes)."""
    value: int | None = None
    """Written value of 05/06 (0xFF00 = coil on, 0x0000 = off)."""
    byte_count: int | None = None
    exception_code: int | None = None

    @property
    def base_function(self) -> int:
        return self.function & 0x7F

    @property
    def function_name(self) -> str:
        return FUNCTIONS.get(self.base_function, (f"function_{self.base_function}", ""))[0]

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "device_id": self.device_id,
            "broadcast": self.device_id == 0,
            "function": self.function,
            "function_name": self.function_name,
            "direction": self.direction,
            "address": self.address,
            "count": self.count,
            "byte_count": self.byte_count,
            "registers": list(self.registers) if self.registers is not None else None,
            "bits": [int(b) for b in self.bits] if self.bits is not None else None,
            "value": self.value,
            "exception_code": self.exception_code,
            "exception_name": (
                EXCEPTION_CODES.get(self.exception_code, f"exception_{self.exception_code}")
                if self.exception_code is not None
                else None
            ),
            "crc": self.crc,
        }
        return record


def _error_raw(frame: bytes) -> bytes:
    return frame[:MAX_ADU]


def parse_adu(frame: bytes, *, direction: Direction | None = None) -> Adu:
    """Decode exactly one ADU (CRC included).

    ``direction`` forces how an ambiguous frame is read: a 01/02 response carrying 3 data
    bytes has the length of a request. Without it, a frame whose length fits a response
    is read as one, and 05/06 frames are ``echo``.
    """
    frame = bytes(frame)
    if len(frame) < MIN_ADU:
        raise IncompleteFrame(
            f"{len(frame)} bytes; an RTU frame has at least {MIN_ADU}",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    if len(frame) > MAX_ADU:
        raise FrameError(
            f"{len(frame)} bytes; an RTU frame has at most {MAX_ADU}",
            protocol=PROTOCOL_ID,
            raw=_error_raw(frame),
        )
    function = frame[1]
    if function == 0:
        raise FrameError("function code 0 is not valid", protocol=PROTOCOL_ID, raw=frame)
    if not function & 0x80 and function not in FUNCTIONS:
        _check_crc(frame)  # a corrupt frame is a checksum error, whatever its function
        raise UnsupportedMessage(
            f"function code 0x{function:02X} is not supported", protocol=PROTOCOL_ID, raw=frame
        )

    candidates: dict[str, int | None] = {}
    if function & 0x80:
        if direction not in (None, "exception", "response"):
            raise FrameError("an exception frame is a response", protocol=PROTOCOL_ID, raw=frame)
        candidates["exception"] = 5
    else:
        if direction in (None, "request", "echo"):
            candidates["request"] = _request_length(frame)
        if direction in (None, "response", "echo"):
            candidates["response"] = _response_length(frame)
        if direction == "exception":
            raise FrameError(
                f"function 0x{function:02X} is not an exception", protocol=PROTOCOL_ID, raw=frame
            )
    matching = [name for name, length in candidates.items() if length == len(frame)]
    if (
        len(matching) == 2
        and FUNCTIONS[function][1] == _REGISTERS
        and frame[2] % 2  # a register response never has an odd byte count: a request
    ):
        matching.remove("response")
    if not matching:
        known = [length for length in candidates.values() if length is not None]
        expected = " or ".join(str(n) for n in sorted(set(known))) or "more"
        if not known or len(frame) < max(known):
            raise IncompleteFrame(
                f"{len(frame)} bytes; function 0x{function:02X} needs {expected}",
                protocol=PROTOCOL_ID,
                raw=frame,
            )
        raise FrameError(
            f"{len(frame)} bytes do not fit function 0x{function:02X} (expected {expected})",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    crc = _check_crc(frame)
    device_id = frame[0]
    pdu = frame[1:-2]

    if "exception" in matching:
        return Adu(device_id, function, "exception", crc, exception_code=pdu[1])

    family = FUNCTIONS[function][1]
    if family == _SINGLE:
        dir_: Direction = "echo" if direction is None else direction
        address, value = _u16(pdu, 1), _u16(pdu, 3)
        if function == 0x05 and value not in (COIL_ON, COIL_OFF):
            raise FrameError(
                f"coil value 0x{value:04X} is neither FF00 nor 0000",
                protocol=PROTOCOL_ID,
                raw=frame,
            )
        return Adu(device_id, function, dir_, crc, address=address, value=value)

    chosen = "response" if "response" in matching else "request"
    if family in (_BITS, _REGISTERS):
        if chosen == "request":
            return Adu(
                device_id, function, "request", crc, address=_u16(pdu, 1), count=_u16(pdu, 3)
            )
        byte_count = pdu[1]
        data = pdu[2:]
        if family == _REGISTERS:
            if byte_count % 2:
                raise FrameError(
                    f"register byte count {byte_count} is odd", protocol=PROTOCOL_ID, raw=frame
                )
            registers = tuple(_u16(data, i) for i in range(0, byte_count, 2))
            return Adu(
                device_id,
                function,
                "response",
                crc,
                count=len(registers),
                registers=registers,
                byte_count=byte_count,
            )
        return Adu(
            device_id,
            function,
            "response",
            crc,
            bits=_unpack_bits(data),
            byte_count=byte_count,
        )

    # write multiple coils / registers
    address, count = _u16(pdu, 1), _u16(pdu, 3)
    if chosen == "response":
        return Adu(device_id, function, "response", crc, address=address, count=count)
    byte_count = pdu[5]
    data = pdu[6:]
    if family == _MULTI_REGISTERS:
        if byte_count != 2 * count:
            raise FrameError(
                f"byte count {byte_count} does not match {count} registers",
                protocol=PROTOCOL_ID,
                raw=frame,
            )
        registers = tuple(_u16(data, i) for i in range(0, byte_count, 2))
        return Adu(
            device_id,
            function,
            "request",
            crc,
            address=address,
            count=count,
            registers=registers,
            byte_count=byte_count,
        )
    if byte_count != (count + 7) // 8:
        raise FrameError(
            f"byte count {byte_count} does not match {count} coils",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    return Adu(
        device_id,
        function,
        "request",
        crc,
        address=address,
        count=count,
        bits=_unpack_bits(data)[:count],
        byte_count=byte_count,
    )


def _check_crc(frame: bytes) -> int:
    wire = int.from_bytes(frame[-2:], "little")
    calculated = crc16(frame[:-2])
    if wire != calculated:
        raise ChecksumError(wire, calculated, width=4, protocol=PROTOCOL_ID, raw=frame)
    return wire


def _u16(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 2], "big")


def _unpack_bits(data: bytes) -> tuple[bool, ...]:
    return tuple(bool(byte >> bit & 1) for byte in data for bit in range(8))


def _pack_bits(bits: tuple[bool, ...] | list[bool]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def decode(frame: bytes) -> Decoded:
    """Decode one ADU (request, response or exception) into a record; no measurements.

    Exception responses decode fine (``direction == "exception"``, ``exception_code``): it
    is the driver that turns them into device errors.
    """
    adu = parse_adu(frame)
    return Decoded(PROTOCOL_ID, adu.to_record(), (), raw=bytes(frame))


# --------------------------------------------------------------------------- encoders


def _check_u8(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be 0..255, not {value}")


def _check_u16(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} must be 0..65535, not {value}")


def encode_adu(device_id: int, pdu: bytes) -> bytes:
    """Device id + PDU + CRC."""
    _check_u8("device_id", device_id)
    if not 1 <= len(pdu) <= 253:
        raise ValueError("a PDU has 1 to 253 bytes")
    return with_crc(bytes([device_id]) + pdu)


def encode_read_request(device_id: int, address: int, count: int, *, function: int = 0x03) -> bytes:
    """Read request (01-04): 0-based ``address`` of the first item and item ``count``."""
    if FUNCTIONS.get(function, ("", ""))[1] not in (_BITS, _REGISTERS):
        raise ValueError(f"function 0x{function:02X} is not a read function")
    _check_u16("address", address)
    _check_u16("count", count)
    return encode_adu(device_id, bytes([function]) + _words(address, count))


def encode_read_registers_response(
    device_id: int, registers: list[int] | tuple[int, ...], *, function: int = 0x03
) -> bytes:
    """Normal response to 03/04 carrying ``registers`` (what a server sends)."""
    if function not in (0x03, 0x04):
        raise ValueError("register responses are for functions 03 and 04")
    if not 1 <= len(registers) <= 125:
        raise ValueError("a read response carries 1 to 125 registers")
    for value in registers:
        _check_u16("register", value)
    data = _words(*registers)
    return encode_adu(device_id, bytes([function, len(data)]) + data)


def encode_read_bits_response(
    device_id: int, bits: list[bool] | tuple[bool, ...], *, function: int = 0x01
) -> bytes:
    """Normal response to 01/02 carrying coil or input states (padded with zeros)."""
    if function not in (0x01, 0x02):
        raise ValueError("bit responses are for functions 01 and 02")
    if not 1 <= len(bits) <= 2000:
        raise ValueError("a read response carries 1 to 2000 bits")
    data = _pack_bits(tuple(bits))
    return encode_adu(device_id, bytes([function, len(data)]) + data)


def encode_write_single(
    device_id: int, address: int, value: int | bool, *, function: int = 0x06
) -> bytes:
    """05/06 request, which is also the normal response. Coils take True/False."""
    if function == 0x05:
        if isinstance(value, bool):
            value = COIL_ON if value else COIL_OFF
        if value not in (COIL_ON, COIL_OFF):
            raise ValueError("a coil value is True/False (FF00/0000)")
    elif function != 0x06:
        raise ValueError("single writes are functions 05 and 06")
    _check_u16("address", address)
    _check_u16("value", int(value))
    return encode_adu(device_id, bytes([function]) + _words(address, int(value)))


def encode_write_multiple_registers(
    device_id: int, address: int, registers: list[int] | tuple[int, ...]
) -> bytes:
    """16 (0x10) request."""
    _check_u16("address", address)
    if not 1 <= len(registers) <= 123:
        raise ValueError("a write request carries 1 to 123 registers")
    for value in registers:
        _check_u16("register", value)
    data = _words(*registers)
    pdu = bytes([0x10]) + _words(address, len(registers)) + bytes([len(data)]) + data
    return encode_adu(device_id, pdu)


def encode_write_multiple_coils(
    device_id: int, address: int, bits: list[bool] | tuple[bool, ...]
) -> bytes:
    """15 (0x0F) request."""
    _check_u16("address", address)
    if not 1 <= len(bits) <= 1968:
        raise ValueError("a write request carries 1 to 1968 coils")
    data = _pack_bits(tuple(bits))
    pdu = bytes([0x0F]) + _words(address, len(bits)) + bytes([len(data)]) + data
    return encode_adu(device_id, pdu)


def encode_write_multiple_response(
    device_id: int, address: int, count: int, *, function: int = 0x10
) -> bytes:
    """Normal response to 15/16: the start address and the quantity written."""
    if function not in (0x0F, 0x10):
        raise ValueError("write-multiple responses are for functions 15 and 16")
    _check_u16("address", address)
    _check_u16("count", count)
    return encode_adu(device_id, bytes([function]) + _words(address, count))


def encode_exception(device_id: int, function: int, code: int) -> bytes:
    """Exception response to ``function`` (0x80 is added) with exception ``code``."""
    _check_u8("function", function)
    _check_u8("code", code)
    return encode_adu(device_id, bytes([function | 0x80, code]))


def _words(*values: int) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


# --------------------------------------------------------------------------- framer


class RtuFramer:
    """Finds CRC-valid RTU frames in a byte stream ("hunting mode"): feed bytes, pull frames.

    ``role`` says which frames are expected, because the length of an RTU frame depends on
    it: ``client`` reads responses (and exceptions), ``server`` reads requests, ``any``
    (a bus sniffer) both. Bytes that cannot start a valid frame are dropped and counted in
    :attr:`discarded`; a candidate that can still complete is kept. A later frame with a
    valid CRC is preferred over an earlier candidate that claims a long length, so a noise
    byte in front of a short response does not stall the link. More than ``max_buffer``
    bytes without a frame raise :class:`BufferOverflow` (the buffer is cleared first).

    ``next_frame`` returns the raw ADU (CRC included); decode it with :func:`parse_adu`.
    """

    def __init__(self, role: Role = "client", *, max_buffer: int = 2 * MAX_ADU) -> None:
        if role not in ("client", "server", "any"):
            raise ValueError(f"role must be client, server or any, not {role!r}")
        if max_buffer < MAX_ADU:
            raise ValueError(f"max_buffer must be at least {MAX_ADU}")
        self.role: Role = role
        self._buf = bytearray()
        self._max = max_buffer
        self.discarded = 0
        """Bytes dropped so far because no valid frame started at them."""

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        """Forget buffered bytes (e.g. before sending a new request)."""
        self.discarded += len(self._buf)
        self._buf.clear()

    def _lengths(self, start: int) -> list[int | None]:
        buf = self._buf
        function = buf[start + 1]
        if function & 0x80:
            return [5] if self.role != "server" else []
        if function not in FUNCTIONS:
            return []
        lengths: list[int | None] = []
        if self.role in ("client", "any"):
            lengths.append(_response_length(buf, start))
        if self.role in ("server", "any"):
            lengths.append(_request_length(buf, start))
        return lengths

    def next_frame(self) -> bytes | NeedData:
        """The next CRC-valid ADU, or NEED_DATA."""
        buf = self._buf
        size = len(buf)
        pending: int | None = None
        start = 0
        while start + MIN_ADU <= size:
            waiting = False
            for length in self._lengths(start):
                if length is None or start + length > size:
                    waiting = True
                    continue
                end = start + length
                if crc16(bytes(buf[start : end - 2])) == int.from_bytes(
                    buf[end - 2 : end], "little"
                ):
                    frame = bytes(buf[start:end])
                    self.discarded += start
                    del buf[:end]
                    return frame
            if waiting and pending is None:
                pending = start
            start += 1
        # no complete frame: keep from the first candidate still able to complete
        keep_from = pending if pending is not None else max(0, size - (MIN_ADU - 1))
        if keep_from:
            self.discarded += keep_from
            del buf[:keep_from]
        if len(buf) > self._max:
            raw = bytes(buf[:64])
            self.discarded += len(buf)
            buf.clear()
            raise BufferOverflow(self._max, protocol=PROTOCOL_ID, raw=raw)
        return NEED_DATA


# --------------------------------------------------------------------------- registry

PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "Modbus RTU ADU: device id, function, registers/coils or exception, CRC-16",
        PayloadKind.HEX,
        decode,
        examples=(
            bytes.fromhex("1103006B00037687"),
            bytes.fromhex("110306022B00000064C8BA"),
            bytes.fromhex("118302C134"),
            bytes.fromhex("01030000000305CB"),
            bytes.fromhex("01030600001C43000116F1"),
            bytes.fromhex("01103003000102000157A0"),
        ),
    ),
)
