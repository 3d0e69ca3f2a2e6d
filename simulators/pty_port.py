"""A real pseudo-terminal pair standing in for a serial cable.

The simulator keeps the master side; drivers open the slave path (``/dev/pts/N``)
with pyserial exactly as they would open ``/dev/ttyUSB0``. Both ends are put in raw
mode so CR, LF and control bytes pass untouched. The simulator also holds the slave
side open, so the port exists even while no driver has it open; "unplugging" closes
everything, and a driver reading the port then sees an I/O error, as with a USB
adapter pulled out.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import tty

__all__ = ["PtyPort"]


class PtyPort:
    """The master end of a pty, with non-blocking async write and read."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        for fd in (self._master, self._slave):
            tty.setraw(fd, termios.TCSANOW)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def write(self, data: bytes) -> None:
        """Write everything, waiting while the tty buffer is full; drop data after unplug."""
        view = memoryview(data)
        while view and not self._closed:
            try:
                sent = os.write(self._master, view)
            except BlockingIOError:
                await asyncio.sleep(0.005)
                continue
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    return
                raise
            view = view[sent:]

    async def read(self, max_bytes: int = 4096, timeout: float | None = None) -> bytes:
        """Bytes the driver wrote, or b"" on timeout or after unplug (event-driven, no polling)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._closed:
            try:
                return os.read(self._master, max_bytes)
            except BlockingIOError:
                pass
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    return b""
                raise
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return b""
            readable: asyncio.Future[None] = loop.create_future()

            def wake(fut: asyncio.Future[None] = readable) -> None:
                if not fut.done():
                    fut.set_result(None)

            loop.add_reader(self._master, wake)
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
                # lands as the read completes, and then a simulator's stop() waits forever
                async with asyncio.timeout(remaining):
                    await readable
            except TimeoutError:
                return b""
            finally:
                if not self._closed:
                    loop.remove_reader(self._master)
        return b""

    def discard_input(self) -> None:
        """Throw away what the driver wrote (e.g. stale commands)."""
        with contextlib.suppress(OSError):
            termios.tcflush(self._master, termios.TCIFLUSH)

    def close(self) -> None:
        """Unplug: close both ends. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError, ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
