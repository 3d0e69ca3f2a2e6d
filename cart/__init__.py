"""mido-cart: device integration for the MIDO mobile screening cart."""

from cart.errors import CartError, DeviceError, ProtocolError
from cart.measurement import Measurement, MeasurementKind, Special

__all__ = [
    "CartError",
    "DeviceError",
    "Measurement",
    "MeasurementKind",
    "ProtocolError",
    "Special",
    "__version__",
]

__version__ = "0.1.0"
