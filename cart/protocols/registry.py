"""Discovery of every wire format: each module in this package may export ``PROTOCOLS``."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache

from cart.errors import UnsupportedMessage
from cart.protocols.base import ProtocolSpec

__all__ = ["all_protocols", "get_protocol"]


@cache
def all_protocols() -> Mapping[str, ProtocolSpec]:
    """Every registered protocol, keyed and sorted by id."""
    import cart.protocols as package

    found: dict[str, ProtocolSpec] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in {"base", "registry"}:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for spec in getattr(module, "PROTOCOLS", ()):
            if spec.id in found:
                raise RuntimeError(f"protocol id {spec.id!r} registered twice")
            found[spec.id] = spec
    return dict(sorted(found.items()))


def get_protocol(protocol_id: str) -> ProtocolSpec:
    try:
        return all_protocols()[protocol_id]
    except KeyError:
        raise UnsupportedMessage(
            f"unknown protocol id {protocol_id!r}; see `cart decode --list`", protocol=protocol_id
        ) from None
