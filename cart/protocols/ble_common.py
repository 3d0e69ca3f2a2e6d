"""Shared pieces of the Bluetooth SIG GATT characteristic decoders (no ``PROTOCOLS`` here).

* :class:`Reader`: a bounds-checked little-endian cursor. Reading past the end raises
  :class:`~cart.errors.IncompleteFrame`; :meth:`Reader.end` raises
  :class:`~cart.errors.FrameError` when bytes are left over (the flags promised fewer
  fields than were sent).
* :class:`DateTime`: the 7-byte Date Time structure (0x2A08) every health profile uses
  for its time stamps: ``year uint16 | month | day | hours | minutes | seconds``.
  Year, month or day 0 means "not known"; such a time stamp has no ``datetime``.
* :func:`measurement`: :meth:`Measurement.create` with any ValidationError turned into a
  FrameError, so a decoder never lets anything but a ProtocolError escape.

Source: Bluetooth SIG GATT Specification Supplement, Date Time (org.bluetooth.
characteristic.date_time): year 1582-9999 or 0, month 1-12 or 0, day 1-31 or 0,
hours 0-23, minutes 0-59, seconds 0-59.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cart.errors import FrameError, IncompleteFrame, ValidationError
from cart.measurement import Measurement, MeasurementKind, Special, slot_setters
from cart.protocols.ieee11073 import MedFloat, float_from_bytes, sfloat_from_bytes

__all__ = [
    "DateTime",
    "Reader",
    "bit_names",
    "check_uint",
    "date_time_at",
    "measurement",
    "medfloat_decimals",
    "medfloat_measurement",
]

YEAR_MIN: Final = 1582
YEAR_MAX: Final = 9999


@dataclass(frozen=True, slots=True)
class DateTime:
    """Date Time (0x2A08): device local time, no time zone. 0 in year/month/day = unknown."""

    year: int = 0
    month: int = 0
    day: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @classmethod
    def from_datetime(cls, value: datetime) -> DateTime:
        """From a naive (device local) datetime; sub-second parts are dropped."""
        return cls(value.year, value.month, value.day, value.hour, value.minute, value.second)

    def problems(self) -> list[str]:
        """What is outside the ranges of the spec (empty when the value is valid)."""
        year, month, day = self.year, self.month, self.day
        if (  # the common case, a valid value: the checks below, at once
            (year == 0 or YEAR_MIN <= year <= YEAR_MAX)
            and 0 <= month <= 12
            and 0 <= day <= 31
            and 0 <= self.hours <= 23
            and 0 <= self.minutes <= 59
            and 0 <= self.seconds <= 59
        ):
            if year and month and day:
                try:
                    self._datetime()
                except ValueError:
                    return [f"{year:04d}-{month:02d}-{day:02d} is not a date"]
            return []
        found = []
        if self.year != 0 and not YEAR_MIN <= self.year <= YEAR_MAX:
            found.append(f"year {self.year} (0 or {YEAR_MIN}-{YEAR_MAX})")
        if not 0 <= self.month <= 12:
            found.append(f"month {self.month} (0-12)")
        if not 0 <= self.day <= 31:
            found.append(f"day {self.day} (0-31)")
        if not 0 <= self.hours <= 23:
            found.append(f"hours {self.hours} (0-23)")
        if not 0 <= self.minutes <= 59:
            found.append(f"minutes {self.minutes} (0-59)")
        if not 0 <= self.seconds <= 59:
            found.append(f"seconds {self.seconds} (0-59)")
        if not found and self.is_complete:
            try:
                self._datetime()
            except ValueError:
                found.append(f"{self.year:04d}-{self.month:02d}-{self.day:02d} is not a date")
        return found

    @property
    def is_complete(self) -> bool:
        """Year, month and day are all known."""
        return self.year != 0 and self.month != 0 and self.day != 0

    def _datetime(self) -> datetime:
        return datetime(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)

    def to_datetime(self) -> datetime | None:
        """Naive datetime (device local time), or None when the date is not (fully) known.

        Raises ValueError for an invalid value (check :meth:`problems` first)."""
        problems = self.problems()
        if problems:
            raise ValueError("invalid Date Time: " + ", ".join(problems))
        return self._datetime() if self.is_complete else None

    def to_bytes(self) -> bytes:
        """The 7 wire bytes. Raises ValueError for values outside the spec's ranges."""
        for name in ("year", "month", "day", "hours", "minutes", "seconds"):
            check_uint(name, getattr(self, name), 16 if name == "year" else 8)
        problems = self.problems()
        if problems:
            raise ValueError("invalid Date Time: " + ", ".join(problems))
        return self.year.to_bytes(2, "little") + bytes(
            (self.month, self.day, self.hours, self.minutes, self.seconds)
        )

    def to_json(self) -> dict[str, Any]:
        """``{"timestamp": ISO or None, "year", "month", "day", "hours", "minutes", "seconds"}``."""
        when = self._datetime() if self.is_complete and not self.problems() else None
        return self.json_with(when)

    def json_with(self, when: datetime | None) -> dict[str, Any]:
        """:meth:`to_json` for a value already checked, with its :meth:`to_datetime`."""
        return {
            "timestamp": when.isoformat() if when else None,
            "year": self.year,
            "month": self.month,
            "day": self.day,
            "hours": self.hours,
            "minutes": self.minutes,
            "seconds": self.seconds,
        }


def _in_range(year: int, month: int, day: int, hours: int, minutes: int, seconds: int) -> bool:
    """Every field within the spec's range (a bytes-decoded field is never negative)."""
    return (
        (year == 0 or YEAR_MIN <= year <= YEAR_MAX)
        and 0 <= month <= 12
        and 0 <= day <= 31
        and 0 <= hours <= 23
        and 0 <= minutes <= 59
        and 0 <= seconds <= 59
    )


_new = object.__new__
_DATE_TIME_SETTERS: Final = slot_setters(DateTime)


def date_time_at(
    data: bytes, pos: int, field: str, protocol: str
) -> tuple[DateTime, datetime | None]:
    """The Date Time at ``data[pos:pos + 7]`` (the caller checked the length) and its
    :meth:`DateTime.to_datetime`, parsed and checked once: what :meth:`Reader.date_time`
    and then ``to_datetime()`` give, with the same FrameError for an invalid value."""
    year = data[pos] | data[pos + 1] << 8
    month, day, hours, minutes, seconds = data[pos + 2 : pos + 7]
    value = _new(DateTime)
    set_year, set_month, set_day, set_hours, set_minutes, set_seconds = _DATE_TIME_SETTERS
    set_year(value, year)
    set_month(value, month)
    set_day(value, day)
    set_hours(value, hours)
    set_minutes(value, minutes)
    set_seconds(value, seconds)
    if _in_range(year, month, day, hours, minutes, seconds):
        if not (year and month and day):
            return value, None
        try:
            return value, datetime(year, month, day, hours, minutes, seconds)
        except ValueError:
            pass
    raise FrameError(
        f"{field} is not a valid Date Time: " + ", ".join(value.problems()),
        protocol=protocol,
        raw=data,
    )


class Reader:
    """Little-endian cursor over one characteristic value; errors name ``protocol``."""

    __slots__ = ("data", "pos", "protocol")

    def __init__(self, data: bytes, protocol: str) -> None:
        self.data = data
        self.pos = 0
        self.protocol = protocol

    def take(self, size: int, field: str) -> bytes:
        end = self.pos + size
        if end > len(self.data):
            raise IncompleteFrame(
                f"value ends before {field}: needs {size} byte(s) at offset {self.pos}, "
                f"{len(self.data) - self.pos} left",
                protocol=self.protocol,
                raw=self.data,
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "little")

    def s16(self, field: str) -> int:
        return int.from_bytes(self.take(2, field), "little", signed=True)

    def u32(self, field: str) -> int:
        return int.from_bytes(self.take(4, field), "little")

    def sfloat(self, field: str) -> MedFloat:
        return sfloat_from_bytes(self.take(2, field))

    def float32(self, field: str) -> MedFloat:
        return float_from_bytes(self.take(4, field))

    def date_time(self, field: str) -> DateTime:
        start = self.pos
        self.take(7, field)
        return date_time_at(self.data, start, field, self.protocol)[0]

    def end(self) -> None:
        if self.pos != len(self.data):
            raise self.error(
                f"{len(self.data) - self.pos} byte(s) after the last field the flags announce "
                f"(value is {len(self.data)} bytes, fields end at {self.pos})"
            )

    def error(self, message: str) -> FrameError:
        return FrameError(message, protocol=self.protocol, raw=self.data)


def check_uint(name: str, value: int, bits: int) -> int:
    """Encoder-side range check of an unsigned field; returns ``value``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name} {value} does not fit in uint{bits}")
    return value


def bit_names(value: int, names: Mapping[int, str]) -> list[str]:
    """Names of the set bits of ``value`` (``names`` maps bit number -> name), in bit order."""
    return [name for bit, name in sorted(names.items()) if value & (1 << bit)]


def measurement(
    protocol: str,
    raw: bytes,
    kind: MeasurementKind,
    value: float | None,
    unit: str | None = None,
    *,
    special: Special | None = None,
    measured_at: datetime | None = None,
    flags: Iterable[str] = (),
    sequence: int | None = None,
    user_id: int | None = None,
    context: Mapping[str, str] | None = None,
    loinc: str | None = None,
    decimals: int | None = None,
) -> Measurement:
    """:meth:`Measurement.create`, with ValidationError/arithmetic errors as FrameError."""
    try:
        return Measurement.create(
            kind,
            value,
            unit,
            special=special,
            measured_at=measured_at,
            flags=flags,
            sequence=sequence,
            user_id=user_id,
            context=context,
            loinc=loinc,
            decimals=decimals,
        )
    except (ValidationError, ArithmeticError, ValueError) as exc:
        raise FrameError(
            f"{kind.value} value {value!r} {unit or ''} cannot be normalised: {exc}",
            protocol=protocol,
            raw=raw,
        ) from exc


def medfloat_measurement(
    protocol: str,
    raw: bytes,
    kind: MeasurementKind,
    number: MedFloat,
    unit: str,
    **kwargs: Any,
) -> Measurement:
    """A measurement from an SFLOAT/FLOAT: specials become ``special=`` with no value; the
    exponent is the precision (:func:`medfloat_decimals`)."""
    if number.special is not None:
        return measurement(protocol, raw, kind, None, special=number.special, **kwargs)
    return measurement(
        protocol, raw, kind, number.value, unit, decimals=medfloat_decimals(number), **kwargs
    )


def medfloat_decimals(number: MedFloat) -> int:
    """The decimals an SFLOAT/FLOAT reports: ``-exponent`` (0 for exponent >= 0). The PHD IG
    ("IEEE 11073 FLOATs and SFLOATs") writes 0xF014 as 2.0, 0xE0C8 as 2.00, 0x1002 as 20."""
    return -number.exponent if number.exponent < 0 else 0
