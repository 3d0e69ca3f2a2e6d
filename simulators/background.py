"""A simulated cart on its own event loop in a background thread.

`cart serve --simulate` with a scenario uses it: the service (uvicorn) owns the main
loop, the simulators run beside it, and the service reaches them exactly as it reaches
`cart simulate` in another process: ptys and Modbus by path, Bluetooth over the HCI
TCP transport. Nothing is shared between the two loops but file descriptors and sockets.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from simulators.scenario import Scenario
from simulators.world import SimulatedCart

__all__ = ["BackgroundCart"]


class BackgroundCart:
    """``cart = BackgroundCart(scenario, fast=True).start(devices_file)``; ``cart.stop()``."""

    def __init__(self, scenario: Scenario, *, fast: bool) -> None:
        self.cart = SimulatedCart(fast=fast, scenario=scenario, hci_tcp=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulators")

    def start(self, devices_file: Path, timeout_s: float = 60.0) -> BackgroundCart:
        """Start the simulators and write their devices.toml (raises what start raised)."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self.cart.start(), self._loop)
        try:
            future.result(timeout_s)
        except BaseException:
            self.stop()
            raise
        self.cart.write_devices_file(devices_file)
        return self

    @property
    def ble_transport(self) -> str | None:
        return self.cart.ble_transport

    def stop(self, timeout_s: float = 15.0) -> None:
        if self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self.cart.stop(), self._loop)
            try:
                future.result(timeout_s)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout_s)
        if not self._loop.is_running():
            self._loop.close()
