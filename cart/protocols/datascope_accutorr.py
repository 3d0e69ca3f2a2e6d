"""Datascope Accutorr PC-interface responses (``datascope.accutorr``): the ``P:`` line.

Devices: Datascope (later Mindray) Accutorr 3 / Accutorr Plus NIBP + SpO2 monitors.
Link: RS-232, 8N1, baud rate from the User Configuration menu; plain ASCII, no packets
or checksums. At power-up the monitor prints ``ACCUTORR PC Interface is ready`` and the
prompt ``>``; the host then sends one command character, without terminator:

    ``P``  show patient data   ->  ``P:aaa,bbb,ccc,ddd,eee,fff,ggg,hhh,iii`` CR LF
    ``L``  show alarm limits   ->  ``L:aaa,bbb,ccc,ddd,eee,fff,ggg,hhh,iii,jjj`` CR LF
    ^C     prompt request (03) ->  ``>``

Patient data line (manual p.1-53; fields are 3-digit numbers, ``--`` when not in use)::

    P : - - , 8 5 , 1 2 0 ,   4 5 ,   8 0 , 0 0 0 , 0 1 0 , 0 0 0 ,   5 CR LF
        SpO2  pulse  SYS     MAP     DIA    status0 status1 status2 minutes since NIBP

Units: mmHg, beats/min, SpO2 %. The three status bytes are kept verbatim (their bit
meanings are on a manual page not available to us). The manual's own example has
MAP < DIA: decoding does not judge physiology (DESIGN §2). SpO2 has no measurement
kind in the cart and stays in the record.

Sources: Datascope Accutorr 3 service manual pp.1-52 ("PC interface for the ACCUTORR")
and 1-53 ("Command responses"), rev. 08/24/90; p.1-37 ("Interfacing to personal
computers").
"""

from __future__ import annotations

import re
from typing import Any, Final

from cart.errors import FrameError, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind
from cart.protocols._stream import FrameStream
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec

__all__ = [
    "BANNER",
    "COMMAND_ALARM_LIMITS",
    "COMMAND_PATIENT_DATA",
    "COMMAND_PROMPT",
    "PROMPT",
    "PROTOCOLS",
    "PROTOCOL_ID",
    "AccutorrStream",
    "decode",
    "encode_alarm_limits",
    "encode_patient_data",
]

PROTOCOL_ID: Final = "datascope.accutorr"
COMMAND_PATIENT_DATA: Final = b"P"
COMMAND_ALARM_LIMITS: Final = b"L"
COMMAND_PROMPT: Final = b"\x03"
PROMPT: Final = b">"
BANNER: Final = b"ACCUTORR PC Interface is ready"

PATIENT_FIELDS: Final[tuple[str, ...]] = (
    "spo2",
    "pulse_rate",
    "systolic",
    "mean_arterial_pressure",
    "diastolic",
    "status_byte_0",
    "status_byte_1",
    "status_byte_2",
    "minutes_since_nibp",
)
LIMIT_FIELDS: Final[tuple[str, ...]] = (
    "spo2_high",
    "spo2_low",
    "pulse_rate_high",
    "pulse_rate_low",
    "systolic_high",
    "systolic_low",
    "mean_arterial_pressure_high",
    "mean_arterial_pressure_low",
    "diastolic_high",
    "diastolic_low",
)
STATUS_FIELDS: Final = frozenset({"status_byte_0", "status_byte_1", "status_byte_2"})
#: record field -> measurement kind
KINDS: Final[dict[str, MeasurementKind]] = {
    "systolic": MeasurementKind.SYSTOLIC_PRESSURE,
    "diastolic": MeasurementKind.DIASTOLIC_PRESSURE,
    "mean_arterial_pressure": MeasurementKind.MEAN_ARTERIAL_PRESSURE,
    "pulse_rate": MeasurementKind.PULSE_RATE,
}

MAX_FRAME: Final = 80
_FIELD: Final = re.compile(r"[0-9]{1,3}")
_START: Final = re.compile(rb"[PL]:|ACCUTORR")
_BANNER: Final = BANNER.decode()
_PROMPT: Final = PROMPT.decode()


def _line_pattern(count: int) -> re.Pattern[str]:
    """``count`` comma-separated fields, each a dash marker (``-``, ``--``, ``---``) or 1-3
    digits, with any whitespace around it (\\s is what str.strip() removes)."""
    return re.compile(",".join([r"\s*(-{1,3}|[0-9]{1,3})\s*"] * count))


#: command -> the whole field list of a valid line (a mismatch is checked field by field)
_LINES: Final = {"P": _line_pattern(len(PATIENT_FIELDS)), "L": _line_pattern(len(LIMIT_FIELDS))}


def decode(frame: bytes) -> Decoded:
    """Decode one response line (``P:``, ``L:``, the banner or a bare prompt)."""
    line_bytes = frame.strip(b"\r\n")
    if len(line_bytes) > MAX_FRAME:
        raise FrameError(
            f"line is {len(line_bytes)} bytes, longer than {MAX_FRAME}",
            protocol=PROTOCOL_ID,
            raw=frame[:64],
        )
    try:
        line = line_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise FrameError("line is not ASCII", protocol=PROTOCOL_ID, raw=frame) from None
    stripped = line.strip()
    if stripped.startswith(_BANNER) or stripped == _PROMPT:
        return Decoded(PROTOCOL_ID, {"command": None, "message": stripped}, (), raw=bytes(frame))
    if len(stripped) < 2 or stripped[1] != ":":
        raise FrameError(
            f"not an Accutorr response: {stripped[:20]!r}", protocol=PROTOCOL_ID, raw=frame
        )
    command = stripped[0]
    if command == "P":
        names = PATIENT_FIELDS
    elif command == "L":
        names = LIMIT_FIELDS
    else:
        raise UnsupportedMessage(
            f"response to command {command!r} is not decoded", protocol=PROTOCOL_ID, raw=frame
        )
    record: dict[str, Any] = {"command": command}
    line_match = _LINES[command].fullmatch(stripped, 2)
    fields = (
        line_match.groups()
        if line_match is not None
        else _checked_fields(command, names, stripped, frame)  # raises for a bad field
    )
    for name, text in zip(names, fields, strict=True):  # each a dash marker or 1-3 digits
        if text[0] == "-":
            record[name] = None
        elif name in STATUS_FIELDS:
            record[name] = text
        else:
            record[name] = int(text)
    measurements: tuple[Measurement, ...] = ()
    if command == "P":
        measurements = tuple(
            [
                Measurement.create(kind, record[name], decimals=0)  # 1-3 digit integers
                for name, kind in KINDS.items()
                if record[name] is not None
            ]
        )
    return Decoded(PROTOCOL_ID, record, measurements, raw=bytes(frame))


def _checked_fields(command: str, names: tuple[str, ...], stripped: str, frame: bytes) -> list[str]:
    """The fields, stripped, one by one: FrameError for a wrong field count or the first
    field that is neither a dash marker nor a number."""
    fields = [f.strip() for f in stripped[2:].split(",")]
    if len(fields) != len(names):
        raise FrameError(
            f"{command}: has {len(fields)} fields, expected {len(names)}",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    for name, text in zip(names, fields, strict=True):
        if text not in ("--", "---", "-") and not _FIELD.fullmatch(text):
            raise FrameError(
                f"{name} field {text!r} is not a number", protocol=PROTOCOL_ID, raw=frame
            )
    return fields


def _field(value: int | None) -> str:
    if value is None:
        return "--"
    if not 0 <= value <= 999:
        raise ValueError(f"{value} does not fit a 3-digit field")
    return f"{value:3d}"


def encode_patient_data(
    *,
    systolic: int | None,
    diastolic: int | None,
    mean_arterial_pressure: int | None,
    pulse_rate: int | None,
    spo2: int | None = None,
    status: tuple[str, str, str] = ("000", "000", "000"),
    minutes_since_nibp: int | None = 0,
) -> bytes:
    """The ``P:`` response line, CR LF included (the simulator's side)."""
    for byte in status:
        if not re.fullmatch(r"[0-9]{3}", byte):
            raise ValueError("status bytes are 3-digit strings such as '010'")
    fields = [
        _field(spo2),
        _field(pulse_rate),
        _field(systolic),
        _field(mean_arterial_pressure),
        _field(diastolic),
        *status,
        _field(minutes_since_nibp),
    ]
    return ("P:" + ",".join(fields) + "\r\n").encode("ascii")


def encode_alarm_limits(limits: dict[str, int | None]) -> bytes:
    """The ``L:`` response line; ``limits`` is keyed by :data:`LIMIT_FIELDS` names."""
    unknown = set(limits) - set(LIMIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown limits {sorted(unknown)}")
    return ("L:" + ",".join(_field(limits.get(n)) for n in LIMIT_FIELDS) + "\r\n").encode()


class AccutorrStream(FrameStream[Decoded]):
    """Stream decoder for the monitor's replies: feed bytes, pull Decoded lines.

    The prompt and noise in front of the last response start on a line are dropped.
    """

    def __init__(self, *, max_buffer: int = 160) -> None:
        super().__init__(
            decode,
            max_buffer=max_buffer,
            protocol=PROTOCOL_ID,
            resync=_START,
            skip=lambda line: not line.strip(b" >\r\n"),
        )


PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "Datascope Accutorr 'P:' patient-data line (SpO2, pulse, SYS, MAP, DIA, status)",
        PayloadKind.TEXT,
        decode,
        examples=(
            b"P:--,85,120, 45, 80,000,010,000, 5\r\n",
            b"P: 98, 72,118, 88, 73,000,000,000,  0\r\n",
            b"L:100, 85,120, 50,180, 90,120, 60,100, 50\r\n",
        ),
    ),
)
