"""The cart's Bluetooth radio: which bleak backend the BLE drivers get (imported lazily).

- ``link`` (a bumble LocalLink from the simulated cart): a virtual central on that link.
- ``transport`` (a bumble transport spec such as ``usb:0`` or ``serial:/dev/ttyACM0``): a
  USB/serial HCI dongle driven by bumble, bonds kept in ``keystore``.
- neither: the operating system's stack (BlueZ, CoreBluetooth, WinRT) through bleak.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from cart.devices import DeviceConfig

if TYPE_CHECKING:
    from cart.drivers.ble import BleBackend

__all__ = ["ble_backend", "driver_extras"]


@asynccontextmanager
async def ble_backend(
    *, link: Any = None, transport: str | None = None, keystore: str | None = None
) -> AsyncIterator[BleBackend]:
    from cart.drivers.ble import BleBackend

    if link is None and not transport:
        yield BleBackend()
        return
    from cart.drivers.bumble_bleak import BumbleAdapter

    if link is not None:
        adapter = await BumbleAdapter.open_on_link(link)
    else:
        assert transport is not None
        adapter = await BumbleAdapter.open(transport, keystore=keystore)
    try:
        yield BleBackend.from_bumble(adapter)
    finally:
        await adapter.close()


@asynccontextmanager
async def driver_extras(
    configs: Iterable[DeviceConfig],
    *,
    link: Any = None,
    transport: str | None = None,
    keystore: str | None = None,
    fast: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Keyword arguments for ``build_driver`` while the radio is open.

    Nothing Bluetooth is imported or opened unless a configured device uses BLE.
    """
    if not any(c.transport == "ble" for c in configs):
        yield {}
        return
    from cart.drivers.ble import BleSettings

    async with ble_backend(link=link, transport=transport, keystore=keystore) as backend:
        yield {"backend": backend, "settings": BleSettings.fast() if fast else None}
