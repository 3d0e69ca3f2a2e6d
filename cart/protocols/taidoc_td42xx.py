"""TaiDoc TD-42xx glucometer protocol (``taidoc.td42xx``).

Devices: TaiDoc TD-4277 and TD-4235B, sold as GlucoRx Nexus / NexusQ, Menarini GlucoMen
Nexus, Aktivmed GlucoCheck XL. Link: 19200 8N1 through the meter's CP2110 HID-to-UART
bridge (10c4:ea80, pyserial ``cp2110://``). Strict command/response: the host sends one
8-byte frame, the meter answers with one.

Frame (8 bytes)::

    51  CMD  d0 d1 d2 d3  DIR  SUM
    │   │    └─ 4 data ─┘ │    └─ sum of the first 7 bytes, mod 256
    │   │                 └─ A3 host -> meter, A5 meter -> host
    │   └─ command id (the response repeats it)
    └─ start byte

    22 connect        (reply command 22, 24 or 54)     23 read clock -> datetime
    33 set clock (datetime, echoed)                    24 model -> BCD uint16le (0x4277)
    2B record count -> uint16le count, uint16le ?      52 clear memory
    25 record time: uint16le index, 00 00 -> datetime
    26 record value: uint16le index, 00 00 -> uint16le mg/dL, ?, meal (00 / 40 before / 80 after)

    datetime = uint16le day-word, minute, hour; day-word bits 15..9 year-2000,
               8..5 month, 4..0 day.

Records are 0-indexed, newest first; values are always mg/dL. The format carries no HI/LO
or control-solution marker that is publicly documented, so none is decoded.

Sources: glucometerutils ``drivers/td42xx.py`` and ``drivers/tests/test_td42xx.py``
(datetime and packet vectors); glucometer-protocols ``taidoc/td42xx.md`` and
``taidoc/td4277.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any, Final

from cart.errors import ChecksumError, FrameError, IncompleteFrame, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind
from cart.protocols._checksums import sum8
from cart.protocols.base import NEED_DATA, Decoded, NeedData, PayloadKind, ProtocolSpec

__all__ = [
    "MEAL_FLAGS",
    "PROTOCOLS",
    "PROTOCOL_ID",
    "Command",
    "Direction",
    "Frame",
    "TaiDocStream",
    "combine_reading",
    "decode",
    "encode_frame",
    "parse_frame",
    "request_clear_memory",
    "request_connect",
    "request_model",
    "request_read_clock",
    "request_record_count",
    "request_record_time",
    "request_record_value",
    "request_set_clock",
    "response_clear_memory",
    "response_clock",
    "response_connect",
    "response_model",
    "response_record_count",
    "response_record_time",
    "response_record_value",
    "response_set_clock",
]

PROTOCOL_ID: Final = "taidoc.td42xx"
START: Final = 0x51
FRAME_LEN: Final = 8
EMPTY: Final = bytes(4)


class Direction(IntEnum):
    TO_METER = 0xA3
    TO_HOST = 0xA5


class Command(IntEnum):
    CONNECT = 0x22
    READ_CLOCK = 0x23
    MODEL = 0x24
    RECORD_TIME = 0x25
    RECORD_VALUE = 0x26
    RECORD_COUNT = 0x2B
    SET_CLOCK = 0x33
    CLEAR_MEMORY = 0x52
    CONNECT_ALT = 0x54
    """Seen as a reply to CONNECT only."""


CONNECT_REPLIES: Final = frozenset({0x22, 0x24, 0x54})

#: meal byte -> context["meal"] (None: no marker)
MEAL_FLAGS: Final[dict[int, str | None]] = {0x00: None, 0x40: "preprandial", 0x80: "postprandial"}
_MEAL_BYTES: Final = {"preprandial": 0x40, "postprandial": 0x80}


@dataclass(frozen=True, slots=True)
class Frame:
    command: int
    data: bytes
    direction: Direction


def encode_frame(
    command: int, data: bytes = EMPTY, direction: Direction = Direction.TO_METER
) -> bytes:
    """``51 CMD d0..d3 DIR SUM``."""
    if len(data) != 4:
        raise ValueError("data must be exactly 4 bytes")
    if not 0 <= command <= 0xFF:
        raise ValueError("command must be a byte")
    body = bytes((START, command)) + data + bytes((Direction(direction),))
    return body + bytes((sum8(body),))


def parse_frame(frame: bytes) -> Frame:
    """Check start byte, length, direction and checksum; no interpretation of the data."""
    if not frame:
        raise IncompleteFrame("empty frame", protocol=PROTOCOL_ID, raw=frame)
    if frame[0] != START:
        raise FrameError(
            f"frame starts with 0x{frame[0]:02X}, not 0x51", protocol=PROTOCOL_ID, raw=frame
        )
    if len(frame) < FRAME_LEN:
        raise IncompleteFrame(
            f"frame is {len(frame)} of {FRAME_LEN} bytes", protocol=PROTOCOL_ID, raw=frame
        )
    if len(frame) > FRAME_LEN:
        raise FrameError(
            f"frame is {len(frame)} bytes, not {FRAME_LEN}", protocol=PROTOCOL_ID, raw=frame
        )
    wire, calculated = frame[7], sum8(frame[:7])
    if wire != calculated:
        raise ChecksumError(wire, calculated, protocol=PROTOCOL_ID, raw=frame)
    if frame[6] not in (Direction.TO_METER, Direction.TO_HOST):
        raise FrameError(
            f"direction byte 0x{frame[6]:02X} is neither A3 nor A5",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    return Frame(frame[1], bytes(frame[2:6]), Direction(frame[6]))


# --------------------------------------------------------------------------- fields


def _encode_datetime(when: datetime) -> bytes:
    if not 2000 <= when.year <= 2127:
        raise ValueError("the meter keeps years 2000-2127")
    word = ((when.year - 2000) << 9) | (when.month << 5) | when.day
    return word.to_bytes(2, "little") + bytes((when.minute, when.hour))


def _decode_datetime(data: bytes, frame: bytes) -> datetime:
    word = int.from_bytes(data[:2], "little")
    year, month, day = 2000 + (word >> 9), (word >> 5) & 0x0F, word & 0x1F
    minute, hour = data[2], data[3]
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError as exc:
        raise FrameError(
            f"invalid date/time {year}-{month}-{day} {hour}:{minute}: {exc}",
            protocol=PROTOCOL_ID,
            raw=frame,
        ) from exc


def _index(index: int) -> bytes:
    if not 0 <= index <= 0xFFFF:
        raise ValueError("record index must fit 16 bits")
    return index.to_bytes(2, "little") + b"\x00\x00"


def _bcd(model: int) -> int:
    text = str(model)
    if len(text) > 4:
        raise ValueError("model must have at most 4 digits")
    return int(text, 16)


# --------------------------------------------------------------------------- encoders


def request_connect() -> bytes:
    return encode_frame(Command.CONNECT)


def request_read_clock() -> bytes:
    return encode_frame(Command.READ_CLOCK)


def request_set_clock(when: datetime) -> bytes:
    return encode_frame(Command.SET_CLOCK, _encode_datetime(when))


def request_model() -> bytes:
    return encode_frame(Command.MODEL)


def request_record_count() -> bytes:
    return encode_frame(Command.RECORD_COUNT)


def request_record_time(index: int) -> bytes:
    return encode_frame(Command.RECORD_TIME, _index(index))


def request_record_value(index: int) -> bytes:
    return encode_frame(Command.RECORD_VALUE, _index(index))


def request_clear_memory() -> bytes:
    return encode_frame(Command.CLEAR_MEMORY)


def response_connect(command: int = Command.CONNECT) -> bytes:
    if command not in CONNECT_REPLIES:
        raise ValueError("connect replies use command 0x22, 0x24 or 0x54")
    return encode_frame(command, EMPTY, Direction.TO_HOST)


def response_clock(when: datetime) -> bytes:
    return encode_frame(Command.READ_CLOCK, _encode_datetime(when), Direction.TO_HOST)


def response_set_clock(when: datetime) -> bytes:
    return encode_frame(Command.SET_CLOCK, _encode_datetime(when), Direction.TO_HOST)


def response_model(model: int = 4277) -> bytes:
    return encode_frame(
        Command.MODEL, _bcd(model).to_bytes(2, "little") + b"\x00\x00", Direction.TO_HOST
    )


def response_record_count(count: int, extra: int | None = None) -> bytes:
    """Record count; ``extra`` is the undocumented second word (0xFFFF when empty)."""
    if not 0 <= count <= 0xFFFF:
        raise ValueError("count must fit 16 bits")
    if extra is None:
        extra = 0xFFFF if count == 0 else 0x0006
    data = count.to_bytes(2, "little") + extra.to_bytes(2, "little")
    return encode_frame(Command.RECORD_COUNT, data, Direction.TO_HOST)


def response_record_time(when: datetime) -> bytes:
    return encode_frame(Command.RECORD_TIME, _encode_datetime(when), Direction.TO_HOST)


def response_record_value(value_mg_dl: int, meal: str | None = None, extra: int = 0x06) -> bytes:
    """One reading's value (mg/dL) and meal marker (None, preprandial, postprandial)."""
    if not 0 <= value_mg_dl <= 0xFFFF:
        raise ValueError("value must fit 16 bits")
    if meal is not None and meal not in _MEAL_BYTES:
        raise ValueError(f"meal must be None or one of {sorted(_MEAL_BYTES)}")
    flag = _MEAL_BYTES[meal] if meal else 0x00
    data = value_mg_dl.to_bytes(2, "little") + bytes((extra & 0xFF, flag))
    return encode_frame(Command.RECORD_VALUE, data, Direction.TO_HOST)


def response_clear_memory() -> bytes:
    return encode_frame(Command.CLEAR_MEMORY, EMPTY, Direction.TO_HOST)


# --------------------------------------------------------------------------- decoding


def decode(frame: bytes) -> Decoded:
    """Decode one 8-byte frame in either direction."""
    parsed = parse_frame(frame)
    command, data = parsed.command, parsed.data
    to_host = parsed.direction is Direction.TO_HOST
    record: dict[str, Any] = {
        "command": command,
        "direction": "meter_to_host" if to_host else "host_to_meter",
        "data": data.hex(),
    }
    measurements: tuple[Measurement, ...] = ()
    name: str
    if command == Command.CONNECT or (to_host and command == Command.CONNECT_ALT):
        name = "connect"
    elif command in (Command.READ_CLOCK, Command.SET_CLOCK):
        name = "read_clock" if command == Command.READ_CLOCK else "set_clock"
        if to_host or command == Command.SET_CLOCK:
            record["timestamp"] = _decode_datetime(data, frame).isoformat()
    elif command == Command.MODEL:
        name = "model"
        if to_host:
            bcd = int.from_bytes(data[:2], "little")
            digits = f"{bcd:x}"
            record["model"] = f"TD-{digits}" if digits.isdigit() else None
    elif command == Command.RECORD_COUNT:
        name = "record_count"
        if to_host:
            record["count"] = int.from_bytes(data[:2], "little")
            record["extra"] = int.from_bytes(data[2:], "little")
    elif command in (Command.RECORD_TIME, Command.RECORD_VALUE):
        name = "record_time" if command == Command.RECORD_TIME else "record_value"
        if not to_host:
            record["record_index"] = int.from_bytes(data[:2], "little")
        elif command == Command.RECORD_TIME:
            record["timestamp"] = _decode_datetime(data, frame).isoformat()
        else:
            value, meal = _reading_fields(record, data)
            measurements = (_measurement(value, meal, None),)
    elif command == Command.CLEAR_MEMORY:
        name = "clear_memory"
    else:
        raise UnsupportedMessage(
            f"unknown TD-42xx command 0x{command:02X}", protocol=PROTOCOL_ID, raw=frame
        )
    record["message"] = name
    return Decoded(PROTOCOL_ID, record, measurements, raw=frame)


def _reading_fields(record: dict[str, Any], data: bytes) -> tuple[int, str | None]:
    value = int.from_bytes(data[:2], "little")
    meal = MEAL_FLAGS.get(data[3])
    record.update(
        value=value,
        unit="mg/dL",
        extra=data[2],
        meal_flag=data[3],
        meal=meal if data[3] in MEAL_FLAGS else "unknown",
    )
    return value, meal


def _measurement(value: int, meal: str | None, measured_at: datetime | None) -> Measurement:
    return Measurement.create(
        MeasurementKind.GLUCOSE,
        value,
        "mg/dL",
        measured_at=measured_at,
        context={"meal": meal} if meal else None,
        decimals=0,  # uint16 mg/dL
    )


def combine_reading(time_frame: bytes, value_frame: bytes, *, index: int | None = None) -> Decoded:
    """One stored reading from the meter's 0x25 (time) and 0x26 (value) replies."""
    time_decoded = decode(time_frame)
    value_decoded = decode(value_frame)
    if time_decoded.record["message"] != "record_time" or "timestamp" not in time_decoded.record:
        raise UnsupportedMessage(
            "first frame is not a record-time reply", protocol=PROTOCOL_ID, raw=time_frame
        )
    if value_decoded.record["message"] != "record_value" or not value_decoded.measurements:
        raise UnsupportedMessage(
            "second frame is not a record-value reply", protocol=PROTOCOL_ID, raw=value_frame
        )
    measured_at = datetime.fromisoformat(time_decoded.record["timestamp"])
    value = value_decoded.record["value"]
    meal = MEAL_FLAGS.get(value_decoded.record["meal_flag"])
    record = {
        "message": "reading",
        "record_index": index,
        "timestamp": measured_at.isoformat(),
        "value": value,
        "unit": "mg/dL",
        "meal_flag": value_decoded.record["meal_flag"],
        "extra": value_decoded.record["extra"],
    }
    return Decoded(
        PROTOCOL_ID,
        record,
        (_measurement(value, meal, measured_at),),
        raw=time_frame + value_frame,
    )


# --------------------------------------------------------------------------- stream


class TaiDocStream:
    """Finds 8-byte frames in a byte stream: feed bytes, ``next_frame()`` returns a Decoded.

    Bytes before a 0x51 are dropped, and a 0x51 whose byte 6 is not a direction byte is
    skipped as noise. A frame with a bad checksum raises ChecksumError once consumed
    (unless a good frame starts inside it, which wins), so decoding continues after it.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_raw(self) -> bytes | NeedData:
        """The next framed 8 bytes (checksum checked by the decoder), or NEED_DATA."""
        buf = self._buf
        start = buf.find(START)
        while start >= 0:
            if len(buf) - start < FRAME_LEN:
                later = self._later_valid(start + 1, len(buf))
                if later is None:
                    break
                start = later
                continue
            if buf[start + 6] not in (Direction.TO_METER, Direction.TO_HOST):
                start = buf.find(START, start + 1)
                continue
            if not self._sum_ok(start):
                later = self._later_valid(start + 1, start + FRAME_LEN)
                if later is not None:
                    start = later
                    continue
            frame = bytes(buf[start : start + FRAME_LEN])
            del buf[: start + FRAME_LEN]
            return frame
        if start < 0:
            buf.clear()
        else:
            del buf[:start]
        return NEED_DATA

    def _sum_ok(self, start: int) -> bool:
        return self._buf[start + 7] == sum8(self._buf[start : start + 7])

    def _later_valid(self, frm: int, before: int) -> int | None:
        buf = self._buf
        pos = buf.find(START, frm, before)
        while pos >= 0 and pos + FRAME_LEN <= len(buf):
            if buf[pos + 6] in (Direction.TO_METER, Direction.TO_HOST) and self._sum_ok(pos):
                return pos
            pos = buf.find(START, pos + 1, before)
        return None

    def next_frame(self) -> Decoded | NeedData:
        """The next decoded frame, NEED_DATA, or a ProtocolError for a bad frame."""
        frame = self.next_raw()
        if isinstance(frame, NeedData):
            return NEED_DATA
        return decode(frame)


PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "TaiDoc TD-42xx 8-byte frames (GlucoRx/GlucoMen Nexus; 0x51 ... A3/A5 sum)",
        PayloadKind.HEX,
        decode,
        examples=(
            bytes.fromhex("512200000000a316"),
            response_record_time(datetime(2019, 8, 4, 13, 37)),
            response_record_value(105, "preprandial"),
            response_model(4277),
            request_record_value(0),
        ),
    ),
)
