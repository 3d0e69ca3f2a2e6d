"""Exceptions of the bumble backend, importable without importing bumble.

They subclass :class:`bleak.exc.BleakError`, like the errors of bleak's own backends, so code
written against bleak's public API keeps one ``except BleakError`` for transport problems
and can still tell a pairing problem apart by its class.
"""

from __future__ import annotations

from bleak.exc import BleakError

__all__ = ["BumbleConnectionLostError", "BumblePairingError", "BumbleTransportError"]


class BumblePairingError(BleakError):
    """SMP pairing or link encryption failed (peer rejected it, wrong key, key missing).

    ``reason`` is the SMP or HCI reason name as bumble reports it, e.g.
    ``PAIRING_NOT_SUPPORTED_ERROR`` or ``PIN_OR_KEY_MISSING_ERROR``.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"pairing failed: {reason}")
        self.reason = reason


class BumbleConnectionLostError(BleakError):
    """The link dropped while a GATT operation was waiting for its answer."""


class BumbleTransportError(BleakError):
    """The HCI transport (USB dongle, serial port...) could not be opened or died."""
