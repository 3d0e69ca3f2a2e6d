"""A&D standard weighing format (``and.weighing``).

Used by A&D balances and indicators and many medical scales built on them, streamed
at 2400-9600 baud, 7E1 or 8N1, one line per display update. Sources: A&D GC series
instruction manual §16.2 "A&D Standard Format"; A&D AD-4212D manual (overload data).

Wire layout (15 characters + CR LF; a comparison header adds 3)::

    S T , + 0 0 0 7 0 . 5 0 _ k g CR LF
    └┬┘   └──────┬────────┘ └─┬─┘
  header   data: sign + zero-padded    unit, 3 chars right-aligned
           digits (+ when zero)        ("__g", "_kg", "_lb", "_PC")

    ST,OK,+0001.234 kg      with comparison result (LO / OK / HI / --)
    OL,+9999999E+19  g      over range: the data field is not a weight

Headers: ``ST`` stable weight, ``US`` unstable weight or count, ``QT`` stable count,
``OL`` out of range. Decoding is lenient about the spaces between data and unit
(vendors pad differently) and strict about everything else.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from cart.errors import FrameError, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind, decimals_of
from cart.protocols._stream import FrameStream
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec

__all__ = [
    "HEADERS",
    "PROTOCOLS",
    "PROTOCOL_ID",
    "WeighingStream",
    "decode",
    "encode",
]

PROTOCOL_ID: Final = "and.weighing"

#: header -> (meaning, flags attached to the measurement)
HEADERS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "ST": ("stable_weight", ()),
    "US": ("unstable", ("unstable",)),
    "QT": ("stable_count", ()),
    "OL": ("out_of_range", ("overload",)),
}
COMPARISONS: Final = frozenset({"LO", "OK", "HI", "--"})

#: unit on the wire (stripped) -> UCUM unit of a mass; other units are not weights.
MASS_UNITS: Final[dict[str, str]] = {"kg": "kg", "g": "g", "lb": "[lb_av]"}
COUNT_UNITS: Final = frozenset({"PC", "pcs"})

_FRAME: Final = re.compile(
    rb"(?P<header>[A-Z]{2}),(?:(?P<cmp>LO|OK|HI|--),)?"
    rb"(?P<data>[+-]?[0-9 .]*[0-9](?:E[+-][0-9]{2})?\.?) *(?P<unit>[A-Za-z%]{1,3})?"
)
_HEADER_START: Final = re.compile(rb"(?:ST|US|QT|OL),")
MAX_FRAME: Final = 32


def decode(frame: bytes) -> Decoded:
    """Decode one line (with or without its CR LF)."""
    line = frame.rstrip(b"\r\n")
    if len(line) > MAX_FRAME:
        raise FrameError(
            f"frame is {len(line)} bytes, longer than {MAX_FRAME}", protocol=PROTOCOL_ID, raw=frame
        )
    match = _FRAME.fullmatch(line)
    if match is None:
        raise FrameError(
            f"not an A&D standard-format line: {line[:40]!r}", protocol=PROTOCOL_ID, raw=frame
        )
    header = match["header"].decode("ascii")
    if header not in HEADERS:
        raise UnsupportedMessage(f"unknown A&D header {header!r}", protocol=PROTOCOL_ID, raw=frame)
    meaning, flags = HEADERS[header]
    data = match["data"].decode("ascii")
    unit = (match["unit"] or b"").decode("ascii")
    cmp = match["cmp"].decode("ascii") if match["cmp"] else None
    sign = -1 if data.startswith("-") else 1

    record: dict[str, Any] = {
        "header": header,
        "status": meaning,
        "stable": header in ("ST", "QT"),
        "comparison": cmp,
        "data": data,
        "value": None,
        "unit": unit or None,
    }
    measurements: tuple[Measurement, ...] = ()
    if header == "OL":
        special = "-inf" if sign < 0 else "+inf"
        record["value"] = special
        if unit in MASS_UNITS or not unit:
            measurements = (
                Measurement.create(MeasurementKind.BODY_WEIGHT, None, special=special, flags=flags),
            )
        return Decoded(PROTOCOL_ID, record, measurements, raw=frame)

    value = _parse_number(data, frame)
    record["value"] = value
    if unit in MASS_UNITS:
        measurements = (
            Measurement.create(
                MeasurementKind.BODY_WEIGHT,
                value,
                MASS_UNITS[unit],
                flags=flags,
                # the digits the scale printed (as parsed: spaces dropped): 70.50 -> 2
                decimals=decimals_of(data.replace(" ", "")),
            ),
        )
    elif unit in COUNT_UNITS or header == "QT":
        pass  # counting mode: a record, but no body measurement
    elif not unit:
        raise FrameError("weight without a unit", protocol=PROTOCOL_ID, raw=frame)
    else:
        raise UnsupportedMessage(
            f"unit {unit!r} is not a mass unit", protocol=PROTOCOL_ID, raw=frame
        )
    return Decoded(PROTOCOL_ID, record, measurements, raw=frame)


def _parse_number(data: str, frame: bytes) -> float:
    digits = data.replace(" ", "")
    if digits.count(".") > 1 or "E" in digits:
        raise FrameError(f"malformed data field {data!r}", protocol=PROTOCOL_ID, raw=frame)
    try:
        return float(Decimal(digits))
    except InvalidOperation as exc:
        raise FrameError(f"malformed data field {data!r}", protocol=PROTOCOL_ID, raw=frame) from exc


def encode(
    value: float | None,
    unit: str = "kg",
    *,
    header: str = "ST",
    decimals: int = 2,
    comparison: str | None = None,
) -> bytes:
    """One line in A&D standard format, CR LF included (the simulator's side).

    ``value=None`` with ``header="OL"`` gives the overload line.
    """
    if header not in HEADERS:
        raise ValueError(f"unknown header {header!r}")
    if comparison is not None and comparison not in COMPARISONS:
        raise ValueError(f"unknown comparison {comparison!r}")
    if header == "OL" or value is None:
        data = "+9999999E+19"
    else:
        sign = "-" if value < 0 else "+"
        body = f"{abs(value):.{decimals}f}"
        data = sign + body.rjust(8, "0")
    prefix = f"{header}," + (f"{comparison}," if comparison else "")
    return f"{prefix}{data}{unit:>3}\r\n".encode("ascii")


class WeighingStream(FrameStream[Decoded]):
    """Stream decoder for a scale streaming A&D lines: feed bytes, pull Decoded frames.

    Noise in front of the last header on a line (noise bytes before a frame) is dropped.
    """

    def __init__(self, *, max_buffer: int = 128) -> None:
        super().__init__(decode, max_buffer=max_buffer, protocol=PROTOCOL_ID, resync=_HEADER_START)


PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "A&D standard weighing format (ST/US/QT/OL, e.g. 'ST,+00070.50  kg')",
        PayloadKind.TEXT,
        decode,
        examples=(
            b"ST,+00070.50  kg\r\n",
            b"US,+00070.48  kg\r\n",
            b"ST,+0001.234 kg\r\n",
            b"ST,OK,+0001.234 kg\r\n",
            b"OL,+9999999E+19  g\r\n",
        ),
    ),
)
