"""bleak client backend over a :class:`~cart.drivers.bumble_bleak.adapter.BumbleAdapter`.

Real ATT/GATT through bumble's host stack: service discovery, reads, writes with and
without response, notifications and indications (bumble confirms indications), SMP
pairing and LE encryption, and peer-initiated disconnects.

Error mapping, so callers only see bleak's exception types:

- an ATT Error Response -> :class:`bleak.exc.BleakGATTProtocolError` with its code
  (``0x05``/``0x0F`` insufficient authentication/encryption, ``0xFD``, ``0xFE``...);
- an SMP or encryption failure -> :class:`.errors.BumblePairingError`;
- the link dropping while an operation waits -> :class:`.errors.BumbleConnectionLostError`;
- no connection within the timeout -> :class:`TimeoutError` (as bleak's OS backends);
- anything else bumble raises -> :class:`bleak.exc.BleakError`.

The disconnected callback runs only for unsolicited disconnects, as the bleak backend
interface documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final, TypeVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.device import Connection
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy

from cart.drivers.bumble_bleak._common import bleak_to_address, resolve_adapter, uuid_to_bleak
from cart.drivers.bumble_bleak.adapter import BumbleAdapter
from cart.drivers.bumble_bleak.errors import BumbleConnectionLostError, BumblePairingError

__all__ = ["BleakClientBumble"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: ATT MTU requested after connecting (what phones and BlueZ ask for).
REQUESTED_MTU: Final = 247
#: Default ATT MTU before the exchange.
DEFAULT_MTU: Final = 23
#: How long a local disconnect may take before the link is considered gone anyway.
DISCONNECT_TIMEOUT_S: Final = 5.0


class BleakClientBumble(BaseBleakClient):
    """``BleakClient(device, backend=adapter.client_backend)``: GATT client over bumble.

    Extra keyword (through ``BleakClient(**kwargs)``): ``bumble_adapter=`` to pick the
    adapter per client instead of using a bound class or the default adapter.
    """

    bumble_adapter: ClassVar[BumbleAdapter | None] = None

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._adapter = resolve_adapter(type(self), kwargs)
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        if isinstance(address_or_ble_device, BLEDevice):
            self._details: Any = address_or_ble_device.details
            self._device_name = address_or_ble_device.name
        else:
            self._details = None
            self._device_name = None
        self._wanted_services = services
        self._connection: Connection | None = None
        self._disconnecting = False
        #: bleak characteristic handle -> the bumble subscriber registered for it
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self._device_name or self.address

    @property
    def mtu_size(self) -> int:
        connection = self._connection
        return int(connection.att_mtu) if connection is not None else DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # ------------------------------------------------------------------ connectivity

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        address = bleak_to_address(self.address, self._details)
        try:
            connection = await self._adapter.connect(address, timeout=self._timeout)
        except TimeoutError:
            raise
        except core.BaseBumbleError as exc:
            raise BleakError(f"connection to {self.address} failed: {exc}") from exc
        self._connection = connection
        self._disconnecting = False
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            async with asyncio.timeout(self._timeout):
                if pair:
                    await self._secure(connection)
                with contextlib.suppress(att.ATT_Error, core.BaseBumbleError):
                    await self._gatt(connection.gatt_client.request_mtu(REQUESTED_MTU))
                self.services = await self._discover(connection)
        except BaseException:
            await self._drop(connection)
            raise

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        await self._drop(connection)

    async def _drop(self, connection: Connection) -> None:
        """Disconnect on our initiative: no disconnected callback."""
        self._disconnecting = True
        try:
            if self._connection is connection:
                with contextlib.suppress(core.BaseBumbleError, TimeoutError):
                    async with asyncio.timeout(DISCONNECT_TIMEOUT_S):
                        await connection.disconnect()
        finally:
            self._forget(connection)

    def _on_disconnection(self, reason: int) -> None:
        connection = self._connection
        if connection is None:
            return
        _log.debug("%s disconnected (reason 0x%02X)", self.address, reason)
        unsolicited = not self._disconnecting
        self._forget(connection)
        if unsolicited and self._disconnected_callback is not None:
            self._disconnected_callback()

    def _forget(self, connection: Connection) -> None:
        with contextlib.suppress(Exception):
            connection.remove_listener(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        if self._connection is connection:
            self._connection = None
        self._subscribers.clear()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        await self._secure(self._require_connection())

    async def unpair(self) -> None:
        keystore = self._adapter.device.keystore
        address = bleak_to_address(self.address, self._details)
        if self._connection is not None:
            await self.disconnect()
        if keystore is not None:
            with contextlib.suppress(KeyError, core.BaseBumbleError):
                await keystore.delete(str(address))

    async def _secure(self, connection: Connection) -> None:
        """Encrypt with a stored bond, or pair (and bond) when there is none."""
        if connection.is_encrypted:
            return
        keystore = self._adapter.device.keystore
        keys = await keystore.get(str(connection.peer_address)) if keystore else None
        try:
            if keys is not None:
                try:
                    await connection.encrypt()
                    return
                except (hci.HCI_Error, core.InvalidOperationError) as exc:
                    _log.info("stored bond for %s failed (%s); pairing again", self.address, exc)
            await connection.pair()
        except core.ProtocolError as exc:
            raise BumblePairingError(exc.error_name or str(exc)) from exc
        except core.BaseBumbleError as exc:
            raise BumblePairingError(type(exc).__name__, f"pairing failed: {exc}") from exc
        except asyncio.CancelledError:
            if _really_cancelled():
                raise
            raise BumblePairingError("DISCONNECTED", "the link dropped during pairing") from None

    # ------------------------------------------------------------------ discovery

    async def _discover(self, connection: Connection) -> BleakGATTServiceCollection:
        client = connection.gatt_client
        collection = BleakGATTServiceCollection()
        services: list[ServiceProxy] = await self._gatt(client.discover_services())
        for service in services:
            service_uuid = uuid_to_bleak(service.uuid)
            if self._wanted_services is not None and service_uuid not in self._wanted_services:
                continue
            bleak_service = BleakGATTService(service, service.handle, service_uuid)
            collection.add_service(bleak_service)
            characteristics: list[CharacteristicProxy[bytes]] = await self._gatt(
                client.discover_characteristics((), service)
            )
            for characteristic in characteristics:
                bleak_characteristic = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    uuid_to_bleak(characteristic.uuid),
                    _property_names(int(characteristic.properties)),
                    self._max_write_without_response,
                    bleak_service,
                )
                collection.add_characteristic(bleak_characteristic)
                descriptors: list[DescriptorProxy] = await self._gatt(
                    client.discover_descriptors(characteristic)
                )
                for descriptor in descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor,
                            descriptor.handle,
                            uuid_to_bleak(descriptor.type),
                            bleak_characteristic,
                        )
                    )
        return collection

    def _max_write_without_response(self) -> int:
        return self.mtu_size - 3

    # ------------------------------------------------------------------ I/O

    async def read_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        client = self._require_connection().gatt_client
        if use_cached and characteristic.handle in client.cached_values:
            return bytearray(client.cached_values[characteristic.handle][1])
        value: bytes = await self._gatt(client.read_value(characteristic.handle))
        return bytearray(value)

    async def read_gatt_descriptor(
        self,
        descriptor: BleakGATTDescriptor,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        client = self._require_connection().gatt_client
        if use_cached and descriptor.handle in client.cached_values:
            return bytearray(client.cached_values[descriptor.handle][1])
        value: bytes = await self._gatt(client.read_value(descriptor.handle))
        return bytearray(value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        client = self._require_connection().gatt_client
        await self._gatt(
            client.write_value(characteristic.handle, bytes(data), with_response=response)
        )

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        client = self._require_connection().gatt_client
        await self._gatt(client.write_value(descriptor.handle, bytes(data), with_response=True))

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic,
        callback: NotifyCallback,
        **kwargs: Any,
    ) -> None:
        client = self._require_connection().gatt_client
        proxy = characteristic.obj
        if not isinstance(proxy, CharacteristicProxy):
            raise BleakError(f"{characteristic} does not come from this backend")

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        try:
            await self._gatt(client.subscribe(proxy, on_value, prefer_notify=True))
        except BaseException:
            # bumble registers the subscriber before writing the CCCD: undo it on failure
            for table in (client.notification_subscribers, client.indication_subscribers):
                subscribers = table.get(proxy.handle)
                if subscribers is not None:
                    subscribers.discard(on_value)
                    subscribers.discard(proxy)
                    if not subscribers:
                        del table[proxy.handle]
            raise
        self._subscribers[characteristic.handle] = on_value

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        client = self._require_connection().gatt_client
        proxy = characteristic.obj
        subscriber = self._subscribers.pop(characteristic.handle, None)
        if not isinstance(proxy, CharacteristicProxy) or subscriber is None:
            return
        await self._gatt(client.unsubscribe(proxy, subscriber))

    # ------------------------------------------------------------------ error mapping

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BleakError("Not connected")
        return self._connection

    async def _gatt(self, operation: Awaitable[_T]) -> _T:
        """Await a bumble GATT operation and translate its failures to bleak's types."""
        try:
            return await operation
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(int(exc.error_code)) from exc
        except core.TimeoutError as exc:
            raise TimeoutError(f"GATT operation timed out on {self.address}") from exc
        except core.BaseBumbleError as exc:
            raise BleakError(f"GATT operation failed on {self.address}: {exc}") from exc
        except asyncio.CancelledError:
            if _really_cancelled():
                raise
            # bumble cancels the pending request's future when the link drops
            raise BumbleConnectionLostError(
                f"{self.address} disconnected during a GATT operation"
            ) from None

    def __repr__(self) -> str:
        state = "connected" if self._connection is not None else "disconnected"
        return f"<BleakClientBumble {self.address} {state} via {self._adapter.description}>"


def _really_cancelled() -> bool:
    """True when the current task itself is being cancelled (not a bumble-side future)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _property_names(properties: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if properties & bit]
