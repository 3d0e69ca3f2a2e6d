"""Modbus register maps: registers -> measurements and back, for indicators and height rods.

A Modbus server only exposes 16-bit registers; what they mean is per device. A
:class:`RegisterMap` says where a reading lives (0-based PDU address), how it is encoded
(16/32-bit integer with implied decimals, or IEEE-754 float32), in which word and byte
order, in which unit, and which status bits flag it. ``decode(registers)`` turns the block
read from the device into measurements; ``encode(measurement)`` is the inverse, used by the
Modbus simulator to fill its datastore. Pure functions: no pymodbus here.

Profiles (factories below):

``cas_ci600d`` - CAS CI-600D weighing indicator (manual p.82 "List of usable registers";
    the same list is in the Bosche WTS manual p.44). Gross weight 40008 (H) / 40009 (L),
    net weight 40010 (H) / 40011 (L): 32-bit, high word first, decimal point as set up on
    the indicator. At most 32 registers per query::

        40008  40009        PDU address 7, count 2
        [ H ]  [ L ]   ->   raw = H << 16 | L  (signed)  ->  raw / 10**decimals  kg

``eagle_ei`` - Eagle EI-1000/2000/4000 indicators (EI-2000 manual p.42, EI-4000 p.30):
    float32 per channel; gross 0x1000 (lb) / 0x2000 (kg), net 0x1008 / 0x2008, +2 per
    channel. Eagle lists PDU addresses (0x0000 is its test register), so no 40001 offset.

``height_rod`` - an ultrasonic height rod. No public register map was found for a
    stadiometer, so this is the project's own profile, served by the simulator and
    configurable for a real sensor: 40001 height (uint16, mm), 40002 status (bit 0
    measuring, bit 1 no target, bit 2 out of range).

Numbering pitfall (Modbus Application Protocol V1.1b3 §4.4; Modicon PI-MBUS-300): register
*numbers* such as 40008 are 1-based and name the table (4 = holding registers); the PDU
carries the 0-based *address*, 40008 - 40001 = 7. :func:`register_number_to_address` does
that conversion explicitly; maps always store addresses.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final, Literal

from cart.errors import ConfigError, FrameError, ValidationError
from cart.measurement import KIND_INFO, Measurement, MeasurementKind, Special, convert

__all__ = [
    "PROFILES",
    "ByteOrder",
    "DataType",
    "RegisterMap",
    "StatusBits",
    "WordOrder",
    "address_to_register_number",
    "build_map",
    "cas_ci600d",
    "eagle_ei",
    "float32_to_registers",
    "height_rod",
    "int_to_registers",
    "register_number_to_address",
    "registers_to_float32",
    "registers_to_int",
]

WordOrder = Literal["big", "little"]
"""``big``: the high word is in the first register (ABCD); ``little``: low word first (CDAB)."""
ByteOrder = Literal["big", "little"]
"""``big``: high byte first in each register, as the spec says; ``little``: swapped (BADC)."""
DataType = Literal["int16", "uint16", "int32", "uint32", "float32"]

_WIDTH: Final[dict[str, int]] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
}

#: first register number of each table in the classic 5-digit numbering
_TABLE_BASE: Final[dict[int, int]] = {0: 1, 1: 10001, 3: 30001, 4: 40001}


# --------------------------------------------------------------------------- numbering


def register_number_to_address(number: int) -> int:
    """1-based register number -> 0-based PDU address: 40008 -> 7, 400008 -> 7, 30001 -> 0.

    Accepts the 5-digit form (``4xxxx``, 1..9999 in the table) and the 6-digit form
    (``4xxxxx``, 1..65536). The table digit (0 coils, 1 inputs, 3 input registers,
    4 holding registers) is dropped; pick the function code to match it.
    """
    if 100001 <= number <= 465536:
        table, offset = divmod(number, 100000)
        if table in _TABLE_BASE and 1 <= offset <= 65536:
            return offset - 1
    elif 1 <= number <= 49999:
        table, offset = divmod(number, 10000)
        if table in _TABLE_BASE and offset >= 1:
            return offset - 1
    raise ConfigError(
        f"{number} is not a Modbus register number such as 40001 or 400001; "
        "give the 0-based PDU address instead"
    )


def address_to_register_number(address: int, *, table: int = 4) -> int:
    """0-based PDU address -> 5-digit register number (7 -> 40008); 6 digits above 9998."""
    if not 0 <= address <= 0xFFFF or table not in _TABLE_BASE:
        raise ConfigError(f"address {address} / table {table} is not a Modbus register")
    if address <= 9998:
        return table * 10000 + address + 1
    return table * 100000 + address + 1


# --------------------------------------------------------------------------- conversions


def _check_registers(registers: Sequence[int], count: int, what: str) -> None:
    if len(registers) != count:
        raise FrameError(f"{what} needs {count} registers, got {len(registers)}")
    for value in registers:
        if not 0 <= value <= 0xFFFF:
            raise FrameError(f"register value {value} is not 16-bit")


def _to_bytes(registers: Sequence[int], word_order: WordOrder, byte_order: ByteOrder) -> bytes:
    words = list(registers) if word_order == "big" else list(reversed(registers))
    return b"".join(w.to_bytes(2, byte_order) for w in words)


def _from_bytes(data: bytes, word_order: WordOrder, byte_order: ByteOrder) -> list[int]:
    words = [int.from_bytes(data[i : i + 2], byte_order) for i in range(0, len(data), 2)]
    return words if word_order == "big" else list(reversed(words))


def registers_to_int(
    registers: Sequence[int],
    *,
    signed: bool = True,
    word_order: WordOrder = "big",
    byte_order: ByteOrder = "big",
) -> int:
    """One or two registers as a 16/32-bit integer."""
    if len(registers) not in (1, 2):
        raise FrameError(f"an integer takes 1 or 2 registers, got {len(registers)}")
    _check_registers(registers, len(registers), "an integer")
    return int.from_bytes(_to_bytes(registers, word_order, byte_order), "big", signed=signed)


def int_to_registers(
    value: int,
    *,
    width: int = 2,
    signed: bool = True,
    word_order: WordOrder = "big",
    byte_order: ByteOrder = "big",
) -> list[int]:
    """Inverse of :func:`registers_to_int`; ``width`` is 1 or 2 registers."""
    if width not in (1, 2):
        raise ValueError("width is 1 or 2 registers")
    try:
        data = value.to_bytes(2 * width, "big", signed=signed)
    except OverflowError as exc:
        raise ValueError(f"{value} does not fit {16 * width} bits") from exc
    return _from_bytes(data, word_order, byte_order)


def registers_to_float32(
    registers: Sequence[int], *, word_order: WordOrder = "big", byte_order: ByteOrder = "big"
) -> float:
    """Two registers as an IEEE-754 binary32 (NaN and infinities are returned as such)."""
    _check_registers(registers, 2, "a float32")
    value: float = struct.unpack(">f", _to_bytes(registers, word_order, byte_order))[0]
    return value


def float32_to_registers(
    value: float, *, word_order: WordOrder = "big", byte_order: ByteOrder = "big"
) -> list[int]:
    """Inverse of :func:`registers_to_float32` (rounds to the nearest binary32)."""
    try:
        data = struct.pack(">f", value)
    except OverflowError as exc:
        raise ValueError(f"{value} does not fit a float32") from exc
    return _from_bytes(data, word_order, byte_order)


# --------------------------------------------------------------------------- maps


@dataclass(frozen=True, slots=True)
class StatusBits:
    """A status register in the block and what its bits mean (masks; 0 = not reported)."""

    offset: int
    """Register offset of the status word inside the block."""
    unstable: int = 0
    """Set while the reading is moving (motion, measuring)."""
    overload: int = 0
    """Set above capacity/range: the reading becomes special ``+inf``."""
    underload: int = 0
    """Set below zero/range: the reading becomes special ``-inf``."""
    invalid: int = 0
    """Set when there is no reading at all (no target): ``decode`` returns no measurement."""
    valid: int = 0
    """Must be set for the reading to count (a "data OK" bit); clear = no measurement."""


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """Where and how one reading lives in a block of registers read with one request."""

    name: str
    kind: MeasurementKind
    address: int
    """0-based PDU address of the first register of the block."""
    datatype: DataType = "int32"
    unit: str = "kg"
    """Unit of the value on the wire (after ``decimals``): kg, lb, g, cm, mm..."""
    decimals: int = 0
    """Integer types only: implied decimals, value = raw / 10**decimals."""
    word_order: WordOrder = "big"
    byte_order: ByteOrder = "big"
    value_offset: int = 0
    """Register offset of the value inside the block."""
    status: StatusBits | None = None
    function: int = 0x03
    """03 holding registers or 04 input registers."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Profile notes shown in the record (channel, gross/net...)."""

    def __post_init__(self) -> None:
        if self.datatype not in _WIDTH:
            raise ConfigError(f"{self.name}: unknown datatype {self.datatype!r}")
        if not 0 <= self.address <= 0xFFFF:
            raise ConfigError(f"{self.name}: address {self.address} is not 0..65535")
        if self.word_order not in ("big", "little") or self.byte_order not in ("big", "little"):
            raise ConfigError(f"{self.name}: word_order and byte_order are 'big' or 'little'")
        if not 0 <= self.decimals <= 6 or (self.datatype == "float32" and self.decimals):
            raise ConfigError(f"{self.name}: decimals must be 0..6 and 0 for float32")
        if self.function not in (0x03, 0x04):
            raise ConfigError(f"{self.name}: function must be 3 or 4")
        if self.value_offset < 0 or (self.status is not None and self.status.offset < 0):
            raise ConfigError(f"{self.name}: offsets must not be negative")
        if self.status is not None and self.value_offset <= self.status.offset < self.value_end:
            raise ConfigError(f"{self.name}: the status register overlaps the value")
        try:
            convert(1.0, self.unit, KIND_INFO[self.kind].unit)
        except ValidationError as exc:
            raise ConfigError(f"{self.name}: unit {self.unit!r} does not fit {self.kind}") from exc
        if self.address + self.count > 0x10000:
            raise ConfigError(f"{self.name}: the block runs past address 65535")

    @property
    def width(self) -> int:
        return _WIDTH[self.datatype]

    @property
    def value_end(self) -> int:
        return self.value_offset + self.width

    @property
    def count(self) -> int:
        """Registers to read from :attr:`address`."""
        end = self.value_end
        if self.status is not None:
            end = max(end, self.status.offset + 1)
        return end

    @property
    def register_number(self) -> int:
        """The 1-based number of the first register, as manuals print it (40008)."""
        return address_to_register_number(self.address, table=4 if self.function == 3 else 3)

    # ----------------------------------------------------------------- decode

    def raw_value(self, registers: Sequence[int]) -> int | float:
        _check_registers(registers, self.count, self.name)
        words = registers[self.value_offset : self.value_end]
        if self.datatype == "float32":
            return registers_to_float32(
                words, word_order=self.word_order, byte_order=self.byte_order
            )
        return registers_to_int(
            words,
            signed=self.datatype.startswith("int"),
            word_order=self.word_order,
            byte_order=self.byte_order,
        )

    def decode(self, registers: Sequence[int]) -> list[Measurement]:
        """The measurement held in ``registers`` (the block read from :attr:`address`).

        Returns an empty list when the status says there is no reading. Raises FrameError
        when the block has the wrong size.
        """
        raw = self.raw_value(registers)
        flags: list[str] = []
        special: Special | None = None
        if self.status is not None:
            word = registers[self.status.offset]
            bits = self.status
            if (bits.valid and not word & bits.valid) or (bits.invalid and word & bits.invalid):
                return []
            if bits.unstable and word & bits.unstable:
                flags.append("unstable")
            if bits.overload and word & bits.overload:
                flags.append("overload")
                special = Special.POS_INF
            elif bits.underload and word & bits.underload:
                flags.append("underload")
                special = Special.NEG_INF
        if special is None and isinstance(raw, float) and not math.isfinite(raw):
            if math.isnan(raw):
                special = Special.NAN
            else:
                special = Special.POS_INF if raw > 0 else Special.NEG_INF
                flags.append("overload" if raw > 0 else "underload")
        if special is not None:
            return [Measurement.create(self.kind, None, special=special, flags=flags)]
        decimals: int | None
        if isinstance(raw, float):
            # a float32 carries ~7 significant digits; drop the binary noise (70.5 not 70.5000...)
            value = float(f"{raw:.7g}")
            decimals = None  # a binary float does not say the indicator's resolution
        else:
            value = float(Decimal(raw).scaleb(-self.decimals))
            # the register scale is the resolution: 7050 with decimals=2 is 70.50 (CAS
            # CI-600D: "the decimal point comes from the indicator set-up")
            decimals = self.decimals
        return [Measurement.create(self.kind, value, self.unit, flags=flags, decimals=decimals)]

    def record(self, registers: Sequence[int]) -> dict[str, Any]:
        """The fields of the block, JSON-ready (for the raw log and `devices test`)."""
        raw = self.raw_value(registers)
        return {
            "map": self.name,
            "address": self.address,
            "register_number": self.register_number,
            "registers": list(registers),
            "raw": raw if math.isfinite(raw) else repr(raw),
            "status": registers[self.status.offset] if self.status is not None else None,
            **dict(self.extra),
        }

    # ----------------------------------------------------------------- encode

    def encode(
        self, reading: Measurement | float | None, *, flags: Sequence[str] = ()
    ) -> list[int]:
        """The block of registers a device would serve for ``reading`` (simulator side).

        ``reading`` is a Measurement (canonical unit, converted to :attr:`unit`), a number
        already in :attr:`unit`, or None for "no reading". Flags ``unstable``, ``overload``
        and ``underload`` (also taken from a Measurement and its special) set status bits.
        """
        all_flags = set(flags)
        value: float | None
        special: Special | None = None
        if isinstance(reading, Measurement):
            if reading.kind != self.kind:
                raise ValueError(f"{self.name} holds {self.kind}, not {reading.kind}")
            all_flags |= set(reading.flags)
            special = reading.special
            value = None if reading.value is None else reading.value_as(self.unit)
        else:
            value = reading
        if special is Special.POS_INF:
            all_flags.add("overload")
        elif special is Special.NEG_INF:
            all_flags.add("underload")
        block = [0] * self.count
        status_word = 0
        if self.status is not None:
            bits = self.status
            status_word |= bits.valid
            if value is None and special is None:
                status_word = (status_word & ~bits.valid) | bits.invalid
            for flag, mask in (
                ("unstable", bits.unstable),
                ("overload", bits.overload),
                ("underload", bits.underload),
            ):
                if flag in all_flags:
                    if not mask and self.datatype != "float32":
                        raise ValueError(f"{self.name} cannot report {flag}")
                    status_word |= mask
            block[self.status.offset] = status_word
        elif value is None and special is None:
            raise ValueError(f"{self.name} has no status register to say 'no reading'")
        block[self.value_offset : self.value_end] = self._encode_value(value, special, all_flags)
        return block

    def _encode_value(
        self, value: float | None, special: Special | None, flags: set[str]
    ) -> list[int]:
        if self.datatype == "float32":
            if value is None:
                if special is Special.POS_INF or "overload" in flags:
                    value = math.inf
                elif special is Special.NEG_INF or "underload" in flags:
                    value = -math.inf
                elif special is not None or self.status is None:
                    value = math.nan
                else:
                    value = 0.0
            return float32_to_registers(
                value, word_order=self.word_order, byte_order=self.byte_order
            )
        if value is None:
            if special in (Special.NAN, Special.NRES, Special.RESERVED):
                raise ValueError(f"{self.name} cannot represent {special}")
            if special is not None and self.status is None:
                raise ValueError(f"{self.name} has no status register for {special}")
            raw = 0
        else:
            scaled = Decimal(repr(float(value))).scaleb(self.decimals)
            raw = int(scaled.to_integral_value(ROUND_HALF_EVEN))
        return int_to_registers(
            raw,
            width=self.width,
            signed=self.datatype.startswith("int"),
            word_order=self.word_order,
            byte_order=self.byte_order,
        )


# --------------------------------------------------------------------------- profiles

#: CAS CI-600D register numbers (manual p.82); converted to addresses explicitly below.
CAS_GROSS_WEIGHT_H: Final = 40008
CAS_NET_WEIGHT_H: Final = 40010


def cas_ci600d(
    *,
    reading: Literal["gross", "net"] = "gross",
    decimals: int = 2,
    unit: str = "kg",
    word_order: WordOrder = "big",
) -> RegisterMap:
    """CAS CI-600D style: signed 32-bit weight, high word first, implied decimals."""
    if reading not in ("gross", "net"):
        raise ConfigError(f"cas_ci600d reading is gross or net, not {reading!r}")
    number = CAS_GROSS_WEIGHT_H if reading == "gross" else CAS_NET_WEIGHT_H
    return RegisterMap(
        name="cas_ci600d",
        kind=MeasurementKind.BODY_WEIGHT,
        address=register_number_to_address(number),  # 40008 -> 7: the 1-based pitfall
        datatype="int32",
        unit=unit,
        decimals=decimals,
        word_order=word_order,
        extra={"reading": reading},
    )


#: Eagle EI float32 base addresses (PDU, 0-based) by unit: gross ch.1; net is +8.
EAGLE_BASE: Final[dict[str, int]] = {"lb": 0x1000, "kg": 0x2000}


def eagle_ei(
    *,
    channel: int = 1,
    reading: Literal["gross", "net"] = "gross",
    unit: Literal["kg", "lb"] = "kg",
    word_order: WordOrder = "big",
    byte_order: ByteOrder = "big",
) -> RegisterMap:
    """Eagle EI-1000/2000/4000 style: float32 weight per channel, kg or lb register bank."""
    if unit not in EAGLE_BASE:
        raise ConfigError(f"eagle_ei unit is kg or lb, not {unit!r}")
    if not 1 <= channel <= 4:
        raise ConfigError(f"eagle_ei channel is 1..4, not {channel}")
    if reading not in ("gross", "net"):
        raise ConfigError(f"eagle_ei reading is gross or net, not {reading!r}")
    address = EAGLE_BASE[unit] + (8 if reading == "net" else 0) + 2 * (channel - 1)
    return RegisterMap(
        name="eagle_ei",
        kind=MeasurementKind.BODY_WEIGHT,
        address=address,  # Eagle prints PDU addresses already: no 40001 offset
        datatype="float32",
        unit=unit,
        word_order=word_order,
        byte_order=byte_order,
        extra={"channel": channel, "reading": reading},
    )


#: the project's height-rod status bits (register 40002)
ROD_MEASURING: Final = 0x0001
ROD_NO_TARGET: Final = 0x0002
ROD_OUT_OF_RANGE: Final = 0x0004


def height_rod(
    *,
    register: int = 40001,
    unit: str = "mm",
    decimals: int = 0,
    datatype: DataType = "uint16",
    word_order: WordOrder = "big",
    with_status: bool = True,
) -> RegisterMap:
    """Height rod: height at ``register`` (default 40001, mm), status word right after it."""
    width = _WIDTH.get(datatype, 1)
    status = (
        StatusBits(
            offset=width,
            unstable=ROD_MEASURING,
            invalid=ROD_NO_TARGET,
            overload=ROD_OUT_OF_RANGE,
        )
        if with_status
        else None
    )
    return RegisterMap(
        name="height_rod",
        kind=MeasurementKind.BODY_HEIGHT,
        address=register_number_to_address(register),
        datatype=datatype,
        unit=unit,
        decimals=decimals,
        word_order=word_order,
        status=status,
    )


PROFILES: Final[dict[str, Callable[..., RegisterMap]]] = {
    "cas_ci600d": cas_ci600d,
    "eagle_ei": eagle_ei,
    "height_rod": height_rod,
}


def build_map(profile: str, **options: Any) -> RegisterMap:
    """A profile's map with devices.toml options (``build_map("cas_ci600d", decimals=1)``)."""
    try:
        factory = PROFILES[profile]
    except KeyError:
        raise ConfigError(
            f"unknown register map {profile!r}; known: {', '.join(sorted(PROFILES))}"
        ) from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigError(f"register map {profile!r}: {exc}") from exc
