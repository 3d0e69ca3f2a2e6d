"""A null-modem cable between two pseudo-terminals, with a hand on the wire.

Some simulators need to *open a port by path* themselves (pymodbus' serial server
does), while the driver opens another path. Two pty pairs joined by this bridge give
each side its own ``/dev/pts/N``, like two USB adapters wired back to back (what
``socat pty,raw pty,raw`` does, without the extra package). Bytes from the device side
to the host side pass through ``manipulate`` so faults can be injected on the wire:
noise, corrupted bytes, dropped answers, or pulling the cable out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from simulators.pty_port import PtyPort

__all__ = ["PtyBridge"]

#: device->host bytes in, bytes to deliver out (b"" drops them)
Manipulator = Callable[[bytes], bytes]


class PtyBridge:
    """``device_path`` is opened by the simulated device, ``host_path`` by the driver."""

    def __init__(self, manipulate: Manipulator | None = None) -> None:
        self._device = PtyPort()
        self._host = PtyPort()
        self.manipulate: Manipulator = manipulate or (lambda data: data)
        self._tasks: list[asyncio.Task[None]] = []
        #: bytes the device sent, in order (before manipulation): handy in tests
        self.device_to_host = bytearray()
        self.host_to_device = bytearray()

    @property
    def device_path(self) -> str:
        return self._device.path

    @property
    def host_path(self) -> str:
        return self._host.path

    @property
    def unplugged(self) -> bool:
        return self._host.closed

    async def start(self) -> PtyBridge:
        self._tasks = [
            asyncio.create_task(self._pump(self._device, self._host, True), name="bridge d->h"),
            asyncio.create_task(self._pump(self._host, self._device, False), name="bridge h->d"),
        ]
        return self

    async def _pump(self, src: PtyPort, dst: PtyPort, from_device: bool) -> None:
        while not (src.closed or dst.closed):
            data = await src.read(4096, timeout=0.5)
            if not data:
                continue
            if from_device:
                self.device_to_host += data
                data = self.manipulate(data)
            else:
                self.host_to_device += data
            if data:
                await dst.write(data)

    def unplug(self) -> None:
        """Pull the cable out: the driver's port starts failing with I/O errors."""
        self._host.close()

    async def stop(self) -> None:
        # close first: a pump blocked on a read then returns at once, whatever the cancel does
        self._device.close()
        self._host.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def __aenter__(self) -> PtyBridge:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
