"""The cart's drivers and the Bluetooth radio they share, swappable while the service runs.

The lifespan builds the first :class:`DeviceManager` here; the technician's reload builds
the next one from the saved ``devices.toml`` and swaps it in (:meth:`DeviceRig.reload`)
only while no measuring run exists, neither in the app's registry nor as an active row
in the store. The radio is opened once, when a BLE device or a Bluetooth scan first
needs it, and stays open until shutdown, so a reload never drops a bond or a link
another part of the service holds.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from typing import Any

from cart.config import Settings
from cart.device_setup import active_runs
from cart.devices import DeviceConfig
from cart.drivers.radio import ble_backend
from cart.store import Store
from service.device_manager import DeviceManager
from service.runs import RunRegistry

__all__ = ["DeviceRig", "MeasuringNow"]

log = logging.getLogger(__name__)


class MeasuringNow(Exception):
    """A measuring run exists: drivers are not swapped under it."""

    def __init__(self, runs: int) -> None:
        super().__init__(f"{runs} measuring run(s) active")
        self.runs = runs


class DeviceRig:
    def __init__(self, settings: Settings, *, link: Any = None) -> None:
        """``link``: the simulated cart's bumble link (``cart serve --simulate``)."""
        self._settings = settings
        self._link = link
        self._radio: AsyncExitStack | None = None
        self._extras: dict[str, Any] = {}
        #: one technician operation (test reading, reload) at a time
        self.busy = asyncio.Lock()

    async def radio(self) -> dict[str, Any]:
        """Driver keyword arguments with the Bluetooth backend, opening the radio if needed."""
        if self._radio is None:
            from cart.drivers.ble import BleSettings

            stack = AsyncExitStack()
            backend = await stack.enter_async_context(
                ble_backend(
                    link=self._link,
                    transport=self._settings.ble_transport,
                    keystore=f"JsonKeyStore:{self._settings.ble_keystore}",
                )
            )
            fast = self._settings.simulate and self._settings.fast_simulators
            self._extras = {"backend": backend, "settings": BleSettings.fast() if fast else None}
            self._radio = stack
        return self._extras

    def driver_extra(self) -> dict[str, Any]:
        """What :func:`cart.drivers.factory.build_driver` takes besides the entry."""
        return {
            **self._extras,
            "set_clocks": self._settings.set_device_clocks,
            "clock_skew_s": self._settings.clock_skew_s,
        }

    async def build(self, configs: list[DeviceConfig]) -> DeviceManager:
        if any(c.transport == "ble" for c in configs):
            await self.radio()  # nothing Bluetooth is imported for a cart without BLE
        return DeviceManager(
            configs,
            set_clocks=self._settings.set_device_clocks,
            clock_skew_s=self._settings.clock_skew_s,
            **self._extras,
        )

    async def reload(
        self, configs: list[DeviceConfig], current: DeviceManager, runs: RunRegistry, store: Store
    ) -> DeviceManager:
        """A manager for ``configs`` to put in place of ``current``; MeasuringNow if a run
        exists. The caller swaps it in before its next ``await``."""
        active = await asyncio.to_thread(active_runs, store)
        if active or runs.busy_devices():
            raise MeasuringNow(active or len(runs.busy_devices()))
        fresh = await self.build(configs)
        if runs.busy_devices():  # a run started while the drivers were built
            await fresh.close()
            raise MeasuringNow(len(runs.busy_devices()))
        return fresh

    @staticmethod
    async def retire(old: DeviceManager, runs: RunRegistry) -> None:
        """Close the replaced drivers once no run can still be using them.

        A run whose request passed its checks just before the swap holds the old drivers:
        wait for it to end (its reading is stored as usual) before closing them.
        """
        tasks = [
            run.task
            for screening_id in set(runs.busy_devices().values())
            if (run := runs.get(screening_id)) is not None and run.task is not None
        ]
        if tasks:
            await asyncio.wait(tasks)  # never raises: a cancelled run is simply done
        await old.close()

    async def close(self) -> None:
        if self._radio is not None:
            await self._radio.aclose()
            self._radio = None
