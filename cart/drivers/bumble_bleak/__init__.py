"""A bleak backend over Google's bumble host stack.

bleak's public API (``BleakScanner``, ``BleakClient``) with ``backend=`` set to these
classes talks real ATT/GATT/SMP through bumble: to the simulators' peripherals on an
in-process virtual radio (:meth:`BumbleAdapter.open_on_link`) in tests and
``cart serve --simulate``, or to a USB Bluetooth dongle (:meth:`BumbleAdapter.open` with
``"usb:0"``) in production, without the operating system's stack.

    adapter = await BumbleAdapter.open("usb:0")
    device = await BleakScanner.find_device_by_filter(..., backend=adapter.scanner_backend)
    async with BleakClient(device, backend=adapter.client_backend) as client:
        ...
    await adapter.close()
"""

from cart.drivers.bumble_bleak.adapter import (
    BumbleAdapter,
    get_default_adapter,
    set_default_adapter,
)
from cart.drivers.bumble_bleak.client import BleakClientBumble
from cart.drivers.bumble_bleak.errors import (
    BumbleConnectionLostError,
    BumblePairingError,
    BumbleTransportError,
)
from cart.drivers.bumble_bleak.scanner import BleakScannerBumble

__all__ = [
    "BleakClientBumble",
    "BleakScannerBumble",
    "BumbleAdapter",
    "BumbleConnectionLostError",
    "BumblePairingError",
    "BumbleTransportError",
    "get_default_adapter",
    "set_default_adapter",
]
