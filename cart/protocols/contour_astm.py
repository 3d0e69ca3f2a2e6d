"""Bayer/Ascensia Contour ASTM E1381 frames and E1394 records (``contour.astm``).

Devices: Bayer/Ascensia Contour family (Contour, Contour USB, Contour Next, Next USB, Next
One...) over their serial data cable or their USB-HID wrapper (which carries the same
bytes). The meter is the sender: it opens with ENQ, sends numbered frames that the host
acknowledges one by one, and closes with EOT.

E1381 low level (link) ::

    meter  ENQ                     host  ACK          establishment
    meter  STX FN text ETB|ETX C1 C2 CR LF             transfer, FN = 1,2..7,0,1..
    host   ACK (next frame) / NAK (send the same frame again, at most 6 times)
    meter  EOT                                          termination

    STX '1' H|\\^&||... CR ETB 'D' '7' CR LF
        └FN┘ └─ text ─────┘ │   └C1C2┘ checksum: sum mod 256 of the bytes from FN
                            │          through ETB/ETX, two upper-case hex digits
                            └─ ETB: more follows; ETX: last frame. A frame whose text does
                               not end with CR carries part of a record (continuation).

E1394 records (field | repeat \\ component ^ escape &, set by the header)::

    H|\\^&||pwd|Bayer7390^01.24\\01.04\\09.02.20^7390-2336773^7403-|A=1^U=0|1714||||||1|201909221304
      │         └ product^versions^serial^sku                  └ config   └ records  └ date
      └ delimiters (config U=0 mg/dL, U=1 mmol/L)
    P|1                                              patient
    R|8|^^^Glucose|133|mg/dL^P||B/X||201202052034    result (Contour USB layout, 9 fields)
      └seq └test    └value └unit^method └markers └YYYYMMDDHHMM
    R|2|^^^Glucose|600|mg/dL^P|0|>|B||||200701011200  classic layout: flags, marks, status, date
    L|1|N                                            terminator

Markers: ``<`` below the meter's range (LO), ``>`` above it (HI), ``B`` before a meal,
``A`` after a meal, ``C`` control solution; others (``D``, ``X``, ``M0``, ``T1``, ``Z1``...)
are kept in the record only.

Sources: ASTM E1381-02 / CLSI LIS1-A §6 (frames, checksum, ENQ/ACK/NAK/EOT, 6 retries) and
E1394-97 / LIS2-A2 §6-§9 (record fields); glucometerutils ``support/contourusb.py``,
``support/lis.py``, ``drivers/contourusb.py`` and ``drivers/tests/test_contourusb.py``
(header frame vector, result record vector); tidepool-org uploader
``lib/drivers/bayer/bayerContour.js`` and ``bayerConstants.js`` (classic result layout,
reference methods, meal marks); GGC (andyrozman/ggc) ``AscensiaDecoder`` (markers ``<``,
``>``, ``B``, ``A``, ``C``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from cart.errors import (
    BufferOverflow,
    ChecksumError,
    FrameError,
    IncompleteFrame,
    ProtocolError,
    UnsupportedMessage,
)
from cart.measurement import Measurement, MeasurementKind, Special, decimals_of
from cart.protocols._checksums import astm_checksum
from cart.protocols.base import NEED_DATA, Decoded, NeedData, PayloadKind, ProtocolSpec

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_ID",
    "AstmStream",
    "ContourReceiver",
    "ContourSender",
    "Delimiters",
    "DuplicateFrame",
    "Established",
    "Frame",
    "FrameRejected",
    "ReceiverEvent",
    "RecordReceived",
    "SenderState",
    "TransferComplete",
    "decode",
    "decode_record",
    "encode_frame",
    "encode_header",
    "encode_message",
    "encode_patient",
    "encode_result",
    "encode_terminator",
    "parse_frame",
]

PROTOCOL_ID: Final = "contour.astm"

STX: Final = 0x02
ETX: Final = 0x03
EOT: Final = 0x04
ENQ: Final = 0x05
ACK: Final = 0x06
LF: Final = 0x0A
CR: Final = 0x0D
NAK: Final = 0x15
ETB: Final = 0x17

CONTROL_NAMES: Final = {ENQ: "ENQ", ACK: "ACK", NAK: "NAK", EOT: "EOT"}
MAX_TEXT: Final = 240
"""E1381: at most 240 text characters per frame (247 bytes with the framing)."""
MAX_FRAME: Final = MAX_TEXT + 7
MAX_RETRIES: Final = 6
MAX_RECORD: Final = 32 * 1024

_BREAKERS: Final = frozenset({STX, ENQ, EOT, ACK, NAK, LF})
_NUMBER: Final = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,4})?")
_HEX: Final = frozenset(b"0123456789ABCDEF")
_GLUCOSE: Final = MeasurementKind.GLUCOSE
#: what frame text must not hold: control characters other than CR, and DEL
_TEXT_CONTROLS: Final = bytes(b for b in range(0x20) if b != CR) + b"\x7f"

REFERENCE_METHODS: Final = {"P": "plasma", "B": "whole_blood", "C": "capillary"}
GLUCOSE_UNITS: Final = {"mg/dL": "mg/dL", "mmol/L": "mmol/L"}


@dataclass(frozen=True, slots=True)
class Delimiters:
    """E1394 delimiters, defined by the four characters after ``H`` in the header."""

    field: str = "|"
    repeat: str = "\\"
    component: str = "^"
    escape: str = "&"

    def __str__(self) -> str:
        return self.field + self.repeat + self.component + self.escape


DEFAULT_DELIMITERS: Final = Delimiters()


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True)
class Frame:
    number: int
    text: bytes
    final: bool
    """True for an ETX frame (end of the message), False for ETB."""

    @property
    def ends_record(self) -> bool:
        """The text ends with the record's CR (else the record continues in the next frame)."""
        return self.text.endswith(b"\r") or self.final


def encode_frame(number: int, text: str | bytes, *, final: bool = True) -> bytes:
    """``STX FN text ETX|ETB C1 C2 CR LF``; ``text`` includes the record's CR if it ends one."""
    if not 0 <= number <= 7:
        raise ValueError("frame number must be 0-7")
    data = text.encode("latin-1") if isinstance(text, str) else text
    if len(data) > MAX_TEXT:
        raise ValueError(f"frame text is limited to {MAX_TEXT} characters")
    if any(b in _BREAKERS or b in (ETX, ETB) for b in data):
        raise ValueError("frame text must not contain link control characters")
    body = str(number).encode("ascii") + data + bytes((ETX if final else ETB,))
    return bytes((STX,)) + body + f"{astm_checksum(body):02X}\r\n".encode("ascii")


def parse_frame(frame: bytes) -> Frame:
    """Check framing, frame number and checksum of one STX..LF frame."""
    if not frame or frame[0] != STX:
        raise FrameError("frame does not start with STX", protocol=PROTOCOL_ID, raw=frame)
    if len(frame) > MAX_FRAME:
        raise FrameError(
            f"frame is {len(frame)} bytes, longer than {MAX_FRAME}", protocol=PROTOCOL_ID, raw=frame
        )
    if len(frame) < 7 or not frame.endswith(b"\r\n"):
        if frame.endswith(b"\n") or (len(frame) >= 7 and (ETX in frame or ETB in frame)):
            raise FrameError("frame does not end with C1 C2 CR LF", protocol=PROTOCOL_ID, raw=frame)
        raise IncompleteFrame("frame ends before its checksum", protocol=PROTOCOL_ID, raw=frame)
    terminator = frame[-5]
    if terminator not in (ETX, ETB):
        raise FrameError(
            f"byte before the checksum is 0x{terminator:02X}, not ETX/ETB",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    if not 0x30 <= frame[1] <= 0x37:
        raise FrameError(
            f"frame number 0x{frame[1]:02X} is not '0'-'7'", protocol=PROTOCOL_ID, raw=frame
        )
    c1c2 = frame[-4:-2]
    if not set(c1c2) <= _HEX:
        raise FrameError(f"checksum {c1c2!r} is not hex", protocol=PROTOCOL_ID, raw=frame)
    wire, calculated = int(c1c2, 16), astm_checksum(frame[1:-4])
    if wire != calculated:
        raise ChecksumError(wire, calculated, protocol=PROTOCOL_ID, raw=frame)
    text = frame[2:-5]
    if len(text.translate(None, _TEXT_CONTROLS)) != len(text):
        raise FrameError("control character inside frame text", protocol=PROTOCOL_ID, raw=frame)
    return Frame(frame[1] - 0x30, bytes(text), terminator == ETX)


def encode_message(
    records: Iterable[str | bytes],
    *,
    first_number: int = 1,
    etb_between_records: bool = True,
    max_text: int = MAX_TEXT,
) -> list[bytes]:
    """All frames of a message: each record (CR appended) cut into frames of ``max_text``.

    Frames inside a record end with ETB. The last frame of each record ends with ETB as
    well when ``etb_between_records`` (what Contour meters send) and with ETX otherwise;
    the last frame of the message always ends with ETX.
    """
    if not 1 <= max_text <= MAX_TEXT:
        raise ValueError(f"max_text must be 1-{MAX_TEXT}")
    items = [r.encode("latin-1") if isinstance(r, str) else r for r in records]
    frames: list[bytes] = []
    number = first_number % 8
    for i, record in enumerate(items):
        data = record + b"\r"
        chunks = [data[j : j + max_text] for j in range(0, len(data), max_text)]
        for k, chunk in enumerate(chunks):
            last_of_record = k == len(chunks) - 1
            last_of_message = last_of_record and i == len(items) - 1
            final = last_of_message or (last_of_record and not etb_between_records)
            frames.append(encode_frame(number, chunk, final=final))
            number = (number + 1) % 8
    return frames


# --------------------------------------------------------------------------- records


def encode_header(
    *,
    product: str = "Bayer7390",
    versions: Sequence[str] = ("01.24", "01.04", "09.02.20"),
    serial: str = "7390-2336773",
    sku: str = "7403-",
    config: Sequence[tuple[str, str]] = (("A", "1"), ("U", "0")),
    password: str = "",
    total: int | None = None,
    processing_id: str = "",
    version: str = "1",
    when: datetime | None = None,
) -> str:
    """A Contour header record (without CR)."""
    d = DEFAULT_DELIMITERS
    sender = d.component.join((product, d.repeat.join(versions), serial, sku))
    cfg = d.component.join(f"{k}={v}" for k, v in config)
    fields = [
        "H",
        str(d)[1:],
        "",
        password,
        sender,
        cfg,
        "" if total is None else str(total),
        "",
        "",
        "",
        "",
        processing_id,
        version,
        when.strftime("%Y%m%d%H%M") if when else "",
    ]
    return d.field.join(fields)


def encode_patient(sequence: int = 1) -> str:
    return f"P|{sequence}"


def encode_result(
    sequence: int,
    value: float | str,
    when: datetime,
    *,
    unit: str = "mg/dL",
    reference_method: str = "P",
    markers: Sequence[str] = (),
    classic: bool = False,
    user_marks: Sequence[str] = (),
    status: str = "",
) -> str:
    """A glucose result record (without CR). ``value`` is printed as given.

    Contour USB layout by default (markers ``/``-joined in field 7); ``classic=True`` gives
    the serial Contour layout with abnormal flags, user marks and status in fields 7-9.
    """
    if unit not in GLUCOSE_UNITS:
        raise ValueError("unit must be mg/dL or mmol/L")
    shown = value if isinstance(value, str) else f"{value:g}"
    head = f"R|{sequence}|^^^Glucose|{shown}|{unit}^{reference_method}|"
    stamp = when.strftime("%Y%m%d%H%M")
    if classic:
        return head + f"|{'/'.join(markers)}|{'/'.join(user_marks)}|{status}|||{stamp}"
    return head + f"|{'/'.join(markers)}||{stamp}"


def encode_terminator(sequence: int = 1, code: str = "N") -> str:
    return f"L|{sequence}|{code}"


def decode_record(text: str | bytes, delimiters: Delimiters = DEFAULT_DELIMITERS) -> Decoded:
    """Decode one E1394 record (without frame; trailing CR allowed)."""
    record, measurements, raw = _record(text, delimiters)
    return Decoded(PROTOCOL_ID, record, measurements, raw=raw)


_Parts = tuple[dict[str, Any], tuple[Measurement, ...], bytes]


def _record(text: str | bytes, delimiters: Delimiters) -> _Parts:
    """:func:`decode_record` as (record, measurements, raw bytes)."""
    raw = text if isinstance(text, bytes) else text.encode("latin-1", "replace")
    if isinstance(text, bytes):
        try:
            body = text.decode("ascii")
        except UnicodeDecodeError as exc:
            raise FrameError("record is not ASCII", protocol=PROTOCOL_ID, raw=raw) from exc
    else:
        body = text
    body = body.rstrip("\r\n")
    if not body:
        raise IncompleteFrame("empty record", protocol=PROTOCOL_ID, raw=raw)
    if len(body) > MAX_RECORD:
        raise FrameError("record too long", protocol=PROTOCOL_ID, raw=raw)
    kind = body[0]
    if kind == "H":
        return _decode_header(body, raw)
    if len(body) < 2 or body[1] != delimiters.field:
        raise FrameError(
            f"record type {kind!r} not followed by the field delimiter",
            protocol=PROTOCOL_ID,
            raw=raw,
        )
    fields = body.split(delimiters.field)
    if kind == "R":
        return _decode_result(fields, delimiters, raw)
    if kind == "P":
        record = {"record_type": "patient", "sequence_number": _int(fields[1], raw)}
        return record, (), raw
    if kind == "L":
        record = {
            "record_type": "terminator",
            "sequence_number": _int(fields[1], raw),
            "termination_code": fields[2] if len(fields) > 2 and fields[2] else None,
        }
        return record, (), raw
    raise UnsupportedMessage(f"record type {kind!r} is not decoded", protocol=PROTOCOL_ID, raw=raw)


def header_delimiters(text: str) -> Delimiters:
    """The delimiters a header record defines (FrameError if they are not four distinct)."""
    if len(text) < 5 or text[0] != "H":
        raise FrameError("not a header record", protocol=PROTOCOL_ID)
    chars = text[1:5]
    if len(set(chars)) != 4 or any(not 0x20 < ord(c) < 0x7F or c.isalnum() for c in chars):
        raise FrameError(f"invalid delimiter definition {chars!r}", protocol=PROTOCOL_ID)
    return Delimiters(*chars)


def _decode_header(body: str, raw: bytes) -> _Parts:
    try:
        d = header_delimiters(body)
    except FrameError as exc:
        raise FrameError(exc.message, protocol=PROTOCOL_ID, raw=raw) from None
    fields = body.split(d.field)
    fields += [""] * (14 - len(fields))
    sender = fields[4].split(d.component)
    sender += [""] * (4 - len(sender))
    config: dict[str, str] = {}
    for item in fields[5].split(d.component):
        key, sep, value = item.partition("=")
        if sep:
            config[key] = value
    unit = {"0": "mg/dL", "1": "mmol/L"}.get(config.get("U", ""))
    stamp = fields[13].strip()
    record: dict[str, Any] = {
        "record_type": "header",
        "delimiters": str(d),
        "access_password": fields[3] or None,
        "product_code": sender[0] or None,
        "versions": [v for v in sender[1].split(d.repeat) if v],
        "serial_number": sender[2] or None,
        "sku": sender[3] or None,
        "config": config,
        "glucose_unit": unit,
        "number_of_records": _int(fields[6], raw) if fields[6] else None,
        "processing_id": fields[11] or None,
        "version": fields[12] or None,
        "timestamp": _timestamp(stamp, raw).isoformat() if stamp else None,
    }
    return record, (), raw


def _decode_result(fields: list[str], d: Delimiters, raw: bytes) -> _Parts:
    if len(fields) >= 12 and _digits(fields[11]):
        layout, stamp = "classic", fields[11]
        markers = _tokens(fields[6], d) + _tokens(fields[7], d)
        status = fields[8] or None
    elif len(fields) >= 9 and _digits(fields[8]):
        layout, stamp = "usb", fields[8]
        markers, status = _tokens(fields[6], d), None
    else:
        raise FrameError(
            "result record has no YYYYMMDDHHMM date field", protocol=PROTOCOL_ID, raw=raw
        )
    sequence = _int(fields[1], raw)
    analyte = next((c for c in reversed(fields[2].split(d.component)) if c), "")
    unit_parts = fields[4].split(d.component)
    unit = unit_parts[0]
    method = unit_parts[1] if len(unit_parts) > 1 else ""
    measured_at = _timestamp(stamp, raw)
    record: dict[str, Any] = {
        "record_type": "result",
        "sequence_number": sequence,
        "test_id": analyte,
        "value": fields[3],
        "unit": unit,
        "reference_method": REFERENCE_METHODS.get(method, method or None),
        "markers": markers,
        "result_status": status,
        "timestamp": measured_at.isoformat(),
        "layout": layout,
    }
    if analyte != "Glucose":
        return record, (), raw
    if unit not in GLUCOSE_UNITS:
        raise UnsupportedMessage(f"glucose unit {unit!r}", protocol=PROTOCOL_ID, raw=raw)
    flags: list[str] = []
    context: dict[str, str] = {}
    if "C" in markers:
        flags.append("control_solution")
    if "B" in markers:
        context["meal"] = "preprandial"
    elif "A" in markers:
        context["meal"] = "postprandial"
    special: Special | None = None
    value: float | None = None
    if ">" in markers:
        flags.append("above_range")
        special = Special.POS_INF
    elif "<" in markers:
        flags.append("below_range")
        special = Special.NEG_INF
    else:
        value = _number(fields[3], raw)
    measurement = Measurement.create(
        _GLUCOSE,
        value,
        GLUCOSE_UNITS[unit],
        special=special,
        measured_at=measured_at,
        flags=flags,
        sequence=sequence,
        context=context,
        # the digits of the R record as sent: 133 mg/dL -> 0, 7.4 mmol/L -> 1
        decimals=None if value is None else decimals_of(fields[3]),
    )
    return record, (measurement,), raw


def _digits(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts "²" and other Unicode digits)."""
    return text.isascii() and text.isdigit()


def _tokens(text: str, d: Delimiters) -> list[str]:
    out: list[str] = []
    for part in text.split("/"):
        out.extend(t for t in part.split(d.repeat) if t)
    return out


def _int(text: str, raw: bytes) -> int:
    if not _digits(text) or len(text) > 9:
        raise FrameError(f"expected a number, got {text[:12]!r}", protocol=PROTOCOL_ID, raw=raw)
    return int(text)


def _number(text: str, raw: bytes) -> float:
    if _NUMBER.fullmatch(text) is None:
        raise FrameError(f"value {text[:12]!r} is not a reading", protocol=PROTOCOL_ID, raw=raw)
    # float() of a plain decimal string is correctly rounded: float(Decimal(text)) exactly
    return float(text)


def _timestamp(text: str, raw: bytes) -> datetime:
    if len(text) not in (12, 14) or not _digits(text):
        raise FrameError(f"date {text!r} is not YYYYMMDDHHMM[SS]", protocol=PROTOCOL_ID, raw=raw)
    second = int(text[12:14]) if len(text) == 14 else 0
    try:
        return datetime(
            int(text[:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            second,
        )
    except ValueError as exc:
        raise FrameError(f"invalid date {text!r}: {exc}", protocol=PROTOCOL_ID, raw=raw) from exc


# --------------------------------------------------------------------------- decode


def decode(frame: bytes) -> Decoded:
    """Decode a link control byte, one STX..LF frame, or a bare record."""
    if len(frame) == 1 and frame[0] in CONTROL_NAMES:
        return Decoded(
            PROTOCOL_ID, {"message": "control", "control": CONTROL_NAMES[frame[0]]}, (), raw=frame
        )
    if frame[:1] == bytes((STX,)):
        parsed = parse_frame(frame)
        link = {"frame_number": parsed.number, "final_frame": parsed.final}
        if not parsed.ends_record:
            record = {"message": "frame", **link, "text": parsed.text.decode("latin-1")}
            return Decoded(PROTOCOL_ID, record, (), raw=frame)
        record, measurements, _ = _record(parsed.text, DEFAULT_DELIMITERS)
        return Decoded(
            PROTOCOL_ID, {"message": "record", **link, **record}, measurements, raw=frame
        )
    record, measurements, _ = _record(frame, DEFAULT_DELIMITERS)
    return Decoded(PROTOCOL_ID, {"message": "record", **record}, measurements, raw=frame)


# --------------------------------------------------------------------------- stream


class AstmStream:
    """Splits the byte stream into link control bytes and STX..LF frames.

    ``next_token()`` returns the raw bytes (one control byte or a whole frame);
    ``next_frame()`` decodes them. Bytes outside frames that are not control characters are
    dropped. A frame cut short by another STX or a control byte raises IncompleteFrame; more
    than ``max_frame`` bytes without a LF raise BufferOverflow. Both discard the bad bytes.
    """

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_token(self) -> bytes | NeedData:
        buf = self._buf
        while buf:
            first = buf[0]
            if first in CONTROL_NAMES:
                del buf[0]
                return bytes((first,))
            if first != STX:
                skip = 1
                while skip < len(buf) and buf[skip] != STX and buf[skip] not in CONTROL_NAMES:
                    skip += 1
                del buf[:skip]
                continue
            end = next((i for i in range(1, len(buf)) if buf[i] in _BREAKERS), -1)
            if end == -1:
                if len(buf) > self._max:
                    raw = bytes(buf[:64])
                    buf.clear()
                    raise BufferOverflow(self._max, protocol=PROTOCOL_ID, raw=raw)
                return NEED_DATA
            if buf[end] != LF:
                cut = bytes(buf[:end])
                del buf[:end]
                raise IncompleteFrame(
                    "frame interrupted before its CR LF", protocol=PROTOCOL_ID, raw=cut
                )
            frame = bytes(buf[: end + 1])
            del buf[: end + 1]
            return frame
        return NEED_DATA

    def next_frame(self) -> Decoded | NeedData:
        token = self.next_token()
        if isinstance(token, NeedData):
            return NEED_DATA
        return decode(token)


# --------------------------------------------------------------------------- receiver


@dataclass(frozen=True, slots=True)
class Established:
    """The meter sent ENQ; ACK is queued in ``data_to_send()``."""


@dataclass(frozen=True, slots=True)
class RecordReceived:
    """A complete record; ``decoded`` is None and ``error`` set if the record did not decode
    (the frame itself was fine and has been ACKed)."""

    text: str
    decoded: Decoded | None
    error: ProtocolError | None = None


@dataclass(frozen=True, slots=True)
class FrameRejected:
    """A bad frame (checksum, number, framing); NAK is queued, the meter will resend."""

    error: ProtocolError


@dataclass(frozen=True, slots=True)
class DuplicateFrame:
    """The meter repeated the previous frame (our ACK was lost); ACK queued, frame ignored."""

    number: int


@dataclass(frozen=True, slots=True)
class TransferComplete:
    """EOT: the meter has finished (or aborted) the message."""


ReceiverEvent = Established | RecordReceived | FrameRejected | DuplicateFrame | TransferComplete


class ReceiverState(StrEnum):
    IDLE = "idle"
    TRANSFER = "transfer"


@dataclass(slots=True)
class ContourReceiver:
    """Host side of the E1381 dialogue (sans-IO): ``feed`` bytes, pull ``next_event()``,
    write ``data_to_send()`` back to the meter after each event.

    Frame numbers must run 1, 2..7, 0, 1..; a repeated previous frame is ACKed and dropped.
    Records split over ETB frames are joined. The header's delimiters are used for the
    following records. A frame that arrives without ENQ is accepted when it is frame 1
    (Contour USB sends its header right after the host's EOT).
    """

    state: ReceiverState = ReceiverState.IDLE
    expected_number: int = 1
    delimiters: Delimiters = DEFAULT_DELIMITERS
    header: Decoded | None = None
    _stream: AstmStream = field(default_factory=AstmStream)
    _partial: bytearray = field(default_factory=bytearray)
    _out: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> None:
        self._stream.feed(data)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def _begin(self) -> None:
        self.state = ReceiverState.TRANSFER
        self.expected_number = 1
        self.delimiters = DEFAULT_DELIMITERS
        self._partial.clear()

    def next_event(self) -> ReceiverEvent | NeedData:
        while True:
            try:
                token = self._stream.next_token()
            except ProtocolError as exc:
                if self.state is ReceiverState.TRANSFER:
                    self._out.append(NAK)
                return FrameRejected(exc)
            if isinstance(token, NeedData):
                return NEED_DATA
            if len(token) == 1:
                control = token[0]
                if control == ENQ:
                    self._begin()
                    self._out.append(ACK)
                    return Established()
                if control == EOT:
                    self.state = ReceiverState.IDLE
                    self._partial.clear()
                    return TransferComplete()
                continue  # ACK/NAK are not addressed to a receiver
            event = self._frame(token)
            if event is not None:
                return event

    def _frame(self, token: bytes) -> ReceiverEvent | None:
        try:
            frame = parse_frame(token)
        except ProtocolError as exc:
            if self.state is ReceiverState.TRANSFER:
                self._out.append(NAK)
            return FrameRejected(exc)
        if self.state is ReceiverState.IDLE:
            if frame.number != 1:
                return FrameRejected(
                    FrameError("frame outside a transfer", protocol=PROTOCOL_ID, raw=token)
                )
            self._begin()
        if frame.number == (self.expected_number - 1) % 8:
            self._out.append(ACK)
            return DuplicateFrame(frame.number)
        if frame.number != self.expected_number:
            self._out.append(NAK)
            return FrameRejected(
                FrameError(
                    f"frame number {frame.number}, expected {self.expected_number}",
                    protocol=PROTOCOL_ID,
                    raw=token,
                )
            )
        self.expected_number = (self.expected_number + 1) % 8
        self._out.append(ACK)
        self._partial += frame.text
        if len(self._partial) > MAX_RECORD:
            self._partial.clear()
            return RecordReceived(
                "", None, BufferOverflow(MAX_RECORD, protocol=PROTOCOL_ID, raw=token[:64])
            )
        if not frame.ends_record:
            return None
        text = bytes(self._partial).decode("latin-1").rstrip("\r")
        self._partial.clear()
        return self._record(text)

    def _record(self, text: str) -> RecordReceived:
        try:
            if text.startswith("H"):
                self.delimiters = header_delimiters(text)
            decoded = decode_record(text, self.delimiters)
        except ProtocolError as exc:
            return RecordReceived(text, None, exc)
        if decoded.record.get("record_type") == "header":
            self.header = decoded
        return RecordReceived(text, decoded)


# --------------------------------------------------------------------------- sender


class SenderState(StrEnum):
    IDLE = "idle"
    WAIT_ENQ_REPLY = "wait_enq_reply"
    WAIT_FRAME_REPLY = "wait_frame_reply"
    DONE = "done"


@dataclass(slots=True)
class ContourSender:
    """Meter side of the E1381 dialogue, for simulators: ``start()`` gives ENQ, then every
    reply byte from the host goes to ``receive()``, which returns the bytes to send next.

    ACK advances to the next frame (EOT after the last); NAK, or any other character, resends
    the same frame (after ``max_retries`` the sender gives up with EOT); NAK to ENQ means
    "busy" (back to idle; call ``start()`` again later); EOT from the host asks to stop, and
    the sender ends with EOT. ``timeout()`` is the reply-timeout abort (EOT).
    """

    frames: list[bytes]
    max_retries: int = MAX_RETRIES
    state: SenderState = SenderState.IDLE
    index: int = 0
    retries: int = 0
    aborted: bool = False

    @classmethod
    def for_records(
        cls, records: Iterable[str | bytes], *, etb_between_records: bool = True
    ) -> ContourSender:
        return cls(encode_message(records, etb_between_records=etb_between_records))

    @property
    def done(self) -> bool:
        return self.state is SenderState.DONE

    def start(self) -> bytes:
        if self.state is not SenderState.IDLE:
            raise RuntimeError(f"cannot start from state {self.state}")
        self.state = SenderState.WAIT_ENQ_REPLY
        return bytes((ENQ,))

    def _finish(self, *, aborted: bool) -> bytes:
        self.state = SenderState.DONE
        self.aborted = aborted
        return bytes((EOT,))

    def _current(self) -> bytes:
        if self.index >= len(self.frames):
            return self._finish(aborted=False)
        return self.frames[self.index]

    def receive(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            out += self._reply(byte)
        return bytes(out)

    def _reply(self, byte: int) -> bytes:
        if self.state is SenderState.WAIT_ENQ_REPLY:
            if byte == ACK:
                self.state = SenderState.WAIT_FRAME_REPLY
                self.index = self.retries = 0
                return self._current()
            if byte == NAK:
                self.state = SenderState.IDLE
            return b""
        if self.state is not SenderState.WAIT_FRAME_REPLY:
            return b""
        if byte == ACK:
            self.index += 1
            self.retries = 0
            return self._current()
        if byte == EOT:
            return self._finish(aborted=self.index + 1 < len(self.frames))
        # NAK, or any other character (E1381 §6.3.5.2): retransmit, at most max_retries times.
        self.retries += 1
        if self.retries > self.max_retries:
            return self._finish(aborted=True)
        return self._current()

    def timeout(self) -> bytes:
        """No reply in time: end the transfer with EOT (E1381 §6.5.2)."""
        if self.state is SenderState.DONE:
            return b""
        return self._finish(aborted=True)


# Verbatim from glucometerutils drivers/tests/test_contourusb.py (Contour USB header frame).
_HEADER_FRAME: Final = (
    b"\x021H|\\^&||7w3LBL|Bayer7390^01.24\\01.04\\09.02.20^7390-2336773^7403-|A=1^C=63^G=1^"
    b"I=0200^R=0^S=1^U=0^V=10600^X=070070070070180130150250^Y=360126090050099050300089^Z=1|"
    b"1714||||||1|201909221304\r\x17D7\r\n"
)

PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "Bayer/Ascensia Contour ASTM E1381 frames (checksum, ETB/ETX) and E1394 records",
        PayloadKind.TEXT,
        decode,
        examples=(
            _HEADER_FRAME,
            encode_frame(3, "R|8|^^^Glucose|133|mg/dL^P||B/X||201202052034\r", final=False),
            b"R|5|^^^Glucose|7.9|mmol/L^P||B||201102241308",
            b"\x05",
            encode_frame(4, "L|1|N\r"),
        ),
    ),
)
