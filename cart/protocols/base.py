"""Shared types of the sans-IO protocol layer.

A wire format is described by a :class:`ProtocolSpec` (its id, title, payload kind and
a pure ``decode(bytes) -> Decoded``). Each protocol module lists its specs in a
module-level ``PROTOCOLS`` tuple; :mod:`cart.protocols.registry` discovers them, so a
new format is one new module and nothing else to edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal

from cart.measurement import Measurement

__all__ = ["NEED_DATA", "Decoded", "NeedData", "PayloadKind", "ProtocolSpec"]


class PayloadKind(StrEnum):
    TEXT = "text"
    """Frames are printable text; `cart decode` takes them literally with C escapes."""
    HEX = "hex"
    """Frames are binary; `cart decode` takes them as hex."""


class NeedData:
    """Sentinel type: the stream decoder needs more bytes before it can return a frame."""

    _instance: NeedData | None = None

    def __new__(cls) -> NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


@dataclass(frozen=True, slots=True)
class Decoded:
    """One decoded frame: the spec's fields (snake_case) and the normalised measurements."""

    protocol: str
    record: Mapping[str, Any]
    """JSON-ready fields named as in the spec (numbers, strings, lists, dicts, None)."""
    measurements: tuple[Measurement, ...] = ()
    raw: bytes = field(default=b"", compare=False)
    """The exact bytes of the frame, for the raw log."""

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "record": dict(self.record),
            "measurements": [m.to_json() for m in self.measurements],
        }


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    id: str
    """Stable wire-format id, e.g. ``and.weighing`` or ``ble.blood_pressure``."""
    title: str
    payload: PayloadKind | Literal["text", "hex"]
    decode: Callable[[bytes], Decoded]
    """Decode exactly one frame or characteristic value; raise ProtocolError subclasses only."""
    uuid: int | None = None
    """16-bit GATT characteristic UUID for BLE formats."""
    examples: tuple[bytes, ...] = ()
    """Valid frames (cited in the module's tests); used by `bench/` and the docs."""
