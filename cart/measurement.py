"""Measurement: the one data shape every decoder, driver, store and classifier shares.

Values are held in one canonical UCUM unit per kind (DESIGN section 2). A decoder
that receives another unit builds the measurement with :meth:`Measurement.create`,
which converts and keeps what the device sent in ``original``. IEEE 11073 special
values and over/under-range markers become ``special`` with ``value=None``: a
number is never invented.

Precision: ``decimals`` says how many digits after the decimal point the device reported
(70.0 kg -> 1, 72.50 kg -> 2, 98 mg/dL -> 0). ``value`` stays a float, which cannot tell
70 from 70.0, so the count travels beside it; FHIR writes the number with exactly those
digits (a FHIR decimal's precision is significant: FHIR R4 datatypes.html#decimal; the PHD
IG page "IEEE 11073 FLOATs and SFLOATs" encodes SFLOAT 0xF014 as 2.0 and 0xE0C8 as 2.00).
None means "not known" (rows stored before precision was kept): consumers then print the
float as before. See :func:`converted_decimals` for the precision after a unit conversion.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from cart.errors import ValidationError

__all__ = [
    "KIND_INFO",
    "DeviceIdentity",
    "KindInfo",
    "Measurement",
    "MeasurementKind",
    "Original",
    "Special",
    "convert",
    "converted_decimals",
    "decimals_of",
    "slot_setters",
]


class MeasurementKind(StrEnum):
    BODY_WEIGHT = "body_weight"
    BODY_HEIGHT = "body_height"
    BMI = "bmi"
    WAIST_CIRCUMFERENCE = "waist_circumference"
    SYSTOLIC_PRESSURE = "systolic_pressure"
    DIASTOLIC_PRESSURE = "diastolic_pressure"
    MEAN_ARTERIAL_PRESSURE = "mean_arterial_pressure"
    PULSE_RATE = "pulse_rate"
    CUFF_PRESSURE = "cuff_pressure"
    GLUCOSE = "glucose"
    HBA1C = "hba1c"
    BODY_FAT = "body_fat"


class Special(StrEnum):
    """IEEE 11073 special values and device range markers."""

    NAN = "nan"
    NRES = "nres"
    POS_INF = "+inf"
    NEG_INF = "-inf"
    RESERVED = "reserved"


@dataclass(frozen=True, slots=True)
class KindInfo:
    unit: str
    """Canonical UCUM unit."""
    loinc: str | None
    """LOINC code of the observation; None for progress-only kinds."""
    decimals: int
    """Most decimals kept after a unit conversion (avoids float noise like 70.50000000001)."""


GLUCOSE_LOINC_CAPILLARY: Final = "41653-7"
GLUCOSE_LOINC_UNKNOWN_SAMPLE: Final = "2339-0"

KIND_INFO: Final[Mapping[MeasurementKind, KindInfo]] = {
    MeasurementKind.BODY_WEIGHT: KindInfo("kg", "29463-7", 3),
    MeasurementKind.BODY_HEIGHT: KindInfo("cm", "8302-2", 2),
    MeasurementKind.BMI: KindInfo("kg/m2", "39156-5", 2),
    MeasurementKind.WAIST_CIRCUMFERENCE: KindInfo("cm", "8280-0", 2),
    MeasurementKind.SYSTOLIC_PRESSURE: KindInfo("mm[Hg]", "8480-6", 1),
    MeasurementKind.DIASTOLIC_PRESSURE: KindInfo("mm[Hg]", "8462-4", 1),
    MeasurementKind.MEAN_ARTERIAL_PRESSURE: KindInfo("mm[Hg]", "8478-0", 1),
    MeasurementKind.PULSE_RATE: KindInfo("/min", "8867-4", 1),
    MeasurementKind.CUFF_PRESSURE: KindInfo("mm[Hg]", None, 1),
    MeasurementKind.GLUCOSE: KindInfo("mg/dL", GLUCOSE_LOINC_CAPILLARY, 1),
    MeasurementKind.HBA1C: KindInfo("%", "4548-4", 2),
    MeasurementKind.BODY_FAT: KindInfo("%", "41982-0", 2),
}

# factor such that canonical = original * factor, keyed by (from_unit, canonical_unit).
# Aliases a device may print are normalised first by _UNIT_ALIASES.
_FACTORS: Final[Mapping[tuple[str, str], float]] = {
    ("[lb_av]", "kg"): 0.45359237,
    ("g", "kg"): 0.001,
    ("[in_i]", "cm"): 2.54,
    ("m", "cm"): 100.0,
    ("mm", "cm"): 0.1,
    ("kPa", "mm[Hg]"): 7.50062,
    ("kg/L", "mg/dL"): 100000.0,
    ("mol/L", "mg/dL"): 18016.0,  # glucose 180.16 g/mol: 1 mol/L = 180.16 g/L = 18016 mg/dL
    ("mmol/L", "mg/dL"): 18.016,
    ("lb/[in_i]2", "kg/m2"): 703.0,
    ("1/min", "/min"): 1.0,
    ("{beats}/min", "/min"): 1.0,
}

_UNIT_ALIASES: Final[Mapping[str, str]] = {
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "in": "[in_i]",
    "mmHg": "mm[Hg]",
    "mmhg": "mm[Hg]",
    "kpa": "kPa",
    "mg/dl": "mg/dL",
    "mmol/l": "mmol/L",
    "bpm": "/min",
    "kg/m²": "kg/m2",
}


def normalise_unit(unit: str) -> str:
    """Map common spellings to UCUM (``lb`` -> ``[lb_av]``)."""
    return _UNIT_ALIASES.get(unit, unit)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert ``value`` between two units known to the table; raise ValidationError if not."""
    src, dst = normalise_unit(from_unit), normalise_unit(to_unit)
    if src == dst:
        return value
    if (src, dst) in _FACTORS:
        return value * _FACTORS[(src, dst)]
    if (dst, src) in _FACTORS:
        return value / _FACTORS[(dst, src)]
    raise ValidationError("unit", f"cannot convert {from_unit!r} to {to_unit!r}")


def decimals_of(text: str) -> int:
    """Digits after the decimal point of a number as written (``"+0070.50"`` -> 2, ``"98"``
    -> 0): the precision a text protocol or a typed entry reports."""
    point = text.find(".")
    if point < 0:
        return 0
    tail = text[point + 1 :]
    if tail.isdigit() and tail.isascii():  # the common case: digits to the end
        return len(tail)
    end = point + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    return end - point - 1


# (from_unit, to_unit) -> position of the factor's leading digit (floor(log10(factor)))
_FACTOR_MAGNITUDE: Final[dict[tuple[str, str], int]] = {}


def _magnitude(src: str, dst: str) -> int:
    magnitude = _FACTOR_MAGNITUDE.get((src, dst))
    if magnitude is None:
        if (src, dst) in _FACTORS:
            factor = Decimal(repr(_FACTORS[(src, dst)]))
        else:
            factor = 1 / Decimal(repr(_FACTORS[(dst, src)]))
        magnitude = _FACTOR_MAGNITUDE[(src, dst)] = factor.adjusted()
    return magnitude


def converted_decimals(decimals: int, from_unit: str, to_unit: str, most: int) -> int:
    """The precision of a converted value: one step of the device's last digit, converted,
    fixes the decimal place (its leading digit), at most ``most`` decimals.

    Examples: 0.1 lb = 0.045 kg -> 2 decimals (155.4 lb -> 70.49 kg); 1 g = 0.001 kg -> 3;
    0.1 in = 0.254 cm -> 1; 0.1 kPa = 0.75 mmHg -> 1; 0.1 mmol/L = 1.8 mg/dL -> 0
    (5.4 mmol/L -> 97 mg/dL, the integer a mg/dL meter shows); kg/L with exponent -5 -> 0.
    The converted value keeps about as many significant digits as the device sent, never
    claiming a resolution finer than one step of the original. Raises ValidationError for
    units the conversion table does not know."""
    src, dst = normalise_unit(from_unit), normalise_unit(to_unit)
    if src == dst:
        return decimals
    if (src, dst) not in _FACTORS and (dst, src) not in _FACTORS:
        raise ValidationError("unit", f"cannot convert {from_unit!r} to {to_unit!r}")
    return min(most, max(0, decimals - _magnitude(src, dst)))


_isfinite: Final = math.isfinite
# flags tuple as given -> sorted unique tuple; bounded (only ever a few status combinations)
_FLAG_WORDS: Final[dict[tuple[str, ...], tuple[str, ...]]] = {}
_FLAG_WORDS_MAX: Final = 4096


@dataclass(frozen=True, slots=True)
class Original:
    """What the device sent, when a conversion to the canonical unit happened."""

    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Who measured: the configured device id plus what the device says about itself."""

    device_id: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "device_id": self.device_id,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serial_number": self.serial_number,
        }


@dataclass(frozen=True, slots=True)
class Measurement:
    """One normalised reading. Build with :meth:`create` to get conversion and validation."""

    kind: MeasurementKind
    value: float | None
    """In the canonical unit of ``kind``; None exactly when ``special`` is set."""
    unit: str
    loinc: str | None
    measured_at: datetime | None = None
    """Device timestamp when the device sent one (naive = device local time)."""
    flags: tuple[str, ...] = ()
    """Device status words, sorted and unique (``unstable``, ``irregular_pulse``...)."""
    special: Special | None = None
    original: Original | None = None
    sequence: int | None = None
    user_id: int | None = None
    context: Mapping[str, str] = field(default_factory=dict)
    device: DeviceIdentity | None = None
    decimals: int | None = None
    """Digits after the decimal point the device reported, for ``value`` in the canonical
    unit (derived by :func:`converted_decimals` after a conversion); None if unknown."""

    def __post_init__(self) -> None:
        if (self.value is None) == (self.special is None):
            raise ValidationError("value", "exactly one of value and special must be set")
        if self.value is not None and not math.isfinite(self.value):
            raise ValidationError("value", "must be a finite number; use special for NaN/INF")
        _check_decimals(self.value, self.decimals)

    @classmethod
    def create(
        cls,
        kind: MeasurementKind | str,
        value: float | None,
        unit: str | None = None,
        *,
        special: Special | str | None = None,
        measured_at: datetime | None = None,
        flags: Iterable[str] = (),
        sequence: int | None = None,
        user_id: int | None = None,
        context: Mapping[str, str] | None = None,
        device: DeviceIdentity | None = None,
        loinc: str | None = None,
        decimals: int | None = None,
    ) -> Measurement:
        """Build a measurement, converting ``value`` from ``unit`` to the canonical unit.

        ``decimals`` is the precision the device reported for ``value`` in ``unit`` (digits
        after the decimal point); after a conversion it becomes the canonical value's
        precision (:func:`converted_decimals`) and the value is rounded to it."""
        if type(kind) is not MeasurementKind:
            kind = MeasurementKind(kind)
        info = KIND_INFO[kind]
        canonical = info.unit
        original: Original | None = None
        if value is not None:
            if unit is not None and unit != canonical:
                src = _UNIT_ALIASES.get(unit, unit)
                if src != canonical:
                    original = _original(value, src)
                    places = info.decimals
                    if decimals is not None:
                        _check_decimals(value, decimals)
                        if (src, canonical) not in _FACTORS and (canonical, src) not in _FACTORS:
                            raise ValidationError(
                                "unit", f"cannot convert {src!r} to {canonical!r}"
                            )
                        # converted_decimals(), inlined: both units are already normalised
                        places = decimals - _magnitude(src, canonical)
                        decimals = places = min(info.decimals, places if places > 0 else 0)
                    # convert() with both units already normalised (canonical units have no
                    # alias); round off float noise: the value is a product, not a reading
                    factor = _FACTORS.get((src, canonical))
                    if factor is not None:
                        value = round(value * factor, places)
                    else:
                        factor = _FACTORS.get((canonical, src))
                        if factor is None:
                            raise ValidationError(
                                "unit", f"cannot convert {src!r} to {canonical!r}"
                            )
                        value = round(value / factor, places)
                else:
                    value = float(value)
            else:
                value = float(value)
        elif decimals is not None:
            decimals = None  # a special has no digits
        if special is not None and type(special) is not Special:
            special = Special(special)
        # the checks of __post_init__, which the fast construction below does not run
        if (value is None) == (special is None):
            raise ValidationError("value", "exactly one of value and special must be set")
        if value is not None and not _isfinite(value):
            raise ValidationError("value", "must be a finite number; use special for NaN/INF")
        if decimals is not None and original is None:
            # _check_decimals(value, decimals), its common case inlined (every decoder call)
            if type(decimals) is not int or not 0 <= decimals <= _MAX_DECIMALS or value is None:
                _check_decimals(value, decimals)
            else:
                scale = _POW10[decimals]
                scaled = value * scale
                if not (-1e15 < scaled < 1e15 and round(scaled) / scale == value):
                    _check_decimals(value, decimals)  # raises, or decides for big numbers
        if not flags:
            flags = ()
        elif type(flags) is tuple:
            # decoders pass the same few status tuples again and again
            words = _FLAG_WORDS.get(flags)
            if words is None:
                words = tuple(sorted(set(flags)))
                if len(_FLAG_WORDS) < _FLAG_WORDS_MAX:
                    _FLAG_WORDS[flags] = words
            flags = words
        else:
            flags = tuple(sorted(set(flags)))
        if cls is not Measurement:  # a subclass may add fields or checks: the plain path
            return cls(
                kind,
                value,
                canonical,
                loinc if loinc is not None else info.loinc,
                measured_at,
                flags,
                special,
                original,
                sequence,
                user_id,
                dict(context) if context else {},
                device,
                decimals,
            )
        return _build(
            kind,
            value,
            canonical,
            loinc if loinc is not None else info.loinc,
            measured_at,
            flags,
            special,
            original,
            sequence,
            user_id,
            dict(context) if context else {},
            device,
            decimals,
        )

    def value_as(self, unit: str) -> float | None:
        """The value in another unit (e.g. ``mmol/L``), or None for a special."""
        return None if self.value is None else convert(self.value, self.unit, unit)

    def with_flags(self, *flags: str) -> Measurement:
        return replace(self, flags=tuple(sorted(set(self.flags) | set(flags))))

    def with_device(self, device: DeviceIdentity) -> Measurement:
        return replace(self, device=device)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "value": self.value,
            "unit": self.unit,
            "loinc": self.loinc,
            "measured_at": self.measured_at.isoformat() if self.measured_at else None,
            "flags": list(self.flags),
            "special": self.special.value if self.special else None,
            "original": (
                {"value": self.original.value, "unit": self.original.unit}
                if self.original
                else None
            ),
            "sequence": self.sequence,
            "user_id": self.user_id,
            "context": dict(self.context),
            "device": self.device.to_json() if self.device else None,
            "decimals": self.decimals,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Measurement:
        """Inverse of :meth:`to_json` (no conversion: the value is already canonical)."""
        try:
            kind = MeasurementKind(data["kind"])
            original = data.get("original")
            device = data.get("device")
            measured_at = data.get("measured_at")
            return cls(
                kind=kind,
                value=None if data.get("value") is None else float(data["value"]),
                unit=str(data.get("unit") or KIND_INFO[kind].unit),
                loinc=data.get("loinc", KIND_INFO[kind].loinc),
                measured_at=datetime.fromisoformat(measured_at) if measured_at else None,
                flags=tuple(data.get("flags") or ()),
                special=Special(data["special"]) if data.get("special") else None,
                original=Original(float(original["value"]), str(original["unit"]))
                if original
                else None,
                sequence=data.get("sequence"),
                user_id=data.get("user_id"),
                context=dict(data.get("context") or {}),
                device=DeviceIdentity(**device) if device else None,
                decimals=data.get("decimals"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError("measurement", f"not a valid measurement object: {exc}") from exc


_MAX_DECIMALS: Final = 20
_POW10: Final = tuple(10**n for n in range(_MAX_DECIMALS + 1))


def _check_decimals(value: float | None, decimals: int | None) -> None:
    """``decimals`` is a small count the value agrees with (70.05 cannot have 1 decimal)."""
    if decimals is None:
        return
    if type(decimals) is not int or not 0 <= decimals <= _MAX_DECIMALS:
        raise ValidationError("decimals", f"must be an int 0..{_MAX_DECIMALS}, got {decimals!r}")
    if value is None:
        return
    # the value is the float nearest some k / 10**d: then value * 10**d rounds to k and the
    # int division k / 10**d (correctly rounded) gives the value back; round(value, d) says
    # the same, 4x slower, and is kept for magnitudes where the product loses integers
    scale = _POW10[decimals]
    scaled = value * scale
    if -1e15 < scaled < 1e15:
        fits = round(scaled) / scale == value
    else:
        fits = round(value, decimals) == value
    if not fits:
        raise ValidationError("decimals", f"{value!r} has more than {decimals} decimals")


def slot_setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The ``__set__`` of the slot descriptors of a slotted (frozen) dataclass: all its fields
    in order, or ``names``. Hot decoders build immutable values with them instead of the
    frozen ``__init__``, whose ``object.__setattr__`` per field is the slow part; every field
    must be set (an unset slot raises AttributeError when read)."""
    fields = names or tuple(getattr(cls, "__dataclass_fields__", ()))
    if not fields:
        raise TypeError(f"{cls.__name__} is not a dataclass")
    setters = []
    for name in fields:
        slot = cls.__dict__.get(name)
        if slot is None or not hasattr(slot, "__set__"):
            raise TypeError(f"{cls.__name__}.{name} is not a slot")
        setters.append(slot.__set__)
    return tuple(setters)


_new = object.__new__
_set_original_value, _set_original_unit = slot_setters(Original)


def _original(value: float, unit: str) -> Original:
    """``Original(value, unit)`` without the frozen ``__init__`` (see :func:`_build`)."""
    o = _new(Original)
    _set_original_value(o, value)
    _set_original_unit(o, unit)
    return o


class _Draft:
    """A Measurement being built: the same slots, in the same order, but not frozen.

    :func:`_build` fills one with plain attribute stores and then turns it into a
    :class:`Measurement` by ``__class__`` assignment, which Python allows between classes
    of identical layout (same base, same ``__slots__``); the result is an ordinary
    Measurement. The frozen ``__init__`` pays an ``object.__setattr__`` call per field
    instead; this is the hot path of every decoder."""

    __slots__ = (  # noqa: RUF023 - field order, checked against Measurement below
        "kind",
        "value",
        "unit",
        "loinc",
        "measured_at",
        "flags",
        "special",
        "original",
        "sequence",
        "user_id",
        "context",
        "device",
        "decimals",
    )
    kind: MeasurementKind
    value: float | None
    unit: str
    loinc: str | None
    measured_at: datetime | None
    flags: tuple[str, ...]
    special: Special | None
    original: Original | None
    sequence: int | None
    user_id: int | None
    context: Mapping[str, str]
    device: DeviceIdentity | None
    decimals: int | None


if _Draft.__slots__ != tuple(Measurement.__dataclass_fields__) or _Draft.__slots__ != tuple(
    Measurement.__slots__
):  # pragma: no cover - a new Measurement field must be added to _Draft and _build
    raise RuntimeError("_Draft must have exactly the slots of Measurement")


def _build(
    kind: MeasurementKind,
    value: float | None,
    unit: str,
    loinc: str | None,
    measured_at: datetime | None,
    flags: tuple[str, ...],
    special: Special | None,
    original: Original | None,
    sequence: int | None,
    user_id: int | None,
    context: Mapping[str, str],
    device: DeviceIdentity | None,
    decimals: int | None = None,
) -> Measurement:
    """``Measurement(...)`` for already validated fields, without the frozen ``__init__``
    (about 3x faster; see :class:`_Draft`). ``Measurement.create`` runs the checks of
    ``__post_init__`` itself before calling it."""
    m = _new(_Draft)
    m.kind = kind
    m.value = value
    m.unit = unit
    m.loinc = loinc
    m.measured_at = measured_at
    m.flags = flags
    m.special = special
    m.original = original
    m.sequence = sequence
    m.user_id = user_id
    m.context = context
    m.device = device
    m.decimals = decimals
    m.__class__ = Measurement  # type: ignore[assignment]
    return m  # type: ignore[return-value]
