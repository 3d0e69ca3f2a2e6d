"""Pure checksum helpers shared by the serial wire formats.

Every function takes bytes (or any iterable of ints 0-255) and returns an int; the
callers format it the way their wire format prints it (hex digits, little-endian bytes).

=================  ==============================================  ========================
function           algorithm                                       used by
=================  ==============================================  ========================
sum8               byte sum mod 256                                TaiDoc TD-42xx, ASTM E1381
sum16              byte sum mod 65536                              OneTouch Ultra 2, Optium
crc_ccitt          CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF,   LifeScan binary protocol
                   no reflection, no final xor                     (UltraEasy / UltraMini)
crc16_modbus       CRC-16/MODBUS: poly 0x8005 reflected (0xA001),  Modbus RTU ADU
                   init 0xFFFF, sent low byte first
=================  ==============================================  ========================

Sources: glucometerutils ``support/lifescan.py`` (``crc_ccitt`` with the 0xFFFF seed)
and its ``support/tests/test_lifescan.py`` vectors; the CRC RevEng catalogue check values
(CRC-16/IBM-3740 a.k.a. CCITT-FALSE 0x29B1, CRC-16/MODBUS 0x4B37 over ``b"123456789"``);
Modbus over Serial Line v1.02 §6.2.2 (CRC generation, low byte first).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = [
    "astm_checksum",
    "crc16_modbus",
    "crc_ccitt",
    "sum8",
    "sum16",
]


def sum8(data: Iterable[int]) -> int:
    """Sum of the bytes modulo 256."""
    return sum(data) & 0xFF


def sum16(data: Iterable[int]) -> int:
    """Sum of the bytes modulo 65536 (LifeScan ASCII protocols, FreeStyle Optium)."""
    return sum(data) & 0xFFFF


def astm_checksum(data: Iterable[int]) -> int:
    """ASTM E1381 frame checksum: sum mod 256 from the frame number through ETX/ETB."""
    return sum8(data)


def _crc_ccitt_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


def _crc_modbus_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CCITT: Final = _crc_ccitt_table()
_MODBUS: Final = _crc_modbus_table()


def crc_ccitt(data: Iterable[int], init: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (LifeScan's "CRC-CCITT seeded at 0xFFFF")."""
    crc = init & 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CCITT[((crc >> 8) ^ byte) & 0xFF]
    return crc


def crc16_modbus(data: Iterable[int]) -> int:
    """CRC-16/MODBUS; on the wire the low byte goes first (``crc.to_bytes(2, "little")``)."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _MODBUS[(crc ^ byte) & 0xFF]
    return crc
