"""Bluetooth SIG time characteristics: Date Time (0x2A08) and Current Time (0x2A2B).

Date Time is the time stamp structure of every health profile (weight, blood pressure,
glucose); Current Time is what a Current Time Service (0x1805) serves and what the cart
writes to set a device's clock. Both are device local time with no time zone: the
decoders return naive datetimes and never guess a zone.

Wire layout (little-endian)::

    Date Time (7 bytes)
      0-1  year     uint16  1582-9999, 0 = not known
      2    month    uint8   1-12, 0 = not known
      3    day      uint8   1-31, 0 = not known
      4    hours    uint8   0-23
      5    minutes  uint8   0-59
      6    seconds  uint8   0-59

    Current Time (10 bytes) = Exact Time 256 + Adjust Reason
      0-6  Date Time
      7    day of week    uint8  1 = Monday .. 7 = Sunday, 0 = not known
      8    fractions256   uint8  1/256 s
      9    adjust reason  bit0 manual time update, bit1 external reference time update,
                          bit2 change of time zone, bit3 change of DST, bits 4-7 RFU

An all-zero Date Time (or any with year, month or day 0) has ``timestamp: null``.

Sources: Bluetooth SIG GATT Specification Supplement (Date Time, Day Date Time, Exact
Time 256, Current Time); Current Time Service 1.1; Nordic Semiconductor
Android-BLE-Common-Library ``DateTimeDataCallbackTest.java`` (vectors in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cart.errors import FrameError
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec
from cart.protocols.ble_common import DateTime, Reader, bit_names, check_uint, date_time_at

__all__ = [
    "ADJUST_REASONS",
    "DAYS_OF_WEEK",
    "PROTOCOLS",
    "CurrentTime",
    "DateTime",
    "current_time_record",
    "decode_current_time",
    "decode_date_time",
    "encode_current_time",
    "encode_date_time",
    "parse_current_time",
    "parse_date_time",
]

DATE_TIME_ID: Final = "ble.date_time"
CURRENT_TIME_ID: Final = "ble.current_time"
DATE_TIME_UUID: Final = 0x2A08
CURRENT_TIME_UUID: Final = 0x2A2B

DAYS_OF_WEEK: Final = {
    0: None,
    1: "monday",
    2: "tuesday",
    3: "wednesday",
    4: "thursday",
    5: "friday",
    6: "saturday",
    7: "sunday",
}
ADJUST_REASONS: Final = {
    0: "manual_time_update",
    1: "external_reference_time_update",
    2: "change_of_time_zone",
    3: "change_of_dst",
}


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """Current Time (0x2A2B). ``adjust_reason`` is the raw bit field (see ADJUST_REASONS)."""

    date_time: DateTime
    day_of_week: int = 0
    fractions256: int = 0
    adjust_reason: int = 0


def parse_date_time(payload: bytes) -> DateTime:
    reader = Reader(payload, DATE_TIME_ID)
    value = reader.date_time("Date Time")
    reader.end()
    return value


def encode_date_time(value: DateTime) -> bytes:
    """The 7 bytes of a Date Time. Raises ValueError outside the spec's ranges."""
    return value.to_bytes()


def decode_date_time(payload: bytes) -> Decoded:
    """``ble.date_time``: record ``{"timestamp": ISO or None, "year", ..., "seconds"}``."""
    if len(payload) != 7:
        parse_date_time(payload)  # raises IncompleteFrame / FrameError for the length
    value, when = date_time_at(payload, 0, "Date Time", DATE_TIME_ID)
    return Decoded(DATE_TIME_ID, value.json_with(when), raw=payload)


def parse_current_time(payload: bytes) -> CurrentTime:
    reader = Reader(payload, CURRENT_TIME_ID)
    date_time = reader.date_time("Exact Time 256")
    day_of_week = reader.u8("Day of Week")
    fractions = reader.u8("Fractions256")
    adjust = reader.u8("Adjust Reason")
    reader.end()
    if day_of_week > 7:
        raise FrameError(
            f"day of week {day_of_week} is reserved (0-7)", protocol=CURRENT_TIME_ID, raw=payload
        )
    return CurrentTime(date_time, day_of_week, fractions, adjust)


def encode_current_time(value: CurrentTime) -> bytes:
    """The 10 bytes of a Current Time value (what a client writes to set the clock)."""
    if not 0 <= value.day_of_week <= 7:
        raise ValueError(f"day of week {value.day_of_week} outside 0-7")
    check_uint("fractions256", value.fractions256, 8)
    check_uint("adjust_reason", value.adjust_reason, 8)
    return encode_date_time(value.date_time) + bytes(
        (value.day_of_week, value.fractions256, value.adjust_reason)
    )


def current_time_record(value: CurrentTime) -> dict[str, Any]:
    record = value.date_time.to_json()
    record.update(
        {
            "day_of_week": value.day_of_week,
            "day_of_week_name": DAYS_OF_WEEK[value.day_of_week],
            "fractions256": value.fractions256,
            "adjust_reason": value.adjust_reason,
            "adjust_reasons": bit_names(value.adjust_reason, ADJUST_REASONS),
        }
    )
    return record


def decode_current_time(payload: bytes) -> Decoded:
    """``ble.current_time``: the Date Time fields plus day of week, fractions, adjust reason."""
    return Decoded(CURRENT_TIME_ID, current_time_record(parse_current_time(payload)), raw=payload)


PROTOCOLS: Final = (
    ProtocolSpec(
        DATE_TIME_ID,
        "Bluetooth Date Time (7 bytes, device local time)",
        PayloadKind.HEX,
        decode_date_time,
        uuid=DATE_TIME_UUID,
        examples=(
            bytes.fromhex("e20704110f3300"),  # 2018-04-17 15:51:00, Nordic DateTimeDataCallbackTest
            bytes.fromhex("00000000121a20"),  # date not known, 18:26:32 (same test)
            bytes.fromhex("e8070a1b0d1e00"),  # 2024-10-27 13:30:00
        ),
    ),
    ProtocolSpec(
        CURRENT_TIME_ID,
        "Bluetooth Current Time (Current Time Service, 10 bytes)",
        PayloadKind.HEX,
        decode_current_time,
        uuid=CURRENT_TIME_UUID,
        examples=(
            bytes.fromhex("e807050a090f00050001"),  # Fri 2024-05-10 09:15:00, manual update
            bytes.fromhex("d5070c1b0c1f28027f00"),  # Tue 2005-12-27 12:31:40, 127/256 s
        ),
    ),
)
