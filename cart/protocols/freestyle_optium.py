"""Abbott FreeStyle Optium text protocol (``freestyle.optium``).

Devices: FreeStyle Optium (also reads β-ketone strips) in PC mode (screen ``]--PC``).
Link: 19200 8N1 through Abbott's strip-port cable (TI TUSB3410, 1a61:3420). The host sends
``$``-commands; the meter answers with CR LF lines, most ending with ``CMD OK``.

Wire layout::

    host -> meter   "$" command ["," parameters] CR LF
                    $xmem  memory dump     $colq  device info     $tim,MM,DD,YY,HH,MM  set clock

    $colq reply     S/N:<TAB>serial                 serial = 7 alnum "-" 5 alnum
                    Ver:<TAB>version<TAB>unit       unit "MMOL" (the mg/dL label is unknown)
                    Clock:<TAB>Apr  22 2014<TAB>02:14:37
                    Market:<TAB>d<TAB>d    ROM:<TAB>d<TAB>d<TAB>d<TAB>d    Usage:<TAB>count
                    CMD OK

    $xmem reply     (empty line)
                    serial / version / "Apr  22 2014 02:14:37" / count (3 digits)
                    105  Apr  22 2014 02:14 G 0x00       one line per result
                    │    └─ month "Apr " (June/July in full) day year HH:MM
                    └─ mg/dL (always), "HI " above range; G glucose, K β-ketone
                    0x1A2B  END
                    └─ sum of every byte before "0x", CR LF included (4 hex digits)

A single reading line or clock line also decodes on its own (no checksum), for
``cart decode`` and the simulator's tests.

Sources: glucometer-protocols ``abbott/freestyle-optium.md`` (grammar, checksum rule);
glucometerutils ``drivers/fsoptium.py`` and ``drivers/tests/test_fsoptium.py`` (clock
vectors, reading regex, checksum calculation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cart.errors import (
    BufferOverflow,
    ChecksumError,
    FrameError,
    IncompleteFrame,
    UnsupportedMessage,
)
from cart.measurement import Measurement, MeasurementKind, Special
from cart.protocols._checksums import sum16
from cart.protocols._stream import LineStream
from cart.protocols.base import NEED_DATA, Decoded, NeedData, PayloadKind, ProtocolSpec

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_ID",
    "OptiumReading",
    "OptiumStream",
    "checksum",
    "decode",
    "encode_clock_line",
    "encode_cmd_ok",
    "encode_colq",
    "encode_command",
    "encode_reading",
    "encode_set_clock",
    "encode_xmem",
]

PROTOCOL_ID: Final = "freestyle.optium"
CRLF: Final = b"\r\n"
CMD_OK: Final = b"CMD OK"
MAX_READINGS: Final = 999

_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_MONTH_NUMBER: Final = {name: i + 1 for i, name in enumerate(_MONTHS)}

_SERIAL: Final = r"[A-Za-z0-9]{7}-[A-Za-z0-9]{5}"
_READING: Final = re.compile(
    r"(?P<value>HI |[0-9]{3})  (?P<month>[A-Z][a-z]{2})[ ey] (?P<day>[0-9]{2}) "
    r"(?P<year>[0-9]{4}) (?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}) (?P<type>[GK]) 0x00"
)
_CLOCK: Final = re.compile(
    r"Clock:\t(?P<month>[A-Z][a-z]{2})  (?P<day>[0-9]{2}) (?P<year>[0-9]{4})\t"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
)
_DATE2SEC: Final = re.compile(
    r"(?P<month>[A-Z][a-z]{2})[ ey] (?P<day>[0-9]{2}) (?P<year>[0-9]{4}) "
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
)
_END: Final = re.compile(rb"0x(?P<checksum>[0-9A-F]{4})  END")
_COMMAND: Final = re.compile(r"\$(?P<name>[a-z]+)(?P<params>(?:,[\x21-\x7e]*)*)")
_TIM: Final = re.compile(r",([0-9]{2}),([0-9]{2}),([0-9]{2}),([0-9]{2}),([0-9]{2})")


def checksum(data: bytes) -> int:
    """The $xmem checksum: byte sum of everything before ``0x`` (kept to 16 bits)."""
    return sum16(data)


# --------------------------------------------------------------------------- decoding


def decode(frame: bytes) -> Decoded:
    """Decode a whole $xmem or $colq reply, a command, ``CMD OK``, or one reading/clock line."""
    if len(frame) > (MAX_READINGS + 8) * 40:
        raise FrameError("reply longer than a full memory dump", protocol=PROTOCOL_ID, raw=frame)
    try:
        text = frame.decode("ascii")
    except UnicodeDecodeError as exc:
        raise FrameError("reply is not ASCII", protocol=PROTOCOL_ID, raw=frame) from exc
    lines = text.split("\r\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise IncompleteFrame("empty reply", protocol=PROTOCOL_ID, raw=frame)
    first = lines[0]
    if first == "" and len(lines) > 1:
        return _decode_xmem(frame, lines)
    if first.startswith("S/N:"):
        return _decode_colq(frame, lines)
    if len(lines) > 1:
        raise UnsupportedMessage(
            f"multi-line reply starting {first[:20]!r} is neither $xmem nor $colq",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    line = first
    record: dict[str, Any]
    if line.startswith("$"):
        record = _decode_command(line, frame)
    elif line == "CMD OK":
        record = {"message": "command_ok"}
    elif m := _CLOCK.fullmatch(line):
        record = {"message": "clock", "timestamp": _datetime(m, frame).isoformat()}
    elif m := _READING.fullmatch(line):
        reading, measurement = _reading(m, frame)
        reading["message"] = "reading"
        return Decoded(PROTOCOL_ID, reading, measurement, raw=frame)
    else:
        raise UnsupportedMessage(
            f"not a FreeStyle Optium line: {line[:40]!r}", protocol=PROTOCOL_ID, raw=frame
        )
    return Decoded(PROTOCOL_ID, record, (), raw=frame)


def _decode_command(line: str, frame: bytes) -> dict[str, Any]:
    m = _COMMAND.fullmatch(line)
    if m is None:
        raise FrameError(f"malformed command {line[:20]!r}", protocol=PROTOCOL_ID, raw=frame)
    name = m["name"]
    params = m["params"]
    record: dict[str, Any] = {"message": "command", "command": name}
    if name == "tim":
        t = _TIM.fullmatch(params)
        if t is None:
            raise FrameError("tim takes MM,DD,YY,HH,MM", protocol=PROTOCOL_ID, raw=frame)
        month, day, year, hour, minute = (int(x) for x in t.groups())
        record["timestamp"] = _make(2000 + year, month, day, hour, minute, 0, frame).isoformat()
    elif params:
        raise UnsupportedMessage(f"${name} takes no parameters", protocol=PROTOCOL_ID, raw=frame)
    return record


def _decode_xmem(frame: bytes, lines: list[str]) -> Decoded:
    end = _END.fullmatch(lines[-1].encode("ascii"))
    if end is None:
        raise IncompleteFrame(
            "$xmem reply does not end with the checksum/END line", protocol=PROTOCOL_ID, raw=frame
        )
    covered = frame[: frame.rindex(b"0x")]
    wire, calculated = int(end["checksum"], 16), checksum(covered)
    if wire != calculated:
        raise ChecksumError(wire, calculated, width=4, protocol=PROTOCOL_ID, raw=frame)
    body = lines[1:-1]
    if len(body) < 4:
        raise FrameError("$xmem header is incomplete", protocol=PROTOCOL_ID, raw=frame)
    serial, version, clock, count_text = body[:4]
    results = body[4:]
    if not re.fullmatch(r"[0-9]{3}", count_text):
        raise FrameError(f"record count {count_text!r}", protocol=PROTOCOL_ID, raw=frame)
    if int(count_text) != len(results):
        raise FrameError(
            f"header says {int(count_text)} records, dump has {len(results)}",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    clock_match = _DATE2SEC.fullmatch(clock)
    if clock_match is None:
        raise FrameError(f"$xmem clock {clock!r}", protocol=PROTOCOL_ID, raw=frame)
    readings: list[dict[str, Any]] = []
    measurements: list[Measurement] = []
    for line in results:
        m = _READING.fullmatch(line)
        if m is None:
            raise FrameError(f"not a result line: {line[:40]!r}", protocol=PROTOCOL_ID, raw=frame)
        reading, found = _reading(m, frame)
        readings.append(reading)
        measurements.extend(found)
    record = {
        "message": "memory_dump",
        "serial_number": serial,
        "software_version": version,
        "clock": _datetime(clock_match, frame).isoformat(),
        "number_of_records": len(results),
        "checksum": wire,
        "readings": readings,
    }
    return Decoded(PROTOCOL_ID, record, tuple(measurements), raw=frame)


def _decode_colq(frame: bytes, lines: list[str]) -> Decoded:
    if lines[-1] != "CMD OK":
        raise IncompleteFrame("$colq reply without CMD OK", protocol=PROTOCOL_ID, raw=frame)
    fields: dict[str, list[str]] = {}
    clock: datetime | None = None
    for line in lines[:-1]:
        key, _, rest = line.partition("\t")
        if key == "Clock:":
            m = _CLOCK.fullmatch(line)
            if m is None:
                raise FrameError(f"clock line {line!r}", protocol=PROTOCOL_ID, raw=frame)
            clock = _datetime(m, frame)
        fields[key.rstrip(":")] = rest.split("\t")
    try:
        serial = fields["S/N"][0]
        version, unit_label = fields["Ver"][0], fields["Ver"][1]
        usage = int(fields["Usage"][0])
    except (KeyError, IndexError, ValueError) as exc:
        raise FrameError(
            f"$colq reply lacks a field: {exc}", protocol=PROTOCOL_ID, raw=frame
        ) from exc
    record = {
        "message": "device_info",
        "serial_number": serial,
        "software_version": version,
        "glucose_unit_label": unit_label,
        "glucose_unit": "mmol/L" if unit_label == "MMOL" else None,
        "clock": clock.isoformat() if clock else None,
        "market": fields.get("Market"),
        "rom": fields.get("ROM"),
        "usage_count": usage,
    }
    return Decoded(PROTOCOL_ID, record, (), raw=frame)


def _reading(m: re.Match[str], frame: bytes) -> tuple[dict[str, Any], tuple[Measurement, ...]]:
    measured_at = _make(
        int(m["year"]), _month(m["month"], frame), int(m["day"]), int(m["hour"]),
        int(m["minute"]), 0, frame,
    )  # fmt: skip
    high = m["value"] == "HI "
    value = None if high else int(m["value"])
    ketone = m["type"] == "K"
    record: dict[str, Any] = {
        "timestamp": measured_at.isoformat(),
        "type": "ketone" if ketone else "glucose",
        "value": "HI" if high else value,
        "unit": None if ketone else "mg/dL",
    }
    if ketone:
        return record, ()  # the unit of ketone results is not known
    if high:
        measurement = Measurement.create(
            MeasurementKind.GLUCOSE,
            None,
            special=Special.POS_INF,
            measured_at=measured_at,
            flags=("above_range",),
        )
    else:
        measurement = Measurement.create(
            MeasurementKind.GLUCOSE, value, "mg/dL", measured_at=measured_at, decimals=0
        )  # always integer mg/dL on the wire
    return record, (measurement,)


def _month(name: str, frame: bytes) -> int:
    if name not in _MONTH_NUMBER:
        raise FrameError(f"unknown month {name!r}", protocol=PROTOCOL_ID, raw=frame)
    return _MONTH_NUMBER[name]


def _datetime(m: re.Match[str], frame: bytes) -> datetime:
    return _make(
        int(m["year"]), _month(m["month"], frame), int(m["day"]), int(m["hour"]),
        int(m["minute"]), int(m["second"]), frame,
    )  # fmt: skip


def _make(
    year: int, month: int, day: int, hour: int, minute: int, second: int, frame: bytes
) -> datetime:
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise FrameError(f"invalid date/time: {exc}", protocol=PROTOCOL_ID, raw=frame) from exc


# --------------------------------------------------------------------------- encoding


def encode_command(name: str) -> bytes:
    """A parameterless command: ``$xmem``, ``$colq`` ... with CR LF."""
    if not re.fullmatch(r"[a-z]+", name):
        raise ValueError("command names are lower-case letters")
    return f"${name}".encode("ascii") + CRLF


def encode_set_clock(when: datetime) -> bytes:
    """``$tim,MM,DD,YY,HH,MM`` (minutes only; years 2000-2099)."""
    if not 2000 <= when.year <= 2099:
        raise ValueError("the meter takes two-digit years: 2000-2099")
    return f"$tim,{when:%m,%d,%y,%H,%M}".encode("ascii") + CRLF


def encode_cmd_ok() -> bytes:
    return CMD_OK + CRLF


def _month2(when: datetime) -> str:
    """Month as the $xmem lines print it: 3 letters and a space, June/July in full."""
    return {6: "June", 7: "July"}.get(when.month, _MONTHS[when.month - 1] + " ")


def encode_clock_line(when: datetime) -> bytes:
    """The ``Clock:`` line of $colq (with CR LF)."""
    return f"Clock:\t{_MONTHS[when.month - 1]}  {when:%d %Y}\t{when:%H:%M:%S}".encode() + CRLF


@dataclass(frozen=True, slots=True)
class OptiumReading:
    """One stored result: ``value`` in mg/dL, None for ``HI``; ``kind`` G or K."""

    measured_at: datetime
    value: int | None
    kind: str = "G"


def encode_reading(reading: OptiumReading) -> bytes:
    """One result line of $xmem (with CR LF)."""
    if reading.kind not in ("G", "K"):
        raise ValueError("kind is G (glucose) or K (ketone)")
    if reading.value is not None and not 0 <= reading.value <= 999:
        raise ValueError("value must be 0-999 (None for HI)")
    value = "HI " if reading.value is None else f"{reading.value:03d}"
    when = reading.measured_at
    line = f"{value}  {_month2(when)} {when:%d %Y %H:%M} {reading.kind} 0x00"
    return line.encode("ascii") + CRLF


def encode_xmem(
    serial: str, version: str, clock: datetime, readings: Iterable[OptiumReading]
) -> bytes:
    """The whole $xmem reply, checksum and END line included."""
    _check_serial(serial)
    items: Sequence[OptiumReading] = tuple(readings)
    if len(items) > MAX_READINGS:
        raise ValueError(f"at most {MAX_READINGS} readings")
    head = f"\r\n{serial}\r\n{version}\r\n{_month2(clock)} {clock:%d %Y %H:%M:%S}\r\n"
    body = head.encode("ascii") + f"{len(items):03d}".encode() + CRLF
    body += b"".join(encode_reading(r) for r in items)
    return body + f"0x{checksum(body):04X}  END".encode("ascii") + CRLF


def encode_colq(
    serial: str,
    version: str,
    clock: datetime,
    usage: int,
    *,
    unit_label: str = "MMOL",
    market: tuple[int, int] = (0, 0),
    rom: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> bytes:
    """The whole $colq reply, ``CMD OK`` included."""
    _check_serial(serial)
    lines = [
        f"S/N:\t{serial}",
        f"Ver:\t{version}\t{unit_label}",
        encode_clock_line(clock).decode("ascii").rstrip("\r\n"),
        "Market:\t" + "\t".join(str(x) for x in market),
        "ROM:\t" + "\t".join(str(x) for x in rom),
        f"Usage:\t{usage}",
        "CMD OK",
    ]
    return "\r\n".join(lines).encode("ascii") + CRLF


def _check_serial(serial: str) -> None:
    if not re.fullmatch(_SERIAL, serial):
        raise ValueError("serial number is 7 letters/digits, '-', 5 letters/digits")


# --------------------------------------------------------------------------- stream


def _clean(line: bytes) -> bytes:
    """Drop noise bytes in front of a line (nothing legitimate starts with them)."""
    start = 0
    while start < len(line) and not 0x20 <= line[start] <= 0x7E:
        start += 1
    return line[start:]


class OptiumStream:
    """Assembles the meter's CR LF lines into replies: feed bytes, ``next_frame()``.

    A $xmem reply (from its empty first line to ``0x....  END``) and a $colq reply (from
    ``S/N:`` to ``CMD OK``) come out as one Decoded each; any other line (a command echo,
    ``CMD OK``) comes out alone. Noise bytes in front of a line are dropped.
    """

    def __init__(self, *, max_line: int = 128, max_lines: int = MAX_READINGS + 8) -> None:
        self._lines = LineStream(CRLF, max_buffer=max_line, protocol=PROTOCOL_ID)
        self._block: list[bytes] = []
        self._kind: str | None = None
        self._max_lines = max_lines

    @property
    def buffered(self) -> int:
        return self._lines.buffered + sum(len(x) + 2 for x in self._block)

    def feed(self, data: bytes) -> None:
        self._lines.feed(data)

    def next_frame(self) -> Decoded | NeedData:
        """The next decoded reply, NEED_DATA, or a ProtocolError for a bad one."""
        while True:
            raw = self._lines.next_line()
            if isinstance(raw, NeedData):
                return NEED_DATA
            frame = self._take(raw)
            if frame is not None:
                return decode(frame)

    def _take(self, raw: bytes) -> bytes | None:
        if self._kind is not None:
            line = raw
            if self._kind == "xmem" and len(self._block) == 1:
                line = _clean(raw)
                if not line:
                    return None  # a repeated empty line: still waiting for the serial
                if not re.fullmatch(_SERIAL.encode(), line):
                    self._reset()  # not a dump after all: treat the line on its own
                    return self._take(raw)
            self._block.append(line)
            done = (self._kind == "colq" and line == CMD_OK) or (
                self._kind == "xmem" and _END.fullmatch(line) is not None
            )
            if done:
                frame = CRLF.join(self._block) + CRLF
                self._reset()
                return frame
            if len(self._block) > self._max_lines:
                self._reset()
                raise BufferOverflow(self._max_lines, protocol=PROTOCOL_ID)
            return None
        line = _clean(raw)
        if not line:
            self._kind, self._block = "xmem", [b""]
            return None
        if line.startswith(b"S/N:"):
            self._kind, self._block = "colq", [line]
            return None
        return line + CRLF

    def _reset(self) -> None:
        self._kind, self._block = None, []


PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "Abbott FreeStyle Optium $xmem/$colq replies and result lines (16-bit sum, END)",
        PayloadKind.TEXT,
        decode,
        examples=(
            b"Clock:\tApr  22 2014\t02:14:37\r\n",
            encode_reading(OptiumReading(datetime(2014, 4, 22, 2, 14), 105)),
            encode_xmem(
                "AAAA123-B4567",
                "0.22",
                datetime(2014, 4, 22, 2, 14, 37),
                (
                    OptiumReading(datetime(2014, 4, 22, 2, 10), 105),
                    OptiumReading(datetime(2013, 7, 10, 14, 26), None),
                ),
            ),
            b"$xmem\r\n",
            b"CMD OK\r\n",
        ),
    ),
)
