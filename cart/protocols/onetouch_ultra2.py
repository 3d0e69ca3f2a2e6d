"""LifeScan OneTouch Ultra 2 ASCII protocol (``onetouch.ultra2``).

Devices: OneTouch Ultra 2 (serial numbers end in ``Y``); the original OneTouch Ultra
sends the same dump records without the meal and comment fields, which are accepted too.
Link: 9600 8N1 over the TRS cable (PL2303, 067b:2303), no flow control. The host drives
the dialogue; the meter answers every command with one line, or the dump with many.

Wire layout::

    host -> meter   DC1 CR "DM" <cmd> [argument] CR          (DC1 = 0x11)
                    DM?  version     DM@  serial number    DMF  read clock
                    DMT<mm/dd/yy HH:MM:SS>  set clock      DMSU?  display unit
                    DMP  dump all records                  DMZ  erase memory

    meter -> host   <payload> SP <4 hex digits> CR LF
                                 └─ 16-bit sum of the payload bytes (upper-case hex)

    DMP dump:  P nnn,"SERIALNUM","MG/DL " 05A6               header: record count
               P "SAT","03/21/15","16:45:24   ","  081 ","N","03", 00 09B6
                  └dow┘ └─date─┘  └──time──────┘ │└res┘│ └meal┘ └cmt┘
                                      control C ─┘     └─ "?" parity error
               result: " nnn" mg/dL (always mg/dL), "HIGH" above 600 mg/dL
               meal: N none, B before meal, A after meal; comment 00-11

Other replies: ``?P02.00.00 30/08/06`` (DM?), ``@ "SERIALNUM"`` (DM@),
``F "DOW","mm/dd/yy","HH:MM:SS   "`` (DMF; ``T`` for DMT), ``SU?,"MG/DL "`` (DMSU?),
``Z`` (DMZ). Years have two digits (+2000).

Sources: glucometerutils ``drivers/otultra2.py`` and ``drivers/tests/test_otultra2.py``;
the LifeScan Ultra communication spec as quoted in the diabetech OneTouch parser
(result formats ``" nnn "``, ``" HIGH "``, ``"C nnn "``, ``"CHIGH "``); tidepool-org
uploader ``lib/drivers/onetouch/oneTouchUltra2.js`` (captured dump lines);
glucometer-protocols ``lifescan/onetouch-ultra2.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from cart.errors import ChecksumError, FrameError, IncompleteFrame, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind, Special
from cart.protocols._checksums import sum16
from cart.protocols._stream import FrameStream
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec

__all__ = [
    "COMMENT_CODES",
    "MEAL_CODES",
    "PROTOCOLS",
    "PROTOCOL_ID",
    "Command",
    "DumpRecord",
    "Ultra2Stream",
    "checksum",
    "decode",
    "encode_clock",
    "encode_command",
    "encode_dump",
    "encode_dump_header",
    "encode_erase_ack",
    "encode_record",
    "encode_response",
    "encode_serial_number",
    "encode_set_clock",
    "encode_unit",
    "encode_version",
]

PROTOCOL_ID: Final = "onetouch.ultra2"

COMMAND_PREFIX: Final = b"\x11\r"
MAX_LINE: Final = 96


class Command(StrEnum):
    """Host commands (without the DC1 CR prefix and CR terminator)."""

    VERSION = "DM?"
    SERIAL_NUMBER = "DM@"
    READ_CLOCK = "DMF"
    SET_CLOCK = "DMT"
    GLUCOSE_UNIT = "DMSU?"
    DUMP = "DMP"
    ERASE = "DMZ"


#: meal code -> context["meal"] (None: the meter marks nothing)
MEAL_CODES: Final[dict[str, str | None]] = {"N": None, "B": "preprandial", "A": "postprandial"}

#: comment code -> LifeScan's comment text (glucometerutils, "from LifeScan's documentation")
COMMENT_CODES: Final[dict[str, str | None]] = {
    "00": None,
    "01": "not_enough_food",
    "02": "too_much_food",
    "03": "mild_exercise",
    "04": "hard_exercise",
    "05": "medication",
    "06": "stress",
    "07": "illness",
    "08": "feel_hypo",
    "09": "menses",
    "10": "vacation",
    "11": "other",
}

_UNITS: Final[dict[str, str]] = {"MG/DL ": "mg/dL", "MMOL/L": "mmol/L"}
_DAYS: Final = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")

_RESPONSE: Final = re.compile(rb"(?P<payload>[\x20-\x7e]+) (?P<checksum>[0-9A-F]{4})")
#: shortest complete lines: Ultra dump record, dump header (checksum included)
_RECORD_LEN: Final = 50
_HEADER_LEN: Final = 31
_DATETIME: Final = (
    r'"(?P<dow>[A-Z]{3})","(?P<date>[0-9]{2}/[0-9]{2}/[0-9]{2})",'
    r'"(?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})   "'
)
_RECORD: Final = re.compile(
    "P "
    + _DATETIME
    + r',"(?P<control>[C ])(?: (?P<value>[0-9]{3})|(?P<high>HIGH))(?P<parity>[? ])"'
    + r'(?:,"(?P<meal>[NBA])","(?P<comment>[0-9]{2})")?, 00'
)
_HEADER: Final = re.compile(
    r'P (?P<count>[0-9]{3}),"(?P<serial>[0-9A-Z]{9})","(?P<unit>MG/DL |MMOL/L)"'
)
_CLOCK: Final = re.compile(r"(?P<kind>[FT]) " + _DATETIME)
_SERIAL: Final = re.compile(r'@ "(?P<serial>[0-9A-Z]{9})"')
_UNIT: Final = re.compile(r'SU\?,"(?P<unit>MG/DL |MMOL/L)"')
_COMMAND: Final = re.compile(r"DM(?:\?|@|F|SU\?|P|Z|T(?P<arg>.*))")
_SET_CLOCK_ARG: Final = re.compile(
    r"(?P<date>[0-9]{2}/[0-9]{2}/[0-9]{2}) (?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
)
_LINE_START: Final = re.compile(rb'P (?="|[0-9])')


def checksum(payload: bytes) -> int:
    """The 16-bit byte sum the meter appends to every reply line."""
    return sum16(payload)


# --------------------------------------------------------------------------- decoding


def decode(frame: bytes) -> Decoded:
    """Decode one line: a host command, a reply, a DMP header or a DMP record."""
    line = frame.strip(b"\r\n")
    if len(line) > MAX_LINE:
        raise FrameError(
            f"line is {len(line)} bytes, longer than {MAX_LINE}", protocol=PROTOCOL_ID, raw=frame
        )
    if line.startswith(b"\x11") or line.startswith(b"DM"):
        return _decode_command(line.lstrip(b"\x11\r\n"), frame)
    if not line:
        raise IncompleteFrame("empty line", protocol=PROTOCOL_ID, raw=frame)
    match = _RESPONSE.fullmatch(line)
    if match is None:
        if _truncated(line):
            raise IncompleteFrame(
                f"line ends before its checksum: {line[:48]!r}", protocol=PROTOCOL_ID, raw=frame
            )
        raise FrameError(
            f"reply without a valid 4-hex-digit checksum: {line[:48]!r}",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    payload = match["payload"]
    wire = int(match["checksum"], 16)
    calculated = checksum(payload)
    if wire != calculated:
        raise ChecksumError(wire, calculated, width=4, protocol=PROTOCOL_ID, raw=frame)
    text = payload.decode("ascii")
    record: dict[str, Any]
    if m := _RECORD.fullmatch(text):
        return _decode_record(m, frame)
    if m := _HEADER.fullmatch(text):
        record = {
            "message": "dump_header",
            "number_of_records": int(m["count"]),
            "serial_number": m["serial"],
            "glucose_unit": _UNITS[m["unit"]],
        }
    elif text.startswith("?") and len(text) > 1:
        record = {"message": "version", "software_version": text[1:]}
    elif m := _SERIAL.fullmatch(text):
        serial = m["serial"]
        record = {
            "message": "serial_number",
            "serial_number": serial,
            "ultra2": serial.endswith("Y"),
        }
    elif m := _CLOCK.fullmatch(text):
        record = {
            "message": "clock" if m["kind"] == "F" else "clock_set",
            "timestamp": _parse_datetime(m["date"], m["time"], frame).isoformat(),
            "day_of_week": m["dow"],
        }
    elif m := _UNIT.fullmatch(text):
        record = {"message": "glucose_unit", "glucose_unit": _UNITS[m["unit"]]}
    elif text == "Z":
        record = {"message": "erased"}
    else:
        raise UnsupportedMessage(
            f"not a OneTouch Ultra 2 reply: {text[:40]!r}", protocol=PROTOCOL_ID, raw=frame
        )
    return Decoded(PROTOCOL_ID, record, (), raw=frame)


def _truncated(line: bytes) -> bool:
    """A dump line cut short (the checksum and maybe more missing)."""
    if line.startswith(b'P "'):
        return len(line) < _RECORD_LEN
    if re.match(rb"P [0-9]", line):
        return len(line) < _HEADER_LEN
    return False


def _decode_command(line: bytes, frame: bytes) -> Decoded:
    try:
        text = line.rstrip(b"\r").decode("ascii")
    except UnicodeDecodeError as exc:
        raise FrameError("command is not ASCII", protocol=PROTOCOL_ID, raw=frame) from exc
    match = _COMMAND.fullmatch(text)
    if match is None:
        raise UnsupportedMessage(
            f"unknown OneTouch command {text[:20]!r}", protocol=PROTOCOL_ID, raw=frame
        )
    record: dict[str, Any] = {"message": "command", "command": text[:3]}
    if text.startswith("DMT"):
        arg = _SET_CLOCK_ARG.fullmatch(match["arg"] or "")
        if arg is None:
            raise FrameError(
                f"DMT argument is not 'mm/dd/yy HH:MM:SS': {match['arg']!r}",
                protocol=PROTOCOL_ID,
                raw=frame,
            )
        record["timestamp"] = _parse_datetime(arg["date"], arg["time"], frame).isoformat()
    elif text.startswith("DMSU?"):
        record["command"] = Command.GLUCOSE_UNIT.value
    return Decoded(PROTOCOL_ID, record, (), raw=frame)


def _decode_record(m: re.Match[str], frame: bytes) -> Decoded:
    measured_at = _parse_datetime(m["date"], m["time"], frame)
    control = m["control"] == "C"
    high = m["high"] is not None
    value = None if high else int(m["value"])
    meal_code = m["meal"]
    comment_code = m["comment"]
    record: dict[str, Any] = {
        "message": "dump_record",
        "timestamp": measured_at.isoformat(),
        "day_of_week": m["dow"],
        "value": "HIGH" if high else value,
        "unit": "mg/dL",
        "control_solution": control,
        "parity_error": m["parity"] == "?",
        "meal": meal_code,
        "comment_code": comment_code,
        "comment": COMMENT_CODES.get(comment_code) if comment_code else None,
    }
    flags: list[str] = []
    if control:
        flags.append("control_solution")
    context: dict[str, str] = {}
    meal = MEAL_CODES.get(meal_code) if meal_code else None
    if meal:
        context["meal"] = meal
    if high:
        flags.append("above_range")
        measurement = Measurement.create(
            MeasurementKind.GLUCOSE,
            None,
            special=Special.POS_INF,
            measured_at=measured_at,
            flags=flags,
            context=context,
        )
    else:
        measurement = Measurement.create(
            MeasurementKind.GLUCOSE,
            value,
            "mg/dL",
            measured_at=measured_at,
            flags=flags,
            context=context,
            decimals=0,  # DMP records are integer mg/dL
        )
    return Decoded(PROTOCOL_ID, record, (measurement,), raw=frame)


def _parse_datetime(date: str, time: str, frame: bytes) -> datetime:
    month, day, year = (int(x) for x in date.split("/"))
    hour, minute, second = (int(x) for x in time.split(":"))
    try:
        return datetime(2000 + year, month, day, hour, minute, second)
    except ValueError as exc:
        raise FrameError(
            f"invalid date/time {date} {time}: {exc}", protocol=PROTOCOL_ID, raw=frame
        ) from exc


# --------------------------------------------------------------------------- encoding


def encode_command(command: Command | str, argument: str = "") -> bytes:
    """What the host sends: ``DC1 CR <command><argument> CR``."""
    cmd = Command(command)
    if argument and cmd is not Command.SET_CLOCK:
        raise ValueError(f"{cmd.value} takes no argument")
    return COMMAND_PREFIX + (cmd.value + argument).encode("ascii") + b"\r"


def encode_set_clock(when: datetime) -> bytes:
    """``DMT`` with the new device time (2000-2099)."""
    _check_year(when)
    return encode_command(Command.SET_CLOCK, when.strftime("%m/%d/%y %H:%M:%S"))


def encode_response(payload: str | bytes) -> bytes:
    """One meter reply line: payload, space, 16-bit sum as 4 hex digits, CR LF."""
    data = payload.encode("ascii") if isinstance(payload, str) else payload
    return data + f" {checksum(data):04X}\r\n".encode("ascii")


def encode_version(version: str = "P02.00.00 30/08/06") -> bytes:
    """Reply to ``DM?``."""
    return encode_response("?" + version)


def encode_serial_number(serial: str) -> bytes:
    """Reply to ``DM@`` (9 characters; an Ultra 2 serial ends in ``Y``)."""
    _check_serial(serial)
    return encode_response(f'@ "{serial}"')


def encode_clock(when: datetime, *, set_clock: bool = False) -> bytes:
    """Reply to ``DMF`` (``F "..."``) or, with ``set_clock=True``, to ``DMT`` (``T "..."``)."""
    return encode_response(("T " if set_clock else "F ") + _format_datetime(when))


def encode_unit(unit: str = "mg/dL") -> bytes:
    """Reply to ``DMSU?``."""
    return encode_response(f'SU?,"{_unit_field(unit)}"')


def encode_erase_ack() -> bytes:
    """Reply to ``DMZ``."""
    return encode_response("Z")


def encode_dump_header(count: int, serial: str, unit: str = "mg/dL") -> bytes:
    """First line of the ``DMP`` dump."""
    if not 0 <= count <= 999:
        raise ValueError("count must be 0-999")
    _check_serial(serial)
    return encode_response(f'P {count:03d},"{serial}","{_unit_field(unit)}"')


@dataclass(frozen=True, slots=True)
class DumpRecord:
    """One stored reading as the meter dumps it (value in mg/dL; None means HIGH)."""

    measured_at: datetime
    value: int | None
    control_solution: bool = False
    meal: str = "N"
    comment: str = "00"
    parity_error: bool = False


def encode_record(record: DumpRecord, *, with_meal: bool = True) -> bytes:
    """One ``DMP`` record line; ``with_meal=False`` gives the original Ultra layout."""
    if record.value is not None and not 0 <= record.value <= 999:
        raise ValueError("value must be 0-999 mg/dL (None for HIGH)")
    if record.meal not in MEAL_CODES:
        raise ValueError(f"meal must be one of {sorted(MEAL_CODES)}")
    if not re.fullmatch(r"[0-9]{2}", record.comment):
        raise ValueError("comment must be two digits")
    result = "HIGH" if record.value is None else f" {record.value:03d}"
    result = ("C" if record.control_solution else " ") + result
    result += "?" if record.parity_error else " "
    text = f'P {_format_datetime(record.measured_at)},"{result}"'
    if with_meal:
        text += f',"{record.meal}","{record.comment}"'
    return encode_response(text + ", 00")


def encode_dump(
    serial: str, records: Iterable[DumpRecord], unit: str = "mg/dL", *, with_meal: bool = True
) -> bytes:
    """The whole ``DMP`` answer: header plus one line per record."""
    lines: Sequence[DumpRecord] = tuple(records)
    out = [encode_dump_header(len(lines), serial, unit)]
    out.extend(encode_record(r, with_meal=with_meal) for r in lines)
    return b"".join(out)


def _format_datetime(when: datetime) -> str:
    _check_year(when)
    return f'"{_DAYS[when.weekday()]}","{when:%m/%d/%y}","{when:%H:%M:%S}   "'  # three-space pad


def _unit_field(unit: str) -> str:
    for wire, ucum in _UNITS.items():
        if unit in (ucum, wire.strip(), wire):
            return wire
    raise ValueError(f"unit must be mg/dL or mmol/L, not {unit!r}")


def _check_year(when: datetime) -> None:
    if not 2000 <= when.year <= 2099:
        raise ValueError("the meter keeps two-digit years: 2000-2099 only")


def _check_serial(serial: str) -> None:
    if not re.fullmatch(r"[0-9A-Z]{9}", serial):
        raise ValueError("serial number must be 9 upper-case letters or digits")


# --------------------------------------------------------------------------- stream


def _resync(line: bytes) -> bytes:
    """Drop noise in front of a line: non-printable bytes, or anything before ``P "``/``P n``."""
    starts = [m.start() for m in _LINE_START.finditer(line)]
    if starts:
        return line[starts[-1] :]
    start = 0
    while start < len(line) and not 0x20 <= line[start] <= 0x7E:
        start += 1
    return line[start:]


def _blank(line: bytes) -> bool:
    """Nothing but the host's DC1, LF or noise bytes."""
    return not _resync(line.strip(b"\n")).strip(b"\t ")


class Ultra2Stream(FrameStream[Decoded]):
    """Stream decoder for either direction: feed bytes, pull one Decoded per line.

    Lines end with CR (the meter adds LF, the host's DC1 prefix is its own line); both are
    skipped, and so are lines of noise only. Noise in front of a line is dropped.
    """

    def __init__(self, *, max_buffer: int = 256) -> None:
        super().__init__(
            lambda line: decode(_resync(line.strip(b"\n"))),
            b"\r",
            max_buffer=max_buffer,
            protocol=PROTOCOL_ID,
            skip=_blank,
        )


PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "LifeScan OneTouch Ultra 2 commands, replies and DMP dump lines (16-bit sum)",
        PayloadKind.TEXT,
        decode,
        examples=(
            b'P 003,"GMF600DCY","MG/DL " 05A6\r\n',
            b'P "SAT","03/21/15","16:45:24   ","  081 ","N","03", 00 09B6\r\n',
            b'P "SAT","03/21/15","16:42:11   ","  105 ","B","02", 00 099F\r\n',
            b'P "MON","09/14/09","13:46:08   ","  170 ", 00 0831\r\n',
            b'T "SAT","08/03/13","22:12:00   " 0608\r\n',
            b"\x11\rDMP\r",
        ),
    ),
)
