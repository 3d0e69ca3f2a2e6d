"""A bumble peripheral on its own virtual controller: the part every BLE simulator shares.

Each simulator is a real bumble :class:`~bumble.device.Device` with a virtual
:class:`~bumble.controller.Controller` joined to a :class:`~bumble.link.LocalLink`, so the
cart's central reaches it through real advertising, LL connections, ATT, GATT and SMP.
Subclasses declare their GATT services and react to connections and subscriptions;
this base owns the lifecycle (power, advertising, per-connection tasks, clean stop),
security (pairing required, pairing rejected) and the device clock (clock skew).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from bumble import gatt
from bumble.att import ATT_Error, Attribute, ErrorCode
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Descriptor, Service
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from cart import wallclock
from cart.errors import ProtocolError
from cart.protocols import ble_time
from cart.protocols.ble_common import DateTime
from simulators.ble.config import DeviceOptions

__all__ = ["MANUFACTURER", "BlePeripheral", "DeviceClock"]

_log = logging.getLogger(__name__)

CURRENT_TIME_SERVICE: Final = 0x1805
DEVICE_INFORMATION_SERVICE: Final = 0x180A
#: CTS application error: "Data field ignored" (Current Time Service 1.1, 3.1.2.1).
CTS_DATA_FIELD_IGNORED: Final = 0x80
#: Manufacturer Name String of every simulated device.
MANUFACTURER: Final = "MIDO Simulators"


class DeviceClock:
    """The device's own wall clock: host time plus a skew, adjustable through CTS."""

    def __init__(self, skew_s: float = 0.0, fixed: datetime | None = None) -> None:
        self.skew = timedelta(seconds=skew_s)
        #: a stuck clock (dead battery): always reads this, whatever the skew
        self.fixed = fixed
        self._last_stamp: datetime | None = None

    def now(self) -> datetime:
        if self.fixed is not None:
            return self.fixed.replace(microsecond=0)
        return (wallclock.now() + self.skew).replace(microsecond=0)

    def stamp(self) -> datetime:
        """The time stamp of a new measurement: strictly after the previous one.

        A real cycle takes tens of seconds, so two measurements never share a second;
        a fast simulator can finish two in one, and they must still be two records.
        """
        now = self.now()
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(seconds=1)
        self._last_stamp = now
        return now

    def set(self, value: datetime) -> None:
        """What a Current Time write does: the device's clock now reads ``value``."""
        if self.fixed is not None:
            self.fixed = value  # set, but it still does not run
            return
        self.skew = value - wallclock.now()


class _RejectingDelegate(PairingDelegate):
    """A device that refuses pairing (wrong PIN, bonding disabled on the device)."""

    async def accept(self) -> bool:
        return False

    async def confirm(self, auto: bool = False) -> bool:
        return False


class BlePeripheral(abc.ABC):
    """Base of the BLE simulators. Use ``async with`` or :meth:`start` / :meth:`stop`."""

    def __init__(
        self, link: LocalLink, options: DeviceOptions, *, service_uuids: Sequence[int]
    ) -> None:
        """``options`` is the device's config: every config extends :class:`DeviceOptions`."""
        self.link = link
        self.name = options.name
        self.address = options.address
        self.service_uuids = tuple(service_uuids)
        self.advertising_interval_ms = options.advertising_interval_ms
        self.pairing_required = options.pairing_required
        self.accept_pairing = options.accept_pairing
        self.clock = DeviceClock(options.clock_skew_s, options.fixed_clock)
        self.device: Device | None = None
        self._controller: Controller | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connection_tasks: dict[Connection, set[asyncio.Task[Any]]] = {}
        self._stopping = False
        #: how many connections the peripheral accepted (faults count them)
        self.connections_seen = 0

    # ------------------------------------------------------------------ subclass hooks

    @abc.abstractmethod
    def build_services(self) -> list[Service]:
        """The GATT services of the device (called once, at start)."""

    def on_connected(self, connection: Connection) -> None:  # noqa: B027 - optional hook
        """A central connected (``connections_seen`` already counts it)."""

    def on_disconnected(self, connection: Connection) -> None:  # noqa: B027 - optional hook
        """The link dropped; the connection's tasks are already cancelled."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> BlePeripheral:
        if self.device is not None:
            return self
        controller = Controller(
            f"{self.name}-controller", link=self.link, public_address=self.address
        )
        device = Device(
            name=self.name,
            address=Address(self.address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        self._controller = controller
        self.device = device
        device.add_services(self.build_services())
        if not self.accept_pairing:
            device.pairing_config_factory = lambda _connection: PairingConfig(
                delegate=_RejectingDelegate()
            )
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        device.advertising_data = self.advertising_data()
        device.scan_response_data = b""
        try:
            await device.power_on()
            await self._advertise()
        except Exception:
            await self.stop()
            raise
        return self

    def advertising_data(self) -> bytes:
        uuids = b"".join(UUID.from_16_bits(u).to_bytes() for u in self.service_uuids)
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.Type.FLAGS, bytes([0x06])),  # LE general, no BR/EDR
                    (AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, uuids),
                    (AdvertisingData.Type.COMPLETE_LOCAL_NAME, self.name.encode()),
                ]
            )
        )

    async def _advertise(self) -> None:
        assert self.device is not None
        await self.device.start_advertising(
            auto_restart=True,
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )

    async def stop(self) -> None:
        """Cancel every task, drop the links, stop advertising and power off."""
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        device, self.device = self.device, None
        if device is not None:
            for connection in list(device.connections.values()):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.disconnect(), 2.0)
            with contextlib.suppress(Exception):
                await device.stop_advertising()
            with contextlib.suppress(Exception):
                await device.power_off()
        if self._controller is not None:
            with contextlib.suppress(KeyError):
                self.link.remove_controller(self._controller)
            self._controller = None
        self._connection_tasks.clear()

    async def __aenter__(self) -> BlePeripheral:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ connections

    def _on_connection(self, connection: Connection) -> None:
        self.connections_seen += 1
        self._connection_tasks[connection] = set()
        connection.on(
            Connection.EVENT_DISCONNECTION,
            lambda _reason, connection=connection: self._on_disconnection(connection),
        )
        self.on_connected(connection)

    def _on_disconnection(self, connection: Connection) -> None:
        for task in self._connection_tasks.pop(connection, set()):
            task.cancel()
        self.on_disconnected(connection)

    def spawn(
        self, coroutine: Coroutine[Any, Any, None], *, connection: Connection | None = None
    ) -> asyncio.Task[None]:
        """Run ``coroutine`` as a tracked task, cancelled on stop (and on that disconnect)."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        if connection is not None:
            tasks = self._connection_tasks.get(connection)
            if tasks is None:  # already disconnected
                task.cancel()
            else:
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("%s: simulator task failed", self.name, exc_info=task.exception())

    async def disconnect(self, connection: Connection) -> None:
        """Drop the link from the device side (a cuff switching its radio off)."""
        with contextlib.suppress(Exception):
            await connection.disconnect()

    async def notify(
        self, connection: Connection, characteristic: Characteristic[Any], value: bytes
    ) -> None:
        assert self.device is not None
        await self.device.notify_subscriber(connection, characteristic, value)

    async def indicate(
        self, connection: Connection, characteristic: Characteristic[Any], value: bytes
    ) -> bool:
        """Indicate and wait for the confirmation; False when the link dropped first."""
        device = self.device
        assert device is not None
        if connection.handle not in device.connections:
            return False
        lost = asyncio.get_running_loop().create_future()

        def on_lost(_reason: int) -> None:
            if not lost.done():
                lost.set_result(None)

        connection.on(Connection.EVENT_DISCONNECTION, on_lost)
        indication = asyncio.ensure_future(
            device.indicate_subscriber(connection, characteristic, value)
        )
        try:
            done, _ = await asyncio.wait({indication, lost}, return_when=asyncio.FIRST_COMPLETED)
            if indication in done:
                indication.result()
                return True
            return False
        finally:
            connection.remove_listener(Connection.EVENT_DISCONNECTION, on_lost)
            if not indication.done():
                indication.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await indication
            if not lost.done():
                lost.cancel()
            if device.connections.get(connection.handle) is not connection:
                # the link dropped mid-indication: bumble's GATT server cleared its
                # per-link state on the disconnection, then its indication's `finally`
                # put a `pending_confirmations` entry back, which would keep every such
                # Connection alive for the life of the device (one per glucometer download)
                device.gatt_server.pending_confirmations.pop(connection, None)

    # ------------------------------------------------------------------ GATT helpers

    def permissions(self, *, read: bool = False, write: bool = False) -> Attribute.Permissions:
        """Attribute permissions; encryption is required when the device needs pairing."""
        perms = Attribute.Permissions(0)
        if read:
            perms |= Attribute.Permissions.READABLE
            if self.pairing_required:
                perms |= Attribute.Permissions.READ_REQUIRES_ENCRYPTION
        if write:
            perms |= Attribute.Permissions.WRITEABLE
            if self.pairing_required:
                perms |= Attribute.Permissions.WRITE_REQUIRES_ENCRYPTION
        return perms

    def cccd(self, characteristic: Characteristic[Any]) -> Descriptor:
        """A CCCD that, on a device needing pairing, only an encrypted link may write.

        bumble's automatic CCCD is always open; real bonded-only devices refuse the
        subscription with "insufficient encryption", which is what this reproduces.
        """
        assert self.device is not None
        return Descriptor(
            gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
            self.permissions(read=True, write=True),
            self.device.gatt_server.make_descriptor_value(characteristic),
        )

    def indicated(
        self, properties: Characteristic.Properties, uuid16: int
    ) -> Characteristic[bytes]:
        """A characteristic clients subscribe to, with a CCCD that honours pairing_required."""
        characteristic: Characteristic[bytes] = Characteristic(
            UUID.from_16_bits(uuid16), properties, self.permissions(read=True), b""
        )
        characteristic.descriptors = [self.cccd(characteristic)]
        return characteristic

    def time_stamp(self) -> DateTime:
        """Now, on the device's clock (what it stamps a new measurement with)."""
        return DateTime.from_datetime(self.clock.stamp())

    def readable(self, uuid16: int, value: bytes) -> Characteristic[bytes]:
        return Characteristic(
            UUID.from_16_bits(uuid16),
            Characteristic.Properties.READ,
            self.permissions(read=True),
            value,
        )

    def current_time_service(self, *, writable: bool) -> Service:
        """Current Time Service (0x1805): reads the device clock; writes set it (time sync)."""

        def read(_connection: Connection) -> bytes:
            now = self.clock.now()
            return ble_time.encode_current_time(
                ble_time.CurrentTime(DateTime.from_datetime(now), now.isoweekday(), 0, 0)
            )

        def write(_connection: Connection, value: bytes) -> None:
            if not writable:
                raise ATT_Error(ErrorCode.WRITE_NOT_PERMITTED)
            try:
                when = ble_time.parse_current_time(value).date_time.to_datetime()
            except (ProtocolError, ValueError):
                when = None
            if when is None:
                raise ATT_Error(CTS_DATA_FIELD_IGNORED)
            self.clock.set(when)

        properties = Characteristic.Properties.READ | Characteristic.Properties.NOTIFY
        if writable:
            properties |= Characteristic.Properties.WRITE
        current_time: Characteristic[bytes] = Characteristic(
            UUID.from_16_bits(ble_time.CURRENT_TIME_UUID),
            properties,
            self.permissions(read=True, write=writable),
            CharacteristicValue(read=read, write=write),
        )
        current_time.descriptors = [self.cccd(current_time)]
        return Service(UUID.from_16_bits(CURRENT_TIME_SERVICE), [current_time])

    def device_information_service(self, model: str) -> Service:
        """Device Information (0x180A): who made the simulated device."""
        return Service(
            UUID.from_16_bits(DEVICE_INFORMATION_SERVICE),
            [
                self.readable(0x2A29, MANUFACTURER.encode()),
                self.readable(0x2A24, model.encode()),
                self.readable(0x2A25, self.address.replace(":", "").encode()),
            ],
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.address}>"
