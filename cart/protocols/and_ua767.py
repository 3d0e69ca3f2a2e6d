"""A&D UA-767PBT-class blood pressure data (``and.ua767``): data section and PBT packet.

Devices: A&D UA-767PBT(-C) and the PBT series (UC-321PBT scale, UC-411PBT-C body
composition), over Bluetooth SPP, i.e. a serial stream (an rfcomm tty, or a pty in the
simulator). After a measurement the device sends one packet: a 60-byte binary header,
then a printable data section; the host answers ``PWA1`` (accepted) or ``PWA0``.

Packet header (little-endian integers)::

    off  size  field
      0   2    packet type, always 2
      2   4    data length (bytes after the 60-byte header)
      6   2    device type: 767 (0x02FF) UA-767PBT, 321 (0x0141) UC-321PBT, 407 UC-411PBT-C
      8   1    flag
      9   7    measurement time: year (2), month, day, hour, minute, second
     16   7    transmission time, same layout
     23   6    Bluetooth id of the device      29  6  Bluetooth id of the access point
     35  12    serial number (ASCII, NUL padded)
     47  10    reserved   57  1 battery   58  1 reserved   59  1 firmware/hardware rev

Blood-pressure data section: 10 printable hex digits, 2 per field::

    8 0 1 D 4 C 4 1 5 2
    └┬┘ └┬┘ └┬┘ └┬┘ └┬┘
   valid │  DIA  PULSE MAP      "80" = valid measurement, anything else = invalid
      SYS-DIA                   SYS = DIA + (SYS-DIA); all in mmHg and /min

``decode`` accepts the data section alone (``801D4C4152``) or a whole packet (binary,
starting ``02 00``); only blood-pressure packets (device type 767) are decoded.

Sources: "Phonegap Healthcare Adapter Bluetooth Spec" (CDOT wiki, Seneca College, A&D
PBT header and blood-pressure data section tables); a public Android driver for the
UA-767PBT / UC-411PBT-C (``BluetoothServer4And.java``) for the little-endian header
reads, the PWA1/PWA0 replies and logged readings.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime
from typing import Any, Final

from cart.errors import BufferOverflow, FrameError, IncompleteFrame, UnsupportedMessage
from cart.measurement import Measurement, MeasurementKind
from cart.protocols.base import NEED_DATA, Decoded, NeedData, PayloadKind, ProtocolSpec

__all__ = [
    "ACK",
    "DEVICE_TYPES",
    "HEADER_SIZE",
    "NAK",
    "PROTOCOLS",
    "PROTOCOL_ID",
    "UA767Stream",
    "decode",
    "encode_data",
    "encode_packet",
]

PROTOCOL_ID: Final = "and.ua767"
HEADER_SIZE: Final = 60
DATA_SIZE: Final = 10
PACKET_TYPE: Final = 2
BP_DEVICE_TYPE: Final = 767
#: device type -> model
DEVICE_TYPES: Final[dict[int, str]] = {767: "UA-767PBT", 321: "UC-321PBT", 407: "UC-411PBT-C"}
VALID: Final = "80"
#: host replies after a packet
ACK: Final = b"PWA1"
NAK: Final = b"PWA0"
MAX_DATA: Final = 512

_HEADER: Final = struct.Struct("<HIHB7s7s6s6s12s10sBBB")
_HEX: Final = re.compile(rb"[0-9A-Fa-f]{10}")
_VALID: Final = VALID.encode()
_SYSTOLIC: Final = MeasurementKind.SYSTOLIC_PRESSURE
_DIASTOLIC: Final = MeasurementKind.DIASTOLIC_PRESSURE
_MAP: Final = MeasurementKind.MEAN_ARTERIAL_PRESSURE
_PULSE: Final = MeasurementKind.PULSE_RATE


def decode(frame: bytes) -> Decoded:
    """Decode a data section (10 hex digits, optional CR LF) or a whole PBT packet."""
    frame = bytes(frame)
    if frame[:2] == PACKET_TYPE.to_bytes(2, "little"):
        return _decode_packet(frame)
    return _decode_data(frame.strip(b"\r\n \t"), frame, {})


def _decode_data(section: bytes, frame: bytes, header: dict[str, Any]) -> Decoded:
    if len(section) < DATA_SIZE and _HEX.fullmatch(section.ljust(DATA_SIZE, b"0")):
        raise IncompleteFrame(
            f"data section has {len(section)} of {DATA_SIZE} digits",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    if not _HEX.fullmatch(section):
        raise FrameError(
            "blood-pressure data is 10 hex digits", protocol=PROTOCOL_ID, raw=frame[:80]
        )
    status, delta, dia, pulse, mean = bytes.fromhex(section.decode("ascii"))
    valid = section[:2] == _VALID
    measured_at: datetime | None = header.get("measured_at")
    record: dict[str, Any] = {
        "valid": valid,
        "status": f"{status:02X}",
        "systolic": dia + delta if valid else None,
        "diastolic": dia if valid else None,
        "pulse_rate": pulse if valid else None,
        "mean_arterial_pressure": mean if valid else None,
        "data": section.decode("ascii"),
        **{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in header.items()},
    }
    if not valid:
        # the device reports a failed measurement: a record, but no reading to store
        return Decoded(PROTOCOL_ID, record, (), raw=frame)
    create = Measurement.create
    measurements = (
        # one byte each: whole mmHg and beats/min
        create(_SYSTOLIC, dia + delta, measured_at=measured_at, decimals=0),
        create(_DIASTOLIC, dia, measured_at=measured_at, decimals=0),
        create(_MAP, mean, measured_at=measured_at, decimals=0),
        create(_PULSE, pulse, measured_at=measured_at, decimals=0),
    )
    return Decoded(PROTOCOL_ID, record, measurements, raw=frame)


def _timestamp(raw: bytes) -> datetime | None:
    year = int.from_bytes(raw[:2], "little")
    try:
        return datetime(year, raw[2], raw[3], raw[4], raw[5], raw[6])
    except ValueError:
        return None  # an unset or invalid device clock: keep the reading, not the time


def _decode_packet(frame: bytes) -> Decoded:
    if len(frame) < HEADER_SIZE:
        raise IncompleteFrame(
            f"packet header has {len(frame)} of {HEADER_SIZE} bytes",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    (
        _type,
        length,
        device_type,
        flag,
        measured,
        sent,
        bt_id,
        ap_id,
        serial,
        _reserved,
        battery,
        _reserved2,
        revision,
    ) = _HEADER.unpack_from(frame)
    if length > MAX_DATA:
        raise FrameError(f"data length {length} is implausible", protocol=PROTOCOL_ID, raw=frame)
    if len(frame) < HEADER_SIZE + length:
        raise IncompleteFrame(
            f"packet has {len(frame)} of {HEADER_SIZE + length} bytes",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    if len(frame) > HEADER_SIZE + length:
        raise FrameError(
            f"{len(frame) - HEADER_SIZE - length} bytes after the packet",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    if device_type != BP_DEVICE_TYPE:
        model = DEVICE_TYPES.get(device_type, f"device type {device_type}")
        raise UnsupportedMessage(
            f"{model} packets are not blood-pressure data", protocol=PROTOCOL_ID, raw=frame
        )
    if length != DATA_SIZE:
        raise FrameError(
            f"blood-pressure data section is {length} bytes, not {DATA_SIZE}",
            protocol=PROTOCOL_ID,
            raw=frame,
        )
    header = {
        "device_type": device_type,
        "model": DEVICE_TYPES[device_type],
        "flag": flag,
        "measured_at": _timestamp(measured),
        "transmitted_at": _timestamp(sent),
        "bluetooth_id": bt_id.hex(":"),
        "access_point_id": ap_id.hex(":"),
        "serial_number": serial.rstrip(b"\x00 ").decode("latin-1"),
        "battery": battery,
        "revision": revision,
    }
    return _decode_data(frame[HEADER_SIZE:], frame, header)


def encode_data(
    systolic: int,
    diastolic: int,
    pulse_rate: int,
    mean_arterial_pressure: int,
    *,
    valid: bool = True,
) -> bytes:
    """The 10-digit data section (upper-case hex, as logged from real devices)."""
    delta = systolic - diastolic
    for name, value in (
        ("systolic - diastolic", delta),
        ("diastolic", diastolic),
        ("pulse_rate", pulse_rate),
        ("mean_arterial_pressure", mean_arterial_pressure),
    ):
        if not 0 <= value <= 0xFF:
            raise ValueError(f"{name} = {value} does not fit one byte")
    status = 0x80 if valid else 0x00
    fields = (status, delta, diastolic, pulse_rate, mean_arterial_pressure)
    return "".join(f"{v:02X}" for v in fields).encode("ascii")


def encode_packet(
    data: bytes,
    *,
    measured_at: datetime,
    transmitted_at: datetime | None = None,
    serial_number: str = "5111124008",
    bluetooth_id: bytes = bytes(6),
    device_type: int = BP_DEVICE_TYPE,
    flag: int = 0,
    battery: int = 0,
    revision: int = 0,
) -> bytes:
    """A whole PBT packet around ``data`` (the simulator's side)."""
    sent = transmitted_at or measured_at

    def stamp(t: datetime) -> bytes:
        return t.year.to_bytes(2, "little") + bytes([t.month, t.day, t.hour, t.minute, t.second])

    header = _HEADER.pack(
        PACKET_TYPE,
        len(data),
        device_type,
        flag,
        stamp(measured_at),
        stamp(sent),
        bluetooth_id[:6].ljust(6, b"\x00"),
        bytes(6),
        serial_number.encode("ascii")[:12].ljust(12, b"\x00"),
        bytes(10),
        battery,
        0,
        revision,
    )
    return header + data


class UA767Stream:
    """Stream decoder for PBT packets: feed bytes, ``next_frame()`` -> Decoded or NEED_DATA.

    A packet starts with ``02 00`` and its length is in the header; bytes before a
    plausible header are dropped (counted in :attr:`discarded`). ``max_buffer`` bounds
    what is kept while waiting for a packet's data.
    """

    def __init__(self, *, max_buffer: int = HEADER_SIZE + MAX_DATA) -> None:
        self._buf = bytearray()
        self._max = max_buffer
        self.discarded = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def _drop(self, n: int) -> None:
        self.discarded += n
        del self._buf[:n]

    def next_frame(self) -> Decoded | NeedData:
        buf = self._buf
        while True:
            start = buf.find(b"\x02\x00")
            if start < 0:
                self._drop(len(buf) - (1 if buf.endswith(b"\x02") else 0))
                return NEED_DATA
            if start:
                self._drop(start)
            if len(buf) < 8:
                return NEED_DATA
            length = int.from_bytes(buf[2:6], "little")
            device_type = int.from_bytes(buf[6:8], "little")
            if length > MAX_DATA or device_type not in DEVICE_TYPES:
                self._drop(1)  # not a header: hunt for the next 02 00
                continue
            total = HEADER_SIZE + length
            if len(buf) < total:
                if len(buf) > self._max:
                    raw = bytes(buf[:64])
                    self._drop(len(buf))
                    raise BufferOverflow(self._max, protocol=PROTOCOL_ID, raw=raw)
                return NEED_DATA
            frame = bytes(buf[:total])
            del buf[:total]
            return decode(frame)


PROTOCOLS: Final = (
    ProtocolSpec(
        PROTOCOL_ID,
        "A&D UA-767PBT blood-pressure data section '801D4C4152' (or a whole PBT packet)",
        PayloadKind.TEXT,
        decode,
        examples=(b"801D4C4152", b"8020423C4C"),
    ),
)
