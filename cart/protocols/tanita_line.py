"""Tanita header/value lines (``tanita.line``): weight, height and BMI in one line.

Devices: Tanita WB-3000 (with digital height rod), WB-8000RW, SC-240, SC-330, MC-980MA,
BD-815U and relatives. Link: RS-232C or USB-serial, 9600 baud 8N1, output once after
each measurement. Layout: comma-separated header/value pairs ending in CR LF::

    {0,16,~0,1,~1,1,~2,1,MO,"WB-3000",Hm,170.5,Wk,72.4,MI,24.9,CS,7B CR LF   (+ junk byte)
    └──────────┬──────────┘ └────┬───┘ └───┬──┘ └──┬──┘ └──┬──┘ └─┬─┘
       control pairs           model    height  weight   BMI   checksum
       ("for expansion",       quoted   Hm cm   Wk kg    MI    CS: 8-bit sum, 2 hex
        ignored)                        Hf ft-in Wp lb          digits, of every byte
                                                   Wg g          from '{' through the
                                                                 comma before 'CS'

Other headers: ``FW`` fat %, ``GE`` 1 male / 2 female, ``AG`` age, ``Bt`` body type,
``Pt`` preset tare, ``SN`` serial, ``fW``/``MW``/``mW``/``bW``/``wW``/``ww``... body
composition (kept in the record). Weight-only modes omit ``Hm`` and ``MI``; models
without a checksum (BD-815U) omit ``CS``.

The WB-3000 and WB-8000RW output "an irrelevant signal approximately 0.1 second after
data output" that the receiver must ignore: :class:`TanitaStream` only accepts frames
that start with ``{0,`` and drops everything between a CR LF and the next ``{0,``.

Checksum rule: the SC-240 manual's sample (p.24) ends ``CS,FD``; the sum of its bytes
from ``{`` through the comma before ``CS`` is 0xFD when the line has no spaces after the
commas (the manual typesets ", "), and XOR does not match. One sample: confirm on real
hardware. Manual typesetting spaces are tolerated when decoding; the sum is always taken
over the bytes as received.

Sources: Tanita WB-3000 manual p.10 and WB-8000RW manual p.5 ("Output data format");
SC-240 manual p.24 and SC-330 manual pp.46-47 ("Output data items"); MC-980MA manual
p.13; BD-815U manual p.12.
"""

from __future__ import annotations

import re
from typing import Any, Final

from cart.errors import BufferOverflow, ChecksumError, FrameError, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind, decimals_of
from cart.protocols.base import NEED_DATA, Decoded, NeedData, PayloadKind, ProtocolSpec

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_ID",
    "START",
    "TanitaStream",
    "checksum",
    "decode",
    "encode",
]

PROTOCOL_ID: Final = "tanita.line"
START: Final = b"{0,"
TERMINATOR: Final = b"\r\n"
MAX_FRAME: Final = 512

#: weight header -> UCUM unit
WEIGHT_HEADERS: Final[dict[str, str]] = {"Wk": "kg", "Wp": "[lb_av]", "Wg": "g"}
#: header -> record field name for the identity and personal items
NAMED: Final[dict[str, str]] = {
    "MO": "model",
    "SN": "serial_number",
    "ID": "id_number",
    "Bt": "body_type",
    "GE": "gender",
    "AG": "age",
    "Pt": "preset_tare",
    "Da": "date",
    "TI": "time",
}
CONTROL_HEADERS: Final = frozenset({"{0", "~0", "~1", "~2"})
_WEIGHT: Final = MeasurementKind.BODY_WEIGHT
_HEIGHT: Final = MeasurementKind.BODY_HEIGHT
_BMI: Final = MeasurementKind.BMI
_FAT: Final = MeasurementKind.BODY_FAT

_FT_IN: Final = re.compile(r"(?P<ft>[0-9]{1,2})\s*['\-]\s*(?P<inch>[0-9]{1,2}(?:\.[0-9]+)?)\"?")
_HEX_DIGITS: Final = "0123456789ABCDEFabcdef"
_HEX2: Final = frozenset(a + b for a in _HEX_DIGITS for b in _HEX_DIGITS)  # "00".."ff"
_NUMBER: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?")


def checksum(data: bytes) -> int:
    """8-bit sum of ``data`` (from ``{`` through the comma before ``CS``)."""
    return sum(data) & 0xFF


def decode(frame: bytes) -> Decoded:
    """Decode one Tanita line (with or without CR LF; trailing junk after CR LF is ignored)."""
    line = frame
    end = line.find(TERMINATOR)
    if end >= 0:
        line = line[:end]
    line = line.rstrip(b"\r\n")
    if len(line) > MAX_FRAME:
        raise FrameError(
            f"line is {len(line)} bytes, longer than {MAX_FRAME}",
            protocol=PROTOCOL_ID,
            raw=frame[:64],
        )
    if not line.startswith(b"{"):
        raise FrameError("a Tanita line starts with '{0'", protocol=PROTOCOL_ID, raw=frame)
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise FrameError("line is not ASCII", protocol=PROTOCOL_ID, raw=frame) from None

    tokens = text.split(",")
    # strip only if there is whitespace (manual typesetting: ", "); every ASCII whitespace
    # character but the space is unprintable
    if " " in text or not text.isprintable():
        tokens = [t.strip() for t in tokens]
    if len(tokens) % 2:
        raise FrameError(
            f"{len(tokens)} fields: headers and values must pair up",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    pairs = iter(tokens)
    items = dict(zip(pairs, pairs, strict=False))  # header -> value (even count: checked)
    if 2 * len(items) != len(tokens) or "" in items or max(map(len, items)) > 2:
        _check_headers(tokens[::2], frame)  # raises, naming the first bad header
    if tokens[0] != "{0":
        raise FrameError("a Tanita line starts with '{0'", protocol=PROTOCOL_ID, raw=frame)

    checksum_wire: int | None = None
    if "CS" in items:
        if tokens[-2] != "CS":
            raise FrameError("CS must be the last item", protocol=PROTOCOL_ID, raw=frame)
        cs = items["CS"]
        if cs not in _HEX2:
            raise FrameError(
                f"checksum {cs!r} is not 2 hex digits", protocol=PROTOCOL_ID, raw=frame
            )
        checksum_wire = int(cs, 16)
        covered = line[: line.rindex(b"CS")]
        calculated = checksum(covered)
        if calculated != checksum_wire:
            raise ChecksumError(checksum_wire, calculated, protocol=PROTOCOL_ID, raw=frame)

    record: dict[str, Any] = {
        "model": None,
        "serial_number": None,
        "weight": None,
        "weight_unit": None,
        "height": None,
        "height_unit": None,
        "bmi": None,
        "body_fat": None,
        "checksum": checksum_wire,
        "items": _record_items(items, tokens, text),
    }
    for header, name in NAMED.items():
        if header in items:
            record[name] = _unquote(items[header])

    measurements: list[Measurement] = []
    weights = [h for h in WEIGHT_HEADERS if h in items]
    if len(weights) > 1:
        raise FrameError("more than one weight item", protocol=PROTOCOL_ID, raw=frame)
    if weights:
        header = weights[0]
        unit = WEIGHT_HEADERS[header]
        value = _number(items[header], header, frame)
        record["weight"], record["weight_unit"] = value, unit
        measurements.append(
            Measurement.create(_WEIGHT, value, unit, decimals=decimals_of(items[header]))
        )
    height_cm = items.get("Hm")
    if height_cm is not None and "Hf" in items:
        raise FrameError("both Hm and Hf", protocol=PROTOCOL_ID, raw=frame)
    if height_cm is not None:
        height = _number(height_cm, "Hm", frame)
        record["height"], record["height_unit"] = height, "cm"
        measurements.append(
            Measurement.create(_HEIGHT, height, "cm", decimals=decimals_of(height_cm))
        )
    elif "Hf" in items:
        feet_inches = _FT_IN.fullmatch(items["Hf"])
        if feet_inches is None:
            raise FrameError(
                f"height {items['Hf']!r} is not feet-inches", protocol=PROTOCOL_ID, raw=frame
            )
        inches = int(feet_inches["ft"]) * 12 + float(feet_inches["inch"])
        record["height"], record["height_unit"] = items["Hf"], "ft-in"
        measurements.append(
            Measurement.create(_HEIGHT, inches, "[in_i]", decimals=decimals_of(feet_inches["inch"]))
        )
    bmi_text = items.get("MI")
    if bmi_text is not None:
        bmi = _number(bmi_text, "MI", frame)
        record["bmi"] = bmi
        measurements.append(Measurement.create(_BMI, bmi, "kg/m2", decimals=decimals_of(bmi_text)))
    fat_text = items.get("FW")
    if fat_text is not None:
        fat = _number(fat_text, "FW", frame)
        record["body_fat"] = fat
        measurements.append(Measurement.create(_FAT, fat, "%", decimals=decimals_of(fat_text)))
    if not measurements:
        raise UnsupportedMessage(
            "no weight, height, BMI or fat item in the line", protocol=PROTOCOL_ID, raw=frame
        )
    return Decoded(PROTOCOL_ID, record, tuple(measurements), raw=bytes(frame))


def _check_headers(headers: list[str], frame: bytes) -> None:
    """Raise FrameError for the first empty, too long or repeated header."""
    seen: set[str] = set()
    for header in headers:
        if not header or len(header) > 2:
            raise FrameError(f"bad header {header!r}", protocol=PROTOCOL_ID, raw=frame)
        if header in seen:
            raise FrameError(f"header {header!r} appears twice", protocol=PROTOCOL_ID, raw=frame)
        seen.add(header)


def _record_items(items: dict[str, str], tokens: list[str], text: str) -> dict[str, str]:
    """The items without the control pairs, with quotes removed from quoted values.

    Only the few tokens holding a ``"`` are looked at: the token of the character at
    ``text[i]`` is the number of commas before it."""
    out = items.copy()
    for header in CONTROL_HEADERS:
        out.pop(header, None)
    quote = text.find('"')
    while quote >= 0:
        index = text.count(",", 0, quote)
        if index % 2:  # a value (headers are at even positions)
            header, value = tokens[index - 1], tokens[index]
            if header in out and len(value) >= 2 and value[0] == value[-1] == '"':
                out[header] = value[1:-1]
        end = text.find(",", quote)
        quote = text.find('"', end) if end >= 0 else -1
    return out


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _number(text: str, header: str, frame: bytes) -> float:
    if _NUMBER.fullmatch(text) is None:
        raise FrameError(
            f"{header} value {text!r} is not a number", protocol=PROTOCOL_ID, raw=frame
        )
    # float() of a plain decimal string is correctly rounded: the same float as
    # float(Decimal(text)), so 72.4 stays 72.4
    return float(text)


def encode(
    *,
    weight: float | None = None,
    height: float | None = None,
    bmi: float | None = None,
    body_fat: float | None = None,
    model: str = "WB-3000",
    unit: str = "kg",
    extra: dict[str, str] | None = None,
    with_checksum: bool = True,
    junk: bytes = b"",
) -> bytes:
    """One WB-3000-style line, CR LF included (the simulator's side).

    ``unit="lb"`` sends ``Wp`` pounds and ``Hf`` feet-inches (``height`` stays in cm and
    is converted, as the scale does). ``junk`` is appended after CR LF, like the stray
    signal real scales send about 0.1 s later.
    """
    if unit not in ("kg", "lb"):
        raise ValueError("unit is kg or lb")
    pairs: list[tuple[str, str]] = [("{0", "16"), ("~0", "1"), ("~1", "1"), ("~2", "1")]
    pairs.append(("MO", f'"{model}"'))
    for header, value in (extra or {}).items():
        pairs.append((header, value))
    if height is not None:
        if unit == "kg":
            pairs.append(("Hm", f"{height:.1f}"))
        else:
            total_in = height / 2.54
            feet = int(total_in // 12)
            pairs.append(("Hf", f"{feet}'{total_in - 12 * feet:04.1f}\""))
    if weight is not None:
        if unit == "kg":
            pairs.append(("Wk", f"{weight:.1f}"))
        else:
            pairs.append(("Wp", f"{weight / 0.45359237:.1f}"))
    if bmi is not None:
        pairs.append(("MI", f"{bmi:.1f}"))
    if body_fat is not None:
        pairs.append(("FW", f"{body_fat:.1f}"))
    body = ",".join(f"{h},{v}" for h, v in pairs).encode("ascii") + b","
    line = body + f"CS,{checksum(body):02X}".encode("ascii") if with_checksum else body[:-1]
    return line + TERMINATOR + junk


class TanitaStream:
    """Stream decoder: feed bytes, ``next_frame()`` returns Decoded or NEED_DATA.

    A frame starts at ``{0,`` and ends at CR LF. Bytes outside frames (the irrelevant
    signal after each line, line noise) are dropped without being taken as a frame and
    counted in :attr:`discarded`. A started frame longer than ``max_buffer`` raises
    :class:`BufferOverflow`, and the stream resynchronises at the next ``{0,``. A frame
    that does not decode raises its ProtocolError once; the stream has moved past it.
    """

    def __init__(self, *, max_buffer: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_buffer
        self.discarded = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> Decoded | NeedData:
        buf = self._buf
        start = buf.find(START)
        if start < 0:
            # keep a tail that could be the beginning of "{0,"
            keep = 0
            for n in (2, 1):
                if buf.endswith(START[:n]):
                    keep = n
                    break
            self.discarded += len(buf) - keep
            del buf[: len(buf) - keep]
            return NEED_DATA
        if start:
            self.discarded += start
            del buf[:start]
        end = buf.find(TERMINATOR)
        # a new start before the terminator means the earlier frame was cut short
        restart = buf.find(START, 1)
        if restart >= 0 and (end < 0 or restart < end):
            frame = bytes(buf[:restart])
            del buf[:restart]
            raise FrameError("frame cut short by a new frame", protocol=PROTOCOL_ID, raw=frame)
        if end < 0:
            if len(buf) > self._max:
                raw = bytes(buf[:64])
                self.discarded += len(buf)
                buf.clear()
                raise BufferOverflow(self._max, protocol=PROTOCOL_ID, raw=raw)
            return NEED_DATA
        frame = bytes(buf[: end + len(TERMINATOR)])
        del buf[: end + len(TERMINATOR)]
        return decode(frame)


PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "Tanita header/value line '{0,16,~0,1,...,Hm,170.5,Wk,72.4,MI,24.9,CS,xx'",
        PayloadKind.TEXT,
        decode,
        examples=(
            b'{0,16,~0,1,~1,1,~2,1,MO,"WB-3000",Hm,170.5,Wk,72.4,MI,24.9,CS,7B\r\n',
            b'{0,16,~0,1,~1,1,~2,1,MO,"SC-240",SN,"00000002",Bt,0,GE,1,AG,30,Hm,170,Pt,0.0,'
            b"Wk,82.7,FW,18.6,fW,15.4,MW,67.3,mW,64.0,sW,19,bW,3.3,wW,48.0,ww,58.0,MI,28.6,"
            b"Sw,63.6,OV,30.0,IF,6,rb,8255,rB,1973,rJ,12,rA,28,ZF,369.4,CS,FD\r\n",
            b'{0,16,~0,1,MO,"BD-815",Wg,3520\r\n',
        ),
    ),
)
