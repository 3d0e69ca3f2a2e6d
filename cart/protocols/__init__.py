"""Sans-IO wire formats: bytes in, :class:`~cart.protocols.base.Decoded` or a ProtocolError out.

Nothing in this package performs I/O or reads the clock (a test enforces it). Each
module covers one device family and exports ``PROTOCOLS`` for the registry.
"""

from cart.protocols.base import NEED_DATA, Decoded, NeedData, PayloadKind, ProtocolSpec
from cart.protocols.registry import all_protocols, get_protocol

__all__ = [
    "NEED_DATA",
    "Decoded",
    "NeedData",
    "PayloadKind",
    "ProtocolSpec",
    "all_protocols",
    "get_protocol",
]
