"""Weighing-indicator "ST,GS" lines (``indicator.st_gs``), tokenised leniently across vendors.

Many OEM column and platform scales (and height rods configured as a generic ``cm``
profile) sit on an indicator that streams, at 2400-9600 baud (8N1; older units 7E1),
one line per display update::

    [CC] S1 , S2 , [sign] weight [,] unit CR LF
         │    │      └─ space, + or -, apart from or glued to the digits
         │    └─ GS gross, NT net
         └─ ST stable, US unstable, OL overload, UL underload
    CC: 2-digit instrument address, RS-485 only (Dini Argeo)

Field widths and separators differ by vendor, so the decoder splits on commas, drops
spaces and reads the sign apart from the digits:

    Selleton SL-7516  ``ST,GS,+  4.876kg``      sign, padded weight, no comma before unit
    Selleton SL-7515  ``ST, GS+ 5.12KG``        (manual-send print example)
    Tiger TI-02-P     ``ST,GS, 0012.50,kg``     sign is a space or -, 7-char weight
    Dini Argeo 3590   ``ST,GS,   70.50,kg``     8-char weight incl. sign, ``Kg`` / ``lb``

``OL`` and ``UL`` lines never yield a number (the weight field may hold dashes or stale
digits): they become specials ``+inf`` / ``-inf`` with flags ``overload`` / ``underload``.
Mass units give ``body_weight``; length units (cm, mm, m, in) give ``body_height``.

Sources: Selleton SL-7516 manual p.16 and SL-7515 p.12 (communication format); Tiger
TI-02-P manual §7.1 "Auto weight format string"; Dini Argeo 3590EKR/EXP technical manual
§5.4 "Transmission protocols - standard" and DGT4X p.52.
"""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from cart.errors import FrameError, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind, decimals_of
from cart.protocols._stream import FrameStream
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec

__all__ = [
    "MODES",
    "PROTOCOLS",
    "PROTOCOL_ID",
    "STATUSES",
    "IndicatorStream",
    "Style",
    "decode",
    "encode",
]

PROTOCOL_ID: Final = "indicator.st_gs"

#: S1 -> (meaning, flags, special for the value or None)
STATUSES: Final[dict[str, tuple[str, tuple[str, ...], str | None]]] = {
    "ST": ("stable", (), None),
    "US": ("unstable", ("unstable",), None),
    "OL": ("overload", ("overload",), "+inf"),
    "UL": ("underload", ("underload",), "-inf"),
}
#: S2 -> meaning
MODES: Final[dict[str, str]] = {"GS": "gross", "NT": "net"}

#: unit on the wire (lower-cased) -> (kind, UCUM unit)
UNITS: Final[dict[str, tuple[MeasurementKind, str]]] = {
    "kg": (MeasurementKind.BODY_WEIGHT, "kg"),
    "g": (MeasurementKind.BODY_WEIGHT, "g"),
    "lb": (MeasurementKind.BODY_WEIGHT, "[lb_av]"),
    "lbs": (MeasurementKind.BODY_WEIGHT, "[lb_av]"),
    "cm": (MeasurementKind.BODY_HEIGHT, "cm"),
    "mm": (MeasurementKind.BODY_HEIGHT, "mm"),
    "m": (MeasurementKind.BODY_HEIGHT, "m"),
    "in": (MeasurementKind.BODY_HEIGHT, "[in_i]"),
}

MAX_FRAME: Final = 48
_HEAD: Final = re.compile(r"(?P<address>[0-9]{2})?(?P<s1>[A-Z]{2})\s*,\s*(?P<rest>.*)", re.S)
_MODE: Final = re.compile(r"(?P<s2>[A-Z]{2})(?![A-Za-z])\s*,?\s*(?P<rest>.*)", re.S)
_NUMBER: Final = re.compile(r"(?P<sign>[+-]?)(?P<digits>[0-9]+\.?[0-9]*|\.[0-9]+)")
_UNIT: Final = re.compile(r"[A-Za-z]+$")
_START: Final = re.compile(rb"(?:[0-9]{2})?(?:ST|US|OL|UL)\s*,")


def decode(frame: bytes) -> Decoded:
    """Decode one indicator line (with or without CR LF)."""
    line_bytes = frame.strip(b"\r\n")
    if len(line_bytes) > MAX_FRAME:
        raise FrameError(
            f"line is {len(line_bytes)} bytes, longer than {MAX_FRAME}",
            protocol=PROTOCOL_ID,
            raw=frame[:64],
        )
    try:
        line = line_bytes.decode("ascii").strip()
    except UnicodeDecodeError:
        raise FrameError("line is not ASCII", protocol=PROTOCOL_ID, raw=frame) from None
    head = _HEAD.fullmatch(line)
    if head is None:
        raise FrameError(f"not an indicator line: {line[:40]!r}", protocol=PROTOCOL_ID, raw=frame)
    s1 = head["s1"]
    if s1 not in STATUSES:
        raise UnsupportedMessage(f"unknown status {s1!r}", protocol=PROTOCOL_ID, raw=frame)
    status, flags, special = STATUSES[s1]
    rest = head["rest"]
    s2: str | None = None
    mode_match = _MODE.fullmatch(rest)
    if mode_match is not None:
        s2 = mode_match["s2"]
        if s2 not in MODES:
            raise UnsupportedMessage(f"unknown weight mode {s2!r}", protocol=PROTOCOL_ID, raw=frame)
        rest = mode_match["rest"]
    # lenient: commas and spaces between sign, digits and unit carry no meaning; the unit
    # is the trailing letters of the last comma-separated token
    tokens = [t.replace(" ", "") for t in rest.split(",")]
    tokens = [t for t in tokens if t]
    data_text = "".join(tokens)
    record: dict[str, Any] = {
        "address": int(head["address"]) if head["address"] else None,
        "status": status,
        "stable": s1 == "ST",
        "mode": MODES[s2] if s2 else None,
        "data": rest.strip(),
        "value": None,
        "unit": None,
    }
    unit_match = _UNIT.search(tokens[-1]) if tokens else None
    unit_text = unit_match[0] if unit_match else ""
    number_text = data_text[: len(data_text) - len(unit_text)]
    record["unit"] = unit_text or None
    unit = UNITS.get(unit_text.lower()) if unit_text else None
    if unit_text and unit is None:
        raise UnsupportedMessage(
            f"unit {unit_text!r} is neither a mass nor a length", protocol=PROTOCOL_ID, raw=frame
        )

    if special is not None:
        # OL / UL: whatever the weight field holds (dashes, stale digits) is not a reading
        record["value"] = special
        kind = unit[0] if unit else MeasurementKind.BODY_WEIGHT
        measurement = Measurement.create(kind, None, special=special, flags=flags)
        return Decoded(PROTOCOL_ID, record, (measurement,), raw=bytes(frame))

    data = _NUMBER.fullmatch(number_text)
    if data is None:
        raise FrameError(f"no number in {rest.strip()[:20]!r}", protocol=PROTOCOL_ID, raw=frame)
    if unit is None:
        raise FrameError("reading without a unit", protocol=PROTOCOL_ID, raw=frame)
    # float() of plain decimal digits is correctly rounded: float(Decimal(digits)) exactly
    number = float(data["digits"])
    value = -number if data["sign"] == "-" else number
    record["value"] = value
    # the digits the indicator printed are its resolution: "70.0" -> 1 decimal
    decimals = decimals_of(data["digits"])
    measurement = Measurement.create(unit[0], value, unit[1], flags=flags, decimals=decimals)
    return Decoded(PROTOCOL_ID, record, (measurement,), raw=bytes(frame))


Style = Literal["selleton", "tiger", "dini"]


def encode(
    value: float | None,
    unit: str = "kg",
    *,
    status: str = "ST",
    mode: str = "GS",
    style: Style = "selleton",
    decimals: int = 2,
    address: int | None = None,
) -> bytes:
    """One indicator line, CR LF included, in a vendor's layout (the simulator's side).

    ``status="OL"``/``"UL"`` (or ``value=None``) prints the field the way indicators do
    when there is no reading: dashes.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    if unit.lower() not in UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    if address is not None and not 0 <= address <= 99:
        raise ValueError("address is 0..99")
    prefix = f"{address:02d}" if address is not None else ""
    if value is None or STATUSES[status][2] is not None:
        number, sign = "-" * 6, " "
    else:
        number = f"{abs(value):.{decimals}f}"
        sign = "-" if value < 0 else ("+" if style == "selleton" else " ")
    if style == "selleton":
        body = f"{sign}{number:>7}{unit}"
    elif style == "tiger":
        body = f"{sign}{number:>7},{unit}"
    elif style == "dini":
        signed = number if sign != "-" else f"-{number}"
        body = f"{signed:>8},{unit}"
    else:
        raise ValueError(f"unknown style {style!r}")
    return f"{prefix}{status},{mode},{body}\r\n".encode("ascii")


class IndicatorStream(FrameStream[Decoded]):
    """Stream decoder for an indicator in continuous mode: feed bytes, pull Decoded lines.

    Noise in front of the last status header on a line is dropped.
    """

    def __init__(self, *, max_buffer: int = 128) -> None:
        super().__init__(decode, max_buffer=max_buffer, protocol=PROTOCOL_ID, resync=_START)


PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "Weighing-indicator line 'ST,GS,+  70.50kg' (Selleton, Tiger, Dini Argeo and OEMs)",
        PayloadKind.TEXT,
        decode,
        examples=(
            b"ST,GS,+  4.876kg\r\n",
            b"ST, GS+ 5.12KG\r\n",
            b"US,GS, 0070.45,kg\r\n",
            b"ST,NT,   70.50,kg\r\n",
            b"01ST,GS,   70.50,Kg\r\n",
            b"OL,GS,+ ------kg\r\n",
            b"ST,GS,+  170.5cm\r\n",
        ),
    ),
)
