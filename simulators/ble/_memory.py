"""A Bluetooth scale or cuff with a memory of readings it indicates when the cart subscribes.

Real devices of both kinds keep what they measured while no host was listening and send
it, oldest first, as soon as a host subscribes to the measurement characteristic; then
the new reading. One implementation for both, so they replay and fail alike.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from bumble.device import Connection
from bumble.gatt import Characteristic
from bumble.link import LocalLink

from simulators.ble._peripheral import BlePeripheral
from simulators.ble.config import BleFault, DeviceOptions

__all__ = ["MemoryPeripheral"]


class _Stored(Protocol):
    @property
    def age(self) -> timedelta: ...


R = TypeVar("R", bound=_Stored)


class MemoryPeripheral(BlePeripheral, Generic[R]):
    """Subclasses build ``self._measurement`` (subscribed to :meth:`_on_subscription`) in
    ``build_services`` and implement :meth:`measurement_value` and :meth:`_measure`."""

    _measurement: Characteristic[bytes]

    def __init__(
        self,
        link: LocalLink,
        options: DeviceOptions,
        stored: Sequence[R],
        *,
        replay_memory: bool,
        service_uuids: Sequence[int],
    ) -> None:
        super().__init__(link, options, service_uuids=service_uuids)
        self._measuring: set[Connection] = set()
        self._replay_memory = replay_memory
        #: every measurement value indicated (what a driver should have decoded)
        self.sent: list[bytes] = []
        #: stored readings not yet transferred, with their device-clock time stamps
        self.memory: list[tuple[datetime, R]] = sorted(
            ((self.clock.now() - r.age, r) for r in stored), key=lambda item: item[0]
        )

    @abc.abstractmethod
    def measurement_value(self, stored: R | None = None, when: datetime | None = None) -> bytes:
        """The reading the device reports now, or the one of a ``stored`` record."""

    @abc.abstractmethod
    async def _measure(self, connection: Connection, number: int) -> None:
        """Memory first, then a new reading, on the ``number``-th connection."""

    def _on_subscription(self, connection: Connection, _notify: bool, indicate: bool) -> None:
        if indicate and connection not in self._measuring:
            self._measuring.add(connection)
            self.spawn(self._measure(connection, self.connections_seen), connection=connection)

    def on_disconnected(self, connection: Connection) -> None:
        self._measuring.discard(connection)

    async def _send_memory(self, connection: Connection, fault: BleFault) -> bool:
        """Indicate the stored readings, oldest first; False when the link dropped."""
        for index, (when, record) in enumerate(list(self.memory)):
            if fault is BleFault.DISCONNECT_MID_TRANSFER and index >= 1:
                await self.disconnect(connection)
                return False
            value = self.measurement_value(record, when)
            self.sent.append(value)
            if not await self.indicate(connection, self._measurement, value):
                return False
            if not self._replay_memory:
                self.memory.remove((when, record))
        return True
