"""LifeScan OneTouch UltraEasy / UltraMini binary protocol (``onetouch.ultraeasy``).

Devices: OneTouch UltraEasy and UltraMini (same meter, two names). Link: 9600 8N1 over
the TRS cable (PL2303, 067b:2303), 0.5 s reply timeout. The host drives the dialogue; every
packet is acknowledged by the peer, and each side's sequence bit alternates.

Packet (LifeScan shared binary protocol)::

    STX  LEN  LINK  message ...  ETX  CRC-lo CRC-hi
    02   nn   lc    05 ...       03   └─ CRC-16/CCITT (poly 0x1021, seed 0xFFFF) over
         │    │                          STX..ETX, little-endian
         │    └─ link control, bit 7..0:  0 0 0 MORE DISC ACK E S
         │       S = sender's sequence bit, E = the sequence bit it expects next
         └─ total length including STX, LEN, LINK, ETX and CRC (message = LEN - 6)

Messages (command prefix 0x05; responses echo it, then a status byte, 0x06 = success)::

    request                        response
    05 0d 02                       05 06 <len> <ascii>         software version
    05 0b 02 00 .. 00 (12 bytes)   05 06 <ascii>               serial number
    05 20 02 00 00 00 00           05 06 <uint32le time>       read clock
    05 20 01 <uint32le time>       05 06 <uint32le time>       set clock
    05 09 02 09 00 00 00 00        05 06 <unit> 00 00 00       display unit (0 mg/dL, 1 mmol/L)
    05 1a                          05 06                       erase memory
    05 1f f5 01 (record 501)       05 0f <uint16le count>      number of records
    05 1f <uint16le index>         05 06 <uint32le time> <uint32le mg/dL>   one reading

Times are seconds since 1970-01-01 in device-local time. Readings are always mg/dL; the
meter's range is 20-600 mg/dL, so a value outside it is a LO/HI marker, not a reading.

Sources: glucometerutils ``drivers/otultraeasy.py``, ``support/lifescan_binary_protocol.py``,
``support/lifescan.py`` and their tests (packet and CRC vectors); glucometer-protocols
``lifescan/shared-binary-protocol.md``; tidepool-org uploader
``lib/drivers/onetouch/oneTouchUltraMini.js`` (link-control masks, ``05 0f`` count reply,
20/600 mg/dL LO/HI thresholds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from cart.errors import (
    ChecksumError,
    FrameError,
    IncompleteFrame,
    UnsupportedMessage,
)
from cart.measurement import Measurement, MeasurementKind, Special
from cart.protocols._checksums import crc_ccitt
from cart.protocols.base import NEED_DATA, Decoded, NeedData, PayloadKind, ProtocolSpec

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_ID",
    "AckReceived",
    "DisconnectAcknowledged",
    "DisconnectReceived",
    "DuplicateReceived",
    "LinkControl",
    "LinkEvent",
    "MessageReceived",
    "Packet",
    "RequestKind",
    "UltraEasyLink",
    "UltraEasyStream",
    "classify_request",
    "decode",
    "encode_packet",
    "parse_packet",
    "request_erase",
    "request_glucose_unit",
    "request_read_clock",
    "request_record",
    "request_record_count",
    "request_serial_number",
    "request_set_clock",
    "request_version",
    "response_clock",
    "response_error",
    "response_glucose_unit",
    "response_reading",
    "response_record_count",
    "response_serial_number",
    "response_success",
    "response_version",
]

PROTOCOL_ID: Final = "onetouch.ultraeasy"

STX: Final = 0x02
ETX: Final = 0x03
OVERHEAD: Final = 6
MAX_PACKET: Final = 0xFF
PREFIX: Final = 0x05
SUCCESS: Final = 0x06
COUNT_STATUS: Final = 0x0F
RECORD_COUNT_ID: Final = 501
LOW_LIMIT_MG_DL: Final = 20
HIGH_LIMIT_MG_DL: Final = 600
_EPOCH: Final = datetime(1970, 1, 1)
_UNITS: Final = {0: "mg/dL", 1: "mmol/L"}

_MORE: Final = 0x10
_DISCONNECT: Final = 0x08
_ACK: Final = 0x04
_EXPECT: Final = 0x02
_SEQUENCE: Final = 0x01


# --------------------------------------------------------------------------- packets


@dataclass(frozen=True, slots=True)
class LinkControl:
    """The link-control byte (bits 7-5 are padding and must be zero)."""

    sequence_number: bool = False
    expect_receive: bool = False
    acknowledge: bool = False
    disconnect: bool = False
    more: bool = False

    def to_byte(self) -> int:
        return (
            (_MORE if self.more else 0)
            | (_DISCONNECT if self.disconnect else 0)
            | (_ACK if self.acknowledge else 0)
            | (_EXPECT if self.expect_receive else 0)
            | (_SEQUENCE if self.sequence_number else 0)
        )

    @classmethod
    def from_byte(cls, value: int) -> LinkControl:
        return cls(
            sequence_number=bool(value & _SEQUENCE),
            expect_receive=bool(value & _EXPECT),
            acknowledge=bool(value & _ACK),
            disconnect=bool(value & _DISCONNECT),
            more=bool(value & _MORE),
        )

    def to_json(self) -> dict[str, bool]:
        return {
            "more": self.more,
            "disconnect": self.disconnect,
            "acknowledge": self.acknowledge,
            "expect_receive": self.expect_receive,
            "sequence_number": self.sequence_number,
        }


@dataclass(frozen=True, slots=True)
class Packet:
    link: LinkControl
    message: bytes


def encode_packet(message: bytes, link: LinkControl = LinkControl()) -> bytes:
    """``STX LEN LINK message ETX CRC`` for any message (empty for ACK/disconnect)."""
    if len(message) > MAX_PACKET - OVERHEAD:
        raise ValueError(f"message longer than {MAX_PACKET - OVERHEAD} bytes")
    body = bytes((STX, len(message) + OVERHEAD, link.to_byte())) + message + bytes((ETX,))
    return body + crc_ccitt(body).to_bytes(2, "little")


def parse_packet(frame: bytes) -> Packet:
    """Check the framing and CRC of one packet and split it (no message interpretation)."""
    if not frame:
        raise IncompleteFrame("empty packet", protocol=PROTOCOL_ID, raw=frame)
    if frame[0] != STX:
        raise FrameError(
            f"packet starts with 0x{frame[0]:02X}, not STX", protocol=PROTOCOL_ID, raw=frame
        )
    if len(frame) < 2:
        raise IncompleteFrame("packet ends after STX", protocol=PROTOCOL_ID, raw=frame)
    length = frame[1]
    if length < OVERHEAD:
        raise FrameError(f"length byte {length} < {OVERHEAD}", protocol=PROTOCOL_ID, raw=frame)
    if len(frame) < length:
        raise IncompleteFrame(
            f"packet is {len(frame)} of {length} bytes", protocol=PROTOCOL_ID, raw=frame
        )
    if len(frame) > length:
        raise FrameError(
            f"{len(frame) - length} bytes after the packet's {length}",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    if frame[length - 3] != ETX:
        raise FrameError(
            f"byte {length - 3} is 0x{frame[length - 3]:02X}, not ETX",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    wire = int.from_bytes(frame[length - 2 : length], "little")
    calculated = crc_ccitt(frame[: length - 2])
    if wire != calculated:
        raise ChecksumError(wire, calculated, width=4, protocol=PROTOCOL_ID, raw=frame)
    if frame[2] & 0xE0:
        raise FrameError(
            f"link-control padding bits set: 0x{frame[2]:02X}", protocol=PROTOCOL_ID, raw=frame
        )
    return Packet(LinkControl.from_byte(frame[2]), bytes(frame[3 : length - 3]))


# --------------------------------------------------------------------------- messages


class RequestKind(StrEnum):
    VERSION = "version"
    SERIAL_NUMBER = "serial_number"
    READ_CLOCK = "read_clock"
    SET_CLOCK = "set_clock"
    GLUCOSE_UNIT = "glucose_unit"
    ERASE = "erase"
    RECORD_COUNT = "record_count"
    READ_RECORD = "read_record"


_SERIAL_REQUEST: Final = b"\x05\x0b\x02" + bytes(9)
_UNIT_REQUEST: Final = b"\x05\x09\x02\x09\x00\x00\x00\x00"


def request_version() -> bytes:
    return b"\x05\x0d\x02"


def request_serial_number() -> bytes:
    return _SERIAL_REQUEST


def request_read_clock() -> bytes:
    return b"\x05\x20\x02" + bytes(4)


def request_set_clock(when: datetime) -> bytes:
    return b"\x05\x20\x01" + _timestamp(when).to_bytes(4, "little")


def request_glucose_unit() -> bytes:
    return _UNIT_REQUEST


def request_erase() -> bytes:
    return b"\x05\x1a"


def request_record_count() -> bytes:
    return request_record(RECORD_COUNT_ID)


def request_record(index: int) -> bytes:
    """Read stored record ``index`` (0 = newest); 501 asks for the record count."""
    if not 0 <= index <= 0xFFFF:
        raise ValueError("record index must fit 16 bits")
    return b"\x05\x1f" + index.to_bytes(2, "little")


def response_success() -> bytes:
    return bytes((PREFIX, SUCCESS))


def response_error(status: int = 0x09) -> bytes:
    """A non-success status (the shared protocol names 0x09 as one)."""
    if status in (SUCCESS, COUNT_STATUS) or not 0 <= status <= 0xFF:
        raise ValueError("not an error status")
    return bytes((PREFIX, status))


def response_version(version: str) -> bytes:
    data = version.encode("ascii")
    if len(data) > 0xFF:
        raise ValueError("version too long")
    return response_success() + bytes((len(data),)) + data


def response_serial_number(serial: str) -> bytes:
    return response_success() + serial.encode("ascii")


def response_clock(when: datetime) -> bytes:
    return response_success() + _timestamp(when).to_bytes(4, "little")


def response_glucose_unit(unit: str = "mg/dL") -> bytes:
    codes = {v: k for k, v in _UNITS.items()}
    if unit not in codes:
        raise ValueError("unit must be mg/dL or mmol/L")
    return response_success() + bytes((codes[unit], 0, 0, 0))


def response_record_count(count: int) -> bytes:
    if not 0 <= count <= 0xFFFF:
        raise ValueError("count must fit 16 bits")
    return bytes((PREFIX, COUNT_STATUS)) + count.to_bytes(2, "little")


def response_reading(when: datetime, value_mg_dl: int) -> bytes:
    """One stored reading; the value is mg/dL (the meter sends values >600 for HI)."""
    if not 0 <= value_mg_dl <= 0xFFFFFFFF:
        raise ValueError("value must fit 32 bits")
    return response_clock(when) + value_mg_dl.to_bytes(4, "little")


def classify_request(message: bytes, *, raw: bytes | None = None) -> RequestKind:
    """Which request a host message is; UnsupportedMessage/FrameError if none."""
    if len(message) < 2 or message[0] != PREFIX:
        raise UnsupportedMessage(
            f"not an UltraEasy request: {message.hex(' ')}", protocol=PROTOCOL_ID, raw=raw
        )
    kind = _REQUEST_BYTES.get(message[1])
    if kind is None:
        raise UnsupportedMessage(
            f"unknown UltraEasy command 0x{message[1]:02X}", protocol=PROTOCOL_ID, raw=raw
        )
    if len(message) != _REQUEST_LENGTHS[kind]:
        raise FrameError(
            f"{kind.value} request is {len(message)} bytes", protocol=PROTOCOL_ID, raw=raw
        )
    if kind is RequestKind.READ_CLOCK:
        if message[2] == 0x01:
            return RequestKind.SET_CLOCK
        if message[2] != 0x02:
            raise FrameError(
                f"clock request type 0x{message[2]:02X} is neither read nor write",
                protocol=PROTOCOL_ID,
                raw=raw,
            )
    if kind is RequestKind.READ_RECORD and int.from_bytes(message[2:4], "little") == 501:
        return RequestKind.RECORD_COUNT
    return kind


_REQUEST_BYTES: Final = {
    0x0D: RequestKind.VERSION,
    0x0B: RequestKind.SERIAL_NUMBER,
    0x20: RequestKind.READ_CLOCK,
    0x09: RequestKind.GLUCOSE_UNIT,
    0x1A: RequestKind.ERASE,
    0x1F: RequestKind.READ_RECORD,
}
_REQUEST_LENGTHS: Final = {
    RequestKind.VERSION: 3,
    RequestKind.SERIAL_NUMBER: 12,
    RequestKind.READ_CLOCK: 7,
    RequestKind.GLUCOSE_UNIT: 8,
    RequestKind.ERASE: 2,
    RequestKind.READ_RECORD: 4,
}


def _timestamp(when: datetime) -> int:
    seconds = int((when.replace(tzinfo=None) - _EPOCH).total_seconds())
    if not 0 <= seconds <= 0xFFFFFFFF:
        raise ValueError("time outside the meter's 32-bit range")
    return seconds


def _datetime(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


# --------------------------------------------------------------------------- decoding


def decode(frame: bytes, *, request: RequestKind | str | None = None) -> Decoded:
    """Decode one packet. ``request`` says which request a response answers.

    Without it, a host request is recognised by its command byte and a response is
    interpreted from its shape (10-byte success = reading, ``05 0f`` = record count);
    the clock and unit replies (both 6 bytes) then stay uninterpreted.
    """
    packet = parse_packet(frame)
    record: dict[str, Any] = {
        "link_control": packet.link.to_json(),
        "message": packet.message.hex(),
    }
    message = packet.message
    measurements: tuple[Measurement, ...] = ()
    if not message:
        if packet.link.disconnect:
            record["message_type"] = "disconnect_ack" if packet.link.acknowledge else "disconnect"
        elif packet.link.acknowledge:
            record["message_type"] = "ack"
        else:
            raise UnsupportedMessage(
                "empty packet that is neither ACK nor disconnect", protocol=PROTOCOL_ID, raw=frame
            )
        return Decoded(PROTOCOL_ID, record, (), raw=frame)
    if message[0] != PREFIX:
        raise UnsupportedMessage(
            f"command prefix 0x{message[0]:02X}, not 0x05", protocol=PROTOCOL_ID, raw=frame
        )
    if request is None and _looks_like_request(message):
        kind = classify_request(message, raw=frame)
        record.update(_request_fields(kind, message, frame))
        return Decoded(PROTOCOL_ID, record, (), raw=frame)
    fields, measurements = _decode_response(
        message, RequestKind(request) if request is not None else None, frame
    )
    record.update(fields)
    return Decoded(PROTOCOL_ID, record, measurements, raw=frame)


def _looks_like_request(message: bytes) -> bool:
    """Host requests use command bytes no response status uses (0x09 only at 8 bytes)."""
    if len(message) < 2 or message[1] not in _REQUEST_BYTES:
        return False
    return message[1] != 0x09 or len(message) == len(_UNIT_REQUEST)


def _request_fields(kind: RequestKind, message: bytes, frame: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = {"message_type": "request", "request": kind.value}
    if kind is RequestKind.SET_CLOCK:
        fields["timestamp"] = _datetime(int.from_bytes(message[3:7], "little")).isoformat()
    elif kind is RequestKind.READ_RECORD:
        fields["record_index"] = int.from_bytes(message[2:4], "little")
    return fields


def _decode_response(
    message: bytes, request: RequestKind | None, frame: bytes
) -> tuple[dict[str, Any], tuple[Measurement, ...]]:
    if len(message) < 2:
        raise IncompleteFrame("response without a status byte", protocol=PROTOCOL_ID, raw=frame)
    status = message[1]
    data = message[2:]
    if status == COUNT_STATUS:
        if len(data) != 2:
            raise FrameError(
                f"record-count reply carries {len(data)} bytes, not 2",
                protocol=PROTOCOL_ID,
                raw=frame,
            )
        count = int.from_bytes(data, "little")
        return {"message_type": "response", "response": "record_count", "count": count}, ()
    if status != SUCCESS:
        return {"message_type": "response", "response": "error", "status": status}, ()
    fields: dict[str, Any] = {"message_type": "response", "status": status}
    if request is None:
        request = RequestKind.READ_RECORD if len(data) == 8 else None
        if not data:
            fields["response"] = "success"
            return fields, ()
        if request is None:
            fields.update(response="success", data=data.hex())
            return fields, ()
    fields["response"] = request.value
    if request is RequestKind.VERSION:
        if not data or data[0] != len(data) - 1:
            raise FrameError("version reply length byte mismatch", protocol=PROTOCOL_ID, raw=frame)
        fields["software_version"] = _ascii(data[1:], frame)
    elif request is RequestKind.SERIAL_NUMBER:
        fields["serial_number"] = _ascii(data, frame)
    elif request in (RequestKind.READ_CLOCK, RequestKind.SET_CLOCK):
        _need(data, 4, request, frame)
        fields["timestamp"] = _datetime(int.from_bytes(data, "little")).isoformat()
    elif request is RequestKind.GLUCOSE_UNIT:
        _need(data, 4, request, frame)
        if data[0] not in _UNITS:
            raise FrameError(f"unknown unit code {data[0]}", protocol=PROTOCOL_ID, raw=frame)
        fields["glucose_unit"] = _UNITS[data[0]]
    elif request is RequestKind.ERASE:
        _need(data, 0, request, frame)
    elif request is RequestKind.RECORD_COUNT:
        raise FrameError(
            "record-count reply without the 0x0f status", protocol=PROTOCOL_ID, raw=frame
        )
    else:  # READ_RECORD
        _need(data, 8, request, frame)
        return _reading(fields, data)
    return fields, ()


def _reading(fields: dict[str, Any], data: bytes) -> tuple[dict[str, Any], tuple[Measurement, ...]]:
    measured_at = _datetime(int.from_bytes(data[:4], "little"))
    value = int.from_bytes(data[4:8], "little")
    fields.update(response="reading", timestamp=measured_at.isoformat(), value=value)
    fields["unit"] = "mg/dL"
    if value > HIGH_LIMIT_MG_DL:
        measurement = Measurement.create(
            MeasurementKind.GLUCOSE,
            None,
            special=Special.POS_INF,
            measured_at=measured_at,
            flags=("above_range",),
        )
    elif value < LOW_LIMIT_MG_DL:
        measurement = Measurement.create(
            MeasurementKind.GLUCOSE,
            None,
            special=Special.NEG_INF,
            measured_at=measured_at,
            flags=("below_range",),
        )
    else:
        measurement = Measurement.create(
            MeasurementKind.GLUCOSE, value, "mg/dL", measured_at=measured_at, decimals=0
        )  # uint32 mg/dL
    return fields, (measurement,)


def _need(data: bytes, size: int, request: RequestKind, frame: bytes) -> None:
    if len(data) != size:
        raise FrameError(
            f"{request.value} reply carries {len(data)} bytes, not {size}",
            protocol=PROTOCOL_ID,
            raw=frame,
        )


def _ascii(data: bytes, frame: bytes) -> str:
    try:
        return data.decode("ascii").rstrip("\x00")
    except UnicodeDecodeError as exc:
        raise FrameError("text field is not ASCII", protocol=PROTOCOL_ID, raw=frame) from exc


# --------------------------------------------------------------------------- stream


class UltraEasyStream:
    """Finds packets in a byte stream: feed bytes, ``next_frame()`` returns a Decoded.

    Bytes before an STX are dropped; an STX whose length byte does not lead to an ETX is
    noise and skipped. A packet with a bad CRC raises ChecksumError after it has been
    consumed, so the next call continues with the following bytes. ``next_packet()``
    gives the raw framed packet instead (the link layer uses it).
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_packet(self) -> bytes | NeedData:
        """The next framed packet (CRC checked later by the decoder), or NEED_DATA.

        After NEED_DATA at most one incomplete packet (< 256 bytes) stays buffered.
        """
        buf = self._buf
        start = buf.find(STX)
        while start >= 0:
            if len(buf) - start < 2:
                break
            length = buf[start + 1]
            end = start + length
            if length < OVERHEAD:
                start = buf.find(STX, start + 1)
                continue
            if end > len(buf):
                # Incomplete; a later STX may still hold a complete packet (noise STX).
                later = self._later_valid(start + 1, len(buf))
                if later is None:
                    break
                start = later
                continue
            if buf[end - 3] != ETX:
                start = buf.find(STX, start + 1)
                continue
            if not self._crc_ok(start, end):
                later = self._later_valid(start + 1, end)
                if later is not None:
                    start = later
                    continue
            frame = bytes(buf[start:end])
            del buf[:end]
            return frame
        if start < 0:
            buf.clear()
        else:
            del buf[:start]
        return NEED_DATA

    def _crc_ok(self, start: int, end: int) -> bool:
        wire = int.from_bytes(self._buf[end - 2 : end], "little")
        return wire == crc_ccitt(self._buf[start : end - 2])

    def _later_valid(self, frm: int, before: int) -> int | None:
        """Start of a complete packet with a good CRC beginning in ``[frm, before)``."""
        buf = self._buf
        pos = buf.find(STX, frm, before)
        while pos >= 0 and pos + 2 <= len(buf):
            end = pos + buf[pos + 1]
            if (
                buf[pos + 1] >= OVERHEAD
                and end <= len(buf)
                and buf[end - 3] == ETX
                and self._crc_ok(pos, end)
            ):
                return pos
            pos = buf.find(STX, pos + 1, before)
        return None

    def next_frame(self) -> Decoded | NeedData:
        """The next decoded packet, NEED_DATA, or a ProtocolError for a bad packet."""
        frame = self.next_packet()
        if isinstance(frame, NeedData):
            return NEED_DATA
        return decode(frame)


# --------------------------------------------------------------------------- link layer


@dataclass(frozen=True, slots=True)
class AckReceived:
    """The peer acknowledged our last packet; our sequence bit has flipped."""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A new message from the peer; send ``reply`` (the ACK) now."""

    message: bytes
    reply: bytes


@dataclass(frozen=True, slots=True)
class DuplicateReceived:
    """The peer repeated a message we already took (our ACK was lost); send ``reply``."""

    message: bytes
    reply: bytes


@dataclass(frozen=True, slots=True)
class DisconnectReceived:
    """The peer reset the link; both sequence bits are zero again. Send ``reply``."""

    reply: bytes


@dataclass(frozen=True, slots=True)
class DisconnectAcknowledged:
    """The peer confirmed our disconnect/reset; both sequence bits are zero again."""


LinkEvent = (
    AckReceived | MessageReceived | DuplicateReceived | DisconnectReceived | DisconnectAcknowledged
)


@dataclass(slots=True)
class UltraEasyLink:
    """Sans-IO link layer for either end (host driver or meter simulator).

    ``send(message)`` returns the packet to write; ``receive(packet)`` (or ``feed`` plus
    ``next_event()``) turns the peer's packets into events and tells what to answer. The
    host starts with ``disconnect()`` (a link reset), then alternates request/response::

        host                                   meter
        send(req)      S=s E=e      ------->   MessageReceived -> reply ACK (S=e', E=s')
        AckReceived    <--- ACK --------------
        MessageReceived <-- response S=e' ---   send(resp)
        reply ACK      ------------------->    AckReceived
    """

    send_sequence: bool = False
    expect_sequence: bool = False
    awaiting_ack: bool = False
    last_sent: bytes = b""
    _stream: UltraEasyStream = field(default_factory=UltraEasyStream)

    def reset(self) -> None:
        self.send_sequence = self.expect_sequence = self.awaiting_ack = False

    def disconnect(self) -> bytes:
        """A disconnect (link reset) packet; the peer answers with DISC+ACK."""
        self.reset()
        self.awaiting_ack = True
        self.last_sent = encode_packet(b"", LinkControl(disconnect=True))
        return self.last_sent

    def send(self, message: bytes) -> bytes:
        """The packet carrying ``message``; wait for AckReceived before the next send."""
        if self.awaiting_ack:
            raise RuntimeError("the previous packet has not been acknowledged yet")
        if not message:
            raise ValueError("use disconnect() or the replies from events for empty packets")
        self.awaiting_ack = True
        self.last_sent = encode_packet(
            message,
            LinkControl(sequence_number=self.send_sequence, expect_receive=self.expect_sequence),
        )
        return self.last_sent

    def resend(self) -> bytes:
        """The last packet again (after a reply timeout)."""
        return self.last_sent

    def _ack(self) -> bytes:
        return encode_packet(
            b"",
            LinkControl(
                sequence_number=self.send_sequence,
                expect_receive=self.expect_sequence,
                acknowledge=True,
            ),
        )

    def receive(self, frame: bytes) -> LinkEvent:
        """Handle one complete packet from the peer (ProtocolError if it is bad)."""
        packet = parse_packet(frame)
        link = packet.link
        if link.disconnect:
            self.reset()
            if link.acknowledge:
                return DisconnectAcknowledged()
            return DisconnectReceived(
                encode_packet(b"", LinkControl(disconnect=True, acknowledge=True))
            )
        if link.acknowledge:
            if not self.awaiting_ack:
                raise UnsupportedMessage(
                    "acknowledgement with nothing outstanding", protocol=PROTOCOL_ID, raw=frame
                )
            self.awaiting_ack = False
            self.send_sequence = not self.send_sequence
            return AckReceived()
        if link.sequence_number != self.expect_sequence:
            return DuplicateReceived(packet.message, self._ack())
        self.expect_sequence = not self.expect_sequence
        return MessageReceived(packet.message, self._ack())

    def feed(self, data: bytes) -> None:
        self._stream.feed(data)

    def next_event(self) -> LinkEvent | NeedData:
        """The next event from fed bytes, NEED_DATA, or a ProtocolError for a bad packet."""
        frame = self._stream.next_packet()
        if isinstance(frame, NeedData):
            return NEED_DATA
        return self.receive(frame)


PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "LifeScan OneTouch UltraEasy/UltraMini binary packets (STX/ETX, CRC-CCITT, link bits)",
        PayloadKind.HEX,
        decode,
        examples=(
            bytes.fromhex("02060803c262"),
            bytes.fromhex("020903050d0203089f"),
            encode_packet(request_record(0), LinkControl()),
            encode_packet(
                response_reading(datetime(2015, 3, 21, 16, 45, 24), 105),
                LinkControl(sequence_number=True, expect_receive=True),
            ),
            encode_packet(response_record_count(3), LinkControl()),
        ),
    ),
)
