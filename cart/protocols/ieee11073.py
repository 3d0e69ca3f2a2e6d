"""IEEE 11073-20601 medical number formats: SFLOAT (16-bit) and FLOAT (32-bit).

Every Bluetooth SIG health profile (Blood Pressure, Glucose, Health Thermometer, ...)
carries its measured values in these base-10 floating-point formats (the GATT
Specification Supplement calls them ``medfloat16`` and ``medfloat32``). Both are
little-endian on the wire; mantissa and exponent are two's complement.

Wire layout::

    SFLOAT  byte 0          byte 1               value = mantissa * 10**exponent
            mmmm mmmm       eeee mmmm            mantissa: 12 bits, exponent: 4 bits
            (mantissa low)  (exp | mantissa high)

    FLOAT   byte 0   byte 1   byte 2   byte 3
            mmmmmmmm mmmmmmmm mmmmmmmm eeeeeeee  mantissa: 24 bits, exponent: 8 bits

Special values (exponent 0; any other exponent is an ordinary number)::

                SFLOAT   FLOAT
    NaN         0x07FF   0x007FFFFF
    NRes        0x0800   0x00800000   (not at this resolution)
    +INF        0x07FE   0x007FFFFE
    -INF        0x0802   0x00800002
    reserved    0x0801   0x00800001

Decoded values are exact decimals: the float nearest ``mantissa * 10**exponent``
(``MedFloat.decimal`` gives the :class:`~decimal.Decimal` itself), so ``48 * 10**-1`` is
4.8, never 4.800000000000001. The float is computed as the integer quotient
``48 / 10``, which Python rounds correctly: the same float as ``float(Decimal("4.8"))``,
without a Decimal per value.

Sources: IEEE 11073-20601 (MDER FLOAT-Type/SFLOAT-Type), Bluetooth SIG GATT
Specification Supplement (medfloat16/medfloat32), Nordic Semiconductor
Android-BLE-Library ``Data.java`` / ``DataTest.java`` (special bit patterns, vectors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any, Final

from cart.errors import FrameError, IncompleteFrame
from cart.measurement import Special, slot_setters
from cart.protocols.base import Decoded, PayloadKind, ProtocolSpec

__all__ = [
    "FLOAT_NAN",
    "FLOAT_NEG_INF",
    "FLOAT_NRES",
    "FLOAT_POS_INF",
    "FLOAT_RESERVED",
    "PROTOCOLS",
    "SFLOAT_NAN",
    "SFLOAT_NEG_INF",
    "SFLOAT_NRES",
    "SFLOAT_POS_INF",
    "SFLOAT_RESERVED",
    "MedFloat",
    "MedFloatLike",
    "decode_float",
    "decode_sfloat",
    "encode_float",
    "encode_sfloat",
    "float32",
    "float_from_raw",
    "parse_float",
    "parse_sfloat",
    "sfloat",
    "sfloat_from_raw",
]

SFLOAT_ID: Final = "ieee11073.sfloat"
FLOAT_ID: Final = "ieee11073.float"


@dataclass(frozen=True, slots=True)
class MedFloat:
    """One SFLOAT or FLOAT value: ``mantissa * 10**exponent``, or a special value.

    For a special value, ``mantissa`` and ``exponent`` hold the wire pattern (e.g.
    SFLOAT NaN is mantissa 2047, exponent 0); use the module constants
    (:data:`SFLOAT_NAN`, :data:`FLOAT_POS_INF`, ...) or :func:`sfloat` / :func:`float32`
    to build one.
    """

    mantissa: int
    exponent: int = 0
    special: Special | None = None

    @property
    def decimal(self) -> Decimal | None:
        """The exact value, or None for a special value."""
        if self.special is not None:
            return None
        return Decimal(self.mantissa).scaleb(self.exponent)

    @property
    def value(self) -> float | None:
        """The value as a float (the float nearest the exact decimal), or None for a special.

        Same result as ``float(self.decimal)`` without Decimal: Python's int / int and
        int -> float conversions are correctly rounded, so ``72 / 10`` is the float nearest
        7.2 exactly as ``float(Decimal("7.2"))`` is."""
        if self.special is not None:
            return None
        return _exact_float(self.mantissa, self.exponent)

    def to_json(self) -> dict[str, Any]:
        """``{"value": number or "nan"/"nres"/"+inf"/"-inf"/"reserved", "mantissa", ...}``."""
        special = self.special
        mantissa = self.mantissa
        exponent = self.exponent
        return {
            "value": special.value if special else _exact_float(mantissa, exponent),
            "mantissa": mantissa,
            "exponent": exponent,
        }


# 10**n for every exponent FLOAT can carry (-128..127): exact Python ints.
_POW10: Final[tuple[int, ...]] = tuple(10**n for n in range(129))


def _exact_float(mantissa: int, exponent: int) -> float:
    """``float(Decimal(mantissa).scaleb(exponent))``, i.e. the float nearest the exact value.

    Both int / int (true division) and int -> float are correctly rounded in CPython, so
    this is bit-for-bit the Decimal result (4.8, never 4.800000000000001), with no Decimal
    (checked for every SFLOAT in tests/protocols/test_fast_paths.py)."""
    if exponent < 0:
        return mantissa / _POW10[-exponent]
    if exponent == 0:
        return float(mantissa)
    return float(mantissa * _POW10[exponent])


MedFloatLike = MedFloat | int | float | Decimal | str
"""What the encoders accept: a :class:`MedFloat`, a number, or a special's name."""


@dataclass(frozen=True, slots=True)
class _Format:
    name: str
    mantissa_bits: int
    exponent_bits: int

    @property
    def size(self) -> int:
        return (self.mantissa_bits + self.exponent_bits) // 8

    @property
    def mantissa_max(self) -> int:
        """Largest regular mantissa (the top values are the special patterns)."""
        return (1 << (self.mantissa_bits - 1)) - 3

    @property
    def exponent_min(self) -> int:
        return -(1 << (self.exponent_bits - 1))

    @property
    def exponent_max(self) -> int:
        return (1 << (self.exponent_bits - 1)) - 1

    def specials(self) -> dict[int, Special]:
        """Mantissa (at exponent 0) -> special value."""
        top = 1 << (self.mantissa_bits - 1)
        return {
            top - 1: Special.NAN,
            -top: Special.NRES,
            top - 2: Special.POS_INF,
            -top + 2: Special.NEG_INF,
            -top + 1: Special.RESERVED,
        }


_SFLOAT: Final = _Format("SFLOAT", 12, 4)
_FLOAT: Final = _Format("FLOAT", 24, 8)
_SPECIAL_MANTISSA: Final = {
    fmt.name: {special: m for m, special in fmt.specials().items()} for fmt in (_SFLOAT, _FLOAT)
}

SFLOAT_NAN: Final = MedFloat(2047, 0, Special.NAN)
SFLOAT_NRES: Final = MedFloat(-2048, 0, Special.NRES)
SFLOAT_POS_INF: Final = MedFloat(2046, 0, Special.POS_INF)
SFLOAT_NEG_INF: Final = MedFloat(-2046, 0, Special.NEG_INF)
SFLOAT_RESERVED: Final = MedFloat(-2047, 0, Special.RESERVED)
FLOAT_NAN: Final = MedFloat(0x7FFFFF, 0, Special.NAN)
FLOAT_NRES: Final = MedFloat(-0x800000, 0, Special.NRES)
FLOAT_POS_INF: Final = MedFloat(0x7FFFFE, 0, Special.POS_INF)
FLOAT_NEG_INF: Final = MedFloat(-0x7FFFFE, 0, Special.NEG_INF)
FLOAT_RESERVED: Final = MedFloat(-0x7FFFFF, 0, Special.RESERVED)


_SFLOAT_SPECIALS: Final = _SFLOAT.specials()
_FLOAT_SPECIALS: Final = _FLOAT.specials()
_new = object.__new__
_set_mantissa, _set_exponent, _set_special = slot_setters(MedFloat)


def _medfloat(mantissa: int, exponent: int, special: Special | None) -> MedFloat:
    """``MedFloat(mantissa, exponent, special)`` without the frozen ``__init__`` (whose three
    ``object.__setattr__`` calls dominate decoding an SFLOAT); the same object."""
    number = _new(MedFloat)
    _set_mantissa(number, mantissa)
    _set_exponent(number, exponent)
    _set_special(number, special)
    return number


def sfloat_from_raw(raw: int) -> MedFloat:
    """The SFLOAT of a 16-bit unsigned wire value (for decoders that unpack several fields
    at once with :mod:`struct`)."""
    mantissa = raw & 0x0FFF
    if mantissa & 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent & 0x08:
        exponent -= 0x10
    number = _new(MedFloat)  # _medfloat(), inlined: this runs for every SFLOAT of a profile
    _set_mantissa(number, mantissa)
    _set_exponent(number, exponent)
    _set_special(number, _SFLOAT_SPECIALS.get(mantissa) if exponent == 0 else None)
    return number


def float_from_raw(raw: int) -> MedFloat:
    """The FLOAT of a 32-bit unsigned wire value."""
    mantissa = raw & 0xFFFFFF
    if mantissa & 0x800000:
        mantissa -= 0x1000000
    exponent = raw >> 24
    if exponent & 0x80:
        exponent -= 0x100
    return _medfloat(mantissa, exponent, _FLOAT_SPECIALS.get(mantissa) if exponent == 0 else None)


def sfloat_from_bytes(data: bytes | memoryview) -> MedFloat:
    """Decode exactly 2 bytes (no length check beyond that; used by the profile readers)."""
    return sfloat_from_raw(int.from_bytes(data, "little"))


def float_from_bytes(data: bytes | memoryview) -> MedFloat:
    """Decode exactly 4 bytes (no length check beyond that; used by the profile readers)."""
    return float_from_raw(int.from_bytes(data, "little"))


def _coerce(value: MedFloatLike, fmt: _Format) -> MedFloat:
    if isinstance(value, MedFloat):
        if value.special is not None:
            return MedFloat(_SPECIAL_MANTISSA[fmt.name][value.special], 0, value.special)
        _check_regular(value.mantissa, value.exponent, fmt)
        return value
    if isinstance(value, str):
        try:
            special = Special(value.lower())
        except ValueError:
            try:
                return _coerce(Decimal(value), fmt)
            except InvalidOperation:
                raise ValueError(f"not a number or special value: {value!r}") from None
        return MedFloat(_SPECIAL_MANTISSA[fmt.name][special], 0, special)
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    if isinstance(value, float):
        if math.isnan(value):
            return _coerce(Special.NAN.value, fmt)
        if math.isinf(value):
            return _coerce((Special.POS_INF if value > 0 else Special.NEG_INF).value, fmt)
        return _from_decimal(Decimal(repr(value)), fmt)  # a float has no precision to keep
    exact = Decimal(value)
    if not exact.is_finite():
        if exact.is_nan():
            return _coerce(Special.NAN.value, fmt)
        return _coerce((Special.POS_INF if exact > 0 else Special.NEG_INF).value, fmt)
    if isinstance(value, Decimal | str):
        kept = _with_own_exponent(exact, fmt)
        if kept is not None:
            return kept
    return _from_decimal(exact, fmt)


def _with_own_exponent(exact: Decimal, fmt: _Format) -> MedFloat | None:
    """A Decimal (or text) with digits after the point keeps them: ``Decimal("70.0")`` is
    mantissa 700, exponent -1, not 70e0, since the exponent is the precision (PHD IG,
    "IEEE 11073 FLOATs and SFLOATs": 2, 2.0 and 2.00 are different encodings). None when
    that does not fit (then the nearest representation is used)."""
    sign, digits, exponent = exact.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0 or exponent < fmt.exponent_min:
        return None
    mantissa = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    if abs(mantissa) > fmt.mantissa_max:
        return None
    return MedFloat(mantissa, exponent)


def _from_decimal(exact: Decimal, fmt: _Format) -> MedFloat:
    """The representation with the exponent nearest 0; round half away from zero if it must.

    Rounding always starts from the exact value (never rounds twice)."""
    if exact.is_zero():
        return MedFloat(0, 0)
    normal_exp = exact.normalize().as_tuple().exponent
    assert isinstance(normal_exp, int)  # finite: checked by the caller
    exp: int = max(normal_exp, fmt.exponent_min)
    with localcontext() as ctx:
        ctx.prec = max(64, len(exact.as_tuple().digits) + 8)
        while True:
            mantissa = int(exact.scaleb(-exp).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            if abs(mantissa) <= fmt.mantissa_max:
                break
            exp += 1
    if mantissa == 0:
        return MedFloat(0, 0)
    # prefer exponent 0 (120 mmHg is sent as 120e0, not 12e1)
    while exp > 0 and abs(mantissa * 10) <= fmt.mantissa_max:
        mantissa *= 10
        exp -= 1
    if exp > fmt.exponent_max:
        raise ValueError(f"{exact} is too large for {fmt.name}")
    return MedFloat(mantissa, exp)


def _check_regular(mantissa: int, exponent: int, fmt: _Format) -> None:
    top = 1 << (fmt.mantissa_bits - 1)
    if not -top <= mantissa < top:
        raise ValueError(f"{fmt.name} mantissa {mantissa} outside {-top}..{top - 1}")
    if not fmt.exponent_min <= exponent <= fmt.exponent_max:
        raise ValueError(
            f"{fmt.name} exponent {exponent} outside {fmt.exponent_min}..{fmt.exponent_max}"
        )
    if exponent == 0 and mantissa in fmt.specials():
        raise ValueError(
            f"{fmt.name} mantissa {mantissa} with exponent 0 is the special value "
            f"{fmt.specials()[mantissa].value!r}; build specials by name"
        )


def sfloat(value: MedFloatLike) -> MedFloat:
    """Coerce a number (exactly, rounding half away from zero only if it must; a Decimal or
    text keeps its digits after the point when they fit: ``"70.0"`` -> 700e-1), a special's name
    (``"nan"``, ``"nres"``, ``"+inf"``, ``"-inf"``, ``"reserved"``) or a MedFloat into a
    valid SFLOAT. Raises ValueError if it cannot be represented."""
    return _coerce(value, _SFLOAT)


def float32(value: MedFloatLike) -> MedFloat:
    """Like :func:`sfloat`, for the 32-bit FLOAT format."""
    return _coerce(value, _FLOAT)


def _to_raw(value: MedFloat, fmt: _Format) -> int:
    mantissa_mask = (1 << fmt.mantissa_bits) - 1
    exponent_mask = (1 << fmt.exponent_bits) - 1
    return ((value.exponent & exponent_mask) << fmt.mantissa_bits) | (
        value.mantissa & mantissa_mask
    )


def encode_sfloat(value: MedFloatLike) -> bytes:
    """Two little-endian bytes of an SFLOAT (see :func:`sfloat` for what is accepted)."""
    return _to_raw(sfloat(value), _SFLOAT).to_bytes(2, "little")


def encode_float(value: MedFloatLike) -> bytes:
    """Four little-endian bytes of a FLOAT (see :func:`float32` for what is accepted)."""
    return _to_raw(float32(value), _FLOAT).to_bytes(4, "little")


def _check_size(payload: bytes, fmt: _Format, protocol: str) -> None:
    if len(payload) < fmt.size:
        raise IncompleteFrame(
            f"{fmt.name} needs {fmt.size} bytes, got {len(payload)}", protocol=protocol, raw=payload
        )
    if len(payload) > fmt.size:
        raise FrameError(
            f"{fmt.name} is {fmt.size} bytes, got {len(payload)}", protocol=protocol, raw=payload
        )


def parse_sfloat(payload: bytes) -> MedFloat:
    """Exactly 2 bytes -> MedFloat; IncompleteFrame if shorter, FrameError if longer."""
    _check_size(payload, _SFLOAT, SFLOAT_ID)
    return sfloat_from_bytes(payload)


def parse_float(payload: bytes) -> MedFloat:
    """Exactly 4 bytes -> MedFloat; IncompleteFrame if shorter, FrameError if longer."""
    _check_size(payload, _FLOAT, FLOAT_ID)
    return float_from_bytes(payload)


def decode_sfloat(payload: bytes) -> Decoded:
    """``ieee11073.sfloat``: record ``{"value", "mantissa", "exponent"}``, no measurement."""
    return Decoded(SFLOAT_ID, parse_sfloat(payload).to_json(), raw=payload)


def decode_float(payload: bytes) -> Decoded:
    """``ieee11073.float``: record ``{"value", "mantissa", "exponent"}``, no measurement."""
    return Decoded(FLOAT_ID, parse_float(payload).to_json(), raw=payload)


PROTOCOLS: Final = (
    ProtocolSpec(
        SFLOAT_ID,
        "IEEE 11073-20601 SFLOAT (16-bit medical float, little-endian)",
        PayloadKind.HEX,
        decode_sfloat,
        examples=(
            bytes.fromhex("8a00"),  # 138 (Nordic BloodPressureMeasurementDataCallbackTest)
            bytes.fromhex("bdf0"),  # 18.9 (same test, kPa case)
            bytes.fromhex("65f0"),  # 10.1 (Nordic DataTest.setValue_SFLOAT_hex)
            bytes.fromhex("ff07"),  # NaN
            bytes.fromhex("fe07"),  # +INF
        ),
    ),
    ProtocolSpec(
        FLOAT_ID,
        "IEEE 11073-20601 FLOAT (32-bit medical float, little-endian)",
        PayloadKind.HEX,
        decode_float,
        examples=(
            bytes.fromhex("b00e00fe"),  # 37.60 (Nordic TemperatureMeasurementDataCallbackTest)
            bytes.fromhex("87d612fe"),  # 12345.67 (Nordic DataTest.setValue_FLOAT_hex)
            bytes.fromhex("ffff7f00"),  # NaN
        ),
    ),
)
