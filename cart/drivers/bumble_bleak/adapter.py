"""One bumble host acting as the cart's Bluetooth LE central.

A :class:`BumbleAdapter` owns a bumble :class:`~bumble.device.Device` (the host stack) and
the HCI transport under it. Two ways to get one:

- ``await BumbleAdapter.open("usb:0")``: any bumble transport spec (``usb:0``,
  ``usb:2fe3:000b``, ``serial:/dev/ttyACM0,1000000``, ``tcp-client:127.0.0.1:9000``...)
  for a real controller such as a USB dongle;
- ``await BumbleAdapter.open_on_link(link)``: a bumble virtual controller joined to an
  in-process :class:`bumble.link.LocalLink`, where the simulators' peripherals live.

The scanner and client backends (:mod:`.scanner`, :mod:`.client`) share one adapter: it
fans advertisements out to every running scanner and serialises connection attempts
(a controller initiates one LE connection at a time). bleak instantiates backends itself,
so an adapter hands out backend *classes* bound to it::

    adapter = await BumbleAdapter.open_on_link(world.link)
    device = await BleakScanner.find_device_by_name("Bascula", backend=adapter.scanner_backend)
    async with BleakClient(device, backend=adapter.client_backend) as client:
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from bumble import core, hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink, Transport

from cart.bumble_controller import VirtualCentralController
from cart.drivers.bumble_bleak.errors import BumbleTransportError

if TYPE_CHECKING:
    from cart.drivers.bumble_bleak.client import BleakClientBumble
    from cart.drivers.bumble_bleak.scanner import BleakScannerBumble

__all__ = [
    "DEFAULT_VIRTUAL_CENTRAL_ADDRESS",
    "AdvertisementListener",
    "BumbleAdapter",
    "VirtualCentralController",
    "get_default_adapter",
    "set_default_adapter",
]

_log = logging.getLogger(__name__)

#: Static random address of the cart's virtual controller (two top bits set: static).
DEFAULT_VIRTUAL_CENTRAL_ADDRESS: Final = "C0:CA:27:00:00:01"
#: Host name the cart's controller reports (GAP Device Name).
DEFAULT_HOST_NAME: Final = "mido-cart"
#: Extra time a controller gets to confirm a cancelled connection attempt.
CONNECT_CANCEL_GRACE_S: Final = 2.0
#: How long the controller may take to reset and report its features.
POWER_ON_TIMEOUT_S: Final = 15.0
#: How long :meth:`BumbleAdapter.close` waits for each link to drop.
CLOSE_DISCONNECT_TIMEOUT_S: Final = 2.0
#: Scan interval and window in milliseconds: scan continuously while a scanner runs.
SCAN_INTERVAL_MS: Final = 60.0
SCAN_WINDOW_MS: Final = 60.0

AdvertisementListener = Callable[[Advertisement], None]
_B = TypeVar("_B")


class BumbleAdapter:
    """A powered-on bumble host plus its HCI transport; close it with :meth:`close`."""

    def __init__(
        self,
        device: Device,
        *,
        description: str,
        transport: Transport | None = None,
        controller: Controller | None = None,
        link: LocalLink | None = None,
    ) -> None:
        self.device = device
        #: the transport spec or ``local-link`` (for logs and ``cart devices test``)
        self.description = description
        self._transport = transport
        self._controller = controller
        self._link = link
        self._listeners: list[AdvertisementListener] = []
        self._scan_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._scanning = False
        self._closed = False
        self._bound: dict[type[Any], type[Any]] = {}
        device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)

    # ------------------------------------------------------------------ opening

    @classmethod
    async def open(
        cls,
        spec: str,
        *,
        name: str = DEFAULT_HOST_NAME,
        address: str | None = None,
        keystore: str | None = None,
    ) -> BumbleAdapter:
        """Open a real controller through a bumble transport spec (``usb:0``...).

        ``address`` is the static random address to use (generated when None);
        ``keystore`` is a bumble keystore spec (``JsonKeyStore:/var/lib/mido/bonds.json``)
        so bonds survive a restart; the default keeps them in memory.
        """
        try:
            transport = await open_transport(spec)
        except Exception as exc:  # bumble raises many types: USB, serial, OS errors
            raise BumbleTransportError(f"cannot open HCI transport {spec!r}: {exc}") from exc
        device = Device.with_hci(
            name,
            hci.Address(address) if address else hci.Address.ANY_RANDOM,
            transport.source,
            transport.sink,
        )
        if keystore is not None:
            device.config.keystore = keystore
        adapter = cls(device, description=spec, transport=transport)
        await adapter._power_on()
        return adapter

    @classmethod
    async def open_on_link(
        cls,
        link: LocalLink,
        *,
        name: str = DEFAULT_HOST_NAME,
        address: str = DEFAULT_VIRTUAL_CENTRAL_ADDRESS,
    ) -> BumbleAdapter:
        """A virtual controller on ``link`` (the simulators' in-process radio)."""
        controller = VirtualCentralController(
            f"{name}-controller", link=link, public_address=address
        )
        host = Host(controller, AsyncPipeSink(controller))
        device = Device(name=name, address=hci.Address(address), host=host)
        adapter = cls(device, description="local-link", controller=controller, link=link)
        await adapter._power_on()
        return adapter

    async def _power_on(self) -> None:
        try:
            async with asyncio.timeout(POWER_ON_TIMEOUT_S):
                await self.device.power_on()
        except Exception as exc:
            await self.close()
            raise BumbleTransportError(
                f"the Bluetooth controller on {self.description} did not start: {exc!r}"
            ) from exc

    async def close(self) -> None:
        """Drop every connection, stop scanning, power off and release the transport."""
        if self._closed:
            return
        self._closed = True
        self._listeners.clear()
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.disconnect(), CLOSE_DISCONNECT_TIMEOUT_S)
        if self._scanning:
            with contextlib.suppress(Exception):
                await self.device.stop_scanning()
            self._scanning = False
        with contextlib.suppress(Exception):
            await self.device.power_off()
        if self._transport is not None:
            with contextlib.suppress(Exception):
                await self._transport.close()
        if self._link is not None and self._controller is not None:
            with contextlib.suppress(KeyError):
                self._link.remove_controller(self._controller)
        if _default_adapter is self:
            set_default_adapter(None)

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------------ bleak backends

    @property
    def scanner_backend(self) -> type[BleakScannerBumble]:
        """A ``BleakScanner(backend=...)`` class bound to this adapter."""
        from cart.drivers.bumble_bleak.scanner import BleakScannerBumble

        return self._bind(BleakScannerBumble)

    @property
    def client_backend(self) -> type[BleakClientBumble]:
        """A ``BleakClient(backend=...)`` class bound to this adapter."""
        from cart.drivers.bumble_bleak.client import BleakClientBumble

        return self._bind(BleakClientBumble)

    def _bind(self, cls: type[_B]) -> type[_B]:
        bound = self._bound.get(cls)
        if bound is None:
            bound = type(cls.__name__, (cls,), {"bumble_adapter": self})
            self._bound[cls] = bound
        return bound

    # ------------------------------------------------------------------ scanning

    async def add_scan_listener(self, listener: AdvertisementListener, *, active: bool) -> None:
        """Deliver advertisements to ``listener``; starts scanning for the first listener."""
        self._check_open()
        async with self._scan_lock:
            self._listeners.append(listener)
            if not self._scanning:
                try:
                    await self.device.start_scanning(
                        active=active,
                        scan_interval=SCAN_INTERVAL_MS,
                        scan_window=SCAN_WINDOW_MS,
                        filter_duplicates=False,
                    )
                except Exception:
                    self._listeners.remove(listener)
                    raise
                self._scanning = True

    async def remove_scan_listener(self, listener: AdvertisementListener) -> None:
        """Stop delivering to ``listener``; stops scanning after the last one."""
        async with self._scan_lock:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)
            if self._scanning and not self._listeners and not self._closed:
                self._scanning = False
                await self.device.stop_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in list(self._listeners):
            try:
                listener(advertisement)
            except Exception:  # a broken scanner callback must not stop the others
                _log.exception("advertisement listener failed")

    # ------------------------------------------------------------------ connecting

    async def connect(self, address: hci.Address, *, timeout: float) -> Connection:
        """Create an LE connection; attempts are serialised across clients.

        Raises :class:`TimeoutError` when the peer does not answer within ``timeout`` and
        bumble's ``core.ConnectionError``/``hci.HCI_Error`` when the controller refuses.
        """
        self._check_open()
        async with self._connect_lock:
            try:
                # bumble cancels the attempt itself at ``timeout``; the outer deadline only
                # guards against a controller that never confirms the cancellation
                async with asyncio.timeout(timeout + CONNECT_CANCEL_GRACE_S):
                    connection: Connection = await self.device.connect(
                        address, transport=core.PhysicalTransport.LE, timeout=timeout
                    )
            except (core.TimeoutError, TimeoutError) as exc:
                raise TimeoutError(f"no connection to {address} within {timeout:g} s") from exc
            return connection

    def _check_open(self) -> None:
        if self._closed:
            raise BumbleTransportError(f"bumble adapter {self.description} is closed")

    def __repr__(self) -> str:
        return f"<BumbleAdapter {self.description} {self.device.random_address}>"


# ---------------------------------------------------------------------- virtual controller


# ---------------------------------------------------------------------- default adapter

_default_adapter: BumbleAdapter | None = None


def set_default_adapter(adapter: BumbleAdapter | None) -> None:
    """The adapter used by the unbound backend classes (``backend=BleakClientBumble``)."""
    global _default_adapter  # one process-wide radio, like the OS stack
    _default_adapter = adapter


def get_default_adapter() -> BumbleAdapter | None:
    return _default_adapter
