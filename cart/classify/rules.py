"""Rule primitives: cited bands, thresholds and criteria.

A :class:`BandTable` splits the number line into contiguous bands, each one a
:class:`Band` carrying its label and its citation; the table checks at import time
that its bands are sorted, contiguous and non-overlapping, so a typo in a threshold
fails loudly instead of leaving a gap. Values are compared as :class:`~decimal.Decimal`
built from the shortest ``repr`` of the input (``Decimal(str(x))``), so 79.9 is 79.9 and
not 79.900000000000005684....
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, Literal, TypeVar

__all__ = [
    "Band",
    "BandTable",
    "Criterion",
    "Threshold",
    "band",
    "dec",
    "fmt",
]

L = TypeVar("L", bound=Hashable)

Op = Literal["<", "<=", ">=", ">"]

_OPS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}
_OP_TEXT: dict[str, str] = {"<": "<", "<=": "≤", ">=": "≥", ">": ">"}


def dec(value: float | int | str | Decimal) -> Decimal:
    """The exact decimal a person means by ``value``: ``Decimal(str(76.8)) == Decimal("76.8")``."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def fmt(value: Decimal) -> str:
    """A threshold as written in the norms: ``Decimal("30.0")`` -> ``30.0``, ``140`` -> ``140``."""
    return format(value, "f")


@dataclass(frozen=True)
class Band(Generic[L]):
    """One row of a table: ``label`` for values in [low, high) (bounds configurable)."""

    label: L
    low: Decimal | None
    """Lower bound; ``None`` is open (minus infinity)."""
    high: Decimal | None
    """Upper bound; ``None`` is open (plus infinity)."""
    citation: str
    """Where the row comes from: document, section/table, quoted words."""
    refs: tuple[str, ...]
    """Ids in :data:`cart.classify.references.REFERENCES`."""
    low_inclusive: bool = True
    high_inclusive: bool = False

    def contains(self, value: Decimal) -> bool:
        if self.low is not None and not (
            value >= self.low if self.low_inclusive else value > self.low
        ):
            return False
        return self.high is None or (
            value <= self.high if self.high_inclusive else value < self.high
        )

    def describe(self) -> str:
        """The band as a human-readable interval: ``< 18.5``, ``≥ 18.5 and < 25.0``, ``> 180``."""
        low = None
        if self.low is not None:
            low = f"{'≥' if self.low_inclusive else '>'} {fmt(self.low)}"
        high = None
        if self.high is not None:
            high = f"{'≤' if self.high_inclusive else '<'} {fmt(self.high)}"
        if low and high:
            return f"{low} and {high}"
        return low or high or "any value"


def band(
    label: L,
    low: str | None,
    high: str | None,
    citation: str,
    *refs: str,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> Band[L]:
    """Shorthand for a :class:`Band` with decimal bounds written as strings."""
    return Band(
        label=label,
        low=None if low is None else Decimal(low),
        high=None if high is None else Decimal(high),
        citation=citation,
        refs=refs,
        low_inclusive=low_inclusive,
        high_inclusive=high_inclusive,
    )


@dataclass(frozen=True)
class BandTable(Generic[L]):
    """Contiguous cited bands over one quantity, lowest first."""

    id: str
    """Stable id, e.g. ``bmi.nom.standard``."""
    title: str
    quantity: str
    """The compared quantity as a person reads it, e.g. ``BMI (rounded)``."""
    unit: str
    bands: tuple[Band[L], ...]
    note: str = ""

    def __post_init__(self) -> None:
        bands = self.bands
        if not bands:
            raise ValueError(f"{self.id}: a table needs at least one band")
        if bands[0].low is not None or bands[-1].high is not None:
            raise ValueError(f"{self.id}: the first and last bands must be open-ended")
        for lower, upper in itertools.pairwise(bands):
            if lower.high is None or upper.low is None or lower.high != upper.low:
                raise ValueError(f"{self.id}: bands {lower.label!r}/{upper.label!r} not contiguous")
            if lower.high_inclusive == upper.low_inclusive:
                raise ValueError(f"{self.id}: bands {lower.label!r}/{upper.label!r} overlap or gap")
        if not all(b.refs for b in bands):
            raise ValueError(f"{self.id}: every band must cite a reference")

    def find(self, value: Decimal) -> Band[L]:
        """The one band containing ``value``."""
        for candidate in self.bands:
            if candidate.contains(value):
                return candidate
        raise AssertionError(f"{self.id}: no band for {value}")  # pragma: no cover

    def labels(self) -> tuple[L, ...]:
        """The labels in table order (each once)."""
        return tuple(dict.fromkeys(b.label for b in self.bands))


@dataclass(frozen=True)
class Threshold:
    """One cited comparison: ``quantity op value``, e.g. ``systolic < 140``."""

    quantity: str
    """Input field (or ``bmi``) the threshold applies to."""
    op: Op
    value: Decimal
    unit: str
    citation: str
    refs: tuple[str, ...]

    def holds(self, x: Decimal) -> bool:
        return _OPS[self.op](x, self.value)

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.quantity} {_OP_TEXT[self.op]} {fmt(self.value)}{unit}"


@dataclass(frozen=True)
class Criterion:
    """All of its thresholds hold (e.g. a control goal: SBP < 140 **and** DBP < 90)."""

    id: str
    title: str
    all_of: tuple[Threshold, ...]
    refs: tuple[str, ...] = field(default=())

    def evaluate(self, values: Mapping[str, Decimal | None]) -> bool | None:
        """Three-valued: ``False`` if a known value fails, ``True`` if all are known and hold,
        ``None`` if the missing values decide (never a guess)."""
        missing = False
        for threshold in self.all_of:
            value = values.get(threshold.quantity)
            if value is None:
                missing = True
            elif not threshold.holds(value):
                return False
        return None if missing else True

    def describe(self) -> str:
        return " and ".join(t.describe() for t in self.all_of)

    def all_refs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for t in self.all_of for r in t.refs)) + self.refs
