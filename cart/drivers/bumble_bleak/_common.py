"""Helpers shared by the scanner and client backends: adapter lookup, UUIDs, addresses."""

from __future__ import annotations

import uuid
from typing import Any

from bleak.exc import BleakError
from bumble import core, hci

from cart.drivers.bumble_bleak.adapter import BumbleAdapter, get_default_adapter

__all__ = ["address_to_bleak", "bleak_to_address", "resolve_adapter", "uuid_to_bleak"]


def resolve_adapter(owner: type[Any], kwargs: dict[str, Any]) -> BumbleAdapter:
    """The adapter for a backend instance: ``bumble_adapter=`` kwarg, bound class, default."""
    adapter = kwargs.pop("bumble_adapter", None) or getattr(owner, "bumble_adapter", None)
    adapter = adapter or get_default_adapter()
    if not isinstance(adapter, BumbleAdapter):
        raise BleakError(
            "no bumble adapter: use adapter.scanner_backend/client_backend, pass "
            "bumble_adapter=..., or call set_default_adapter()"
        )
    return adapter


def uuid_to_bleak(value: core.UUID) -> str:
    """bumble UUID (little-endian bytes) -> bleak's lower-case 128-bit string."""
    return str(uuid.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))


def address_to_bleak(address: hci.Address) -> str:
    """``AA:BB:CC:DD:EE:FF`` without bumble's ``/P`` public-address suffix."""
    return str(address.to_string(with_type_qualifier=False))


def bleak_to_address(address: str, details: Any = None) -> hci.Address:
    """The bumble address to connect to: the scanned one when known, else parse the string.

    A bare string is taken as a random (static) address, what LE health devices use;
    append ``/P`` for a public address.
    """
    if isinstance(details, hci.Address):
        return details
    try:
        return hci.Address(address)
    except (ValueError, core.InvalidArgumentError) as exc:
        raise BleakError(f"not a Bluetooth address: {address!r}") from exc
