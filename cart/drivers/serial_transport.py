"""Serial transport: pyserial ports and URLs with exclusive open and read deadlines.

Ports are opened with :func:`serial.serial_for_url`, so a device path
(``/dev/ttyUSB0``, ``/dev/serial/by-id/usb-FTDI_...``, a pty ``/dev/pts/3``) and pyserial
URLs (``loop://``, ``socket://host:port``, ``rfc2217://``, ``hwgrep://067b:2303``) all work.
pyserial is blocking; each read runs in a worker thread with a short pyserial timeout
(``POLL_S``) and loops until the caller's deadline, so a cancelled reading stops within
``POLL_S`` and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import errno
from dataclasses import dataclass
from typing import Literal

import serial

from cart.errors import ConnectionLost, DeviceBusy, DeviceNotFound, DeviceTimeout

__all__ = ["POLL_S", "SerialSettings", "SerialTransport"]

try:  # pyserial's posix flush() lets termios.error (not an OSError) escape on unplug
    import termios

    _TERMIOS_ERRORS: tuple[type[Exception], ...] = (termios.error,)
except ImportError:  # pragma: no cover - Windows
    _TERMIOS_ERRORS = ()
_WRITE_ERRORS: tuple[type[Exception], ...] = (serial.SerialException, OSError, *_TERMIOS_ERRORS)

#: longest a single blocking pyserial read may take before the loop checks the deadline
POLL_S = 0.05

Parity = Literal["N", "E", "O", "M", "S"]


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings of one device (the device manual's "communication specifications")."""

    baudrate: int = 9600
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    xonxoff: bool = False
    rtscts: bool = False
    #: some cables power their level shifter from DTR/RTS (e.g. LifeScan, TaiDoc)
    dtr: bool | None = None
    rts: bool | None = None
    exclusive: bool = True

    def __post_init__(self) -> None:
        if self.baudrate <= 0:
            raise ValueError("baudrate must be positive")
        if self.parity not in ("N", "E", "O", "M", "S"):
            raise ValueError(f"unknown parity {self.parity!r}")


class SerialTransport:
    """One open serial port. Use as an async context manager."""

    def __init__(
        self,
        url: str,
        settings: SerialSettings | None = None,
        *,
        device_id: str | None = None,
        role: str | None = None,
    ) -> None:
        self.url = url
        self.settings = settings or SerialSettings()
        self._device_id = device_id
        self._role = role
        self._port: serial.SerialBase | None = None
        self._io_lock = asyncio.Lock()
        self._pending = bytearray()  # bytes read past what read_exactly asked for

    @property
    def is_open(self) -> bool:
        return self._port is not None and bool(self._port.is_open)

    def _errors(self) -> dict[str, str | None]:
        return {"device_id": self._device_id, "role": self._role}

    async def open(self) -> None:
        await asyncio.to_thread(self._open_blocking)

    def _open_blocking(self) -> None:
        s = self.settings
        try:
            port = serial.serial_for_url(
                self.url,
                do_not_open=True,
                baudrate=s.baudrate,
                bytesize=s.bytesize,
                parity=s.parity,
                stopbits=s.stopbits,
                xonxoff=s.xonxoff,
                rtscts=s.rtscts,
                timeout=POLL_S,
                write_timeout=2.0,
            )
            if s.exclusive and isinstance(port, serial.Serial):
                port.exclusive = True
            if s.dtr is not None:
                port.dtr = s.dtr
            if s.rts is not None:
                port.rts = s.rts
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self._open_error(exc) from exc
        port.reset_input_buffer()  # drop what the device streamed while nobody listened
        self._port = port

    def _open_error(self, exc: Exception) -> DeviceNotFound | DeviceBusy:
        err = getattr(exc, "errno", None)
        text = str(exc)
        if err in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text:
            return DeviceBusy(f"serial port {self.url} is in use: {text}", **self._errors())
        return DeviceNotFound(self.url, **self._errors())

    async def close(self) -> None:
        async with self._io_lock:  # never close under a read running in a worker thread
            port, self._port = self._port, None
            if port is not None:
                await asyncio.to_thread(port.close)

    async def write(self, data: bytes, *, discard_input: bool = False) -> None:
        """Send ``data`` and wait until it has left (one worker-thread hop).

        With ``discard_input`` whatever the device sent before this write is thrown away
        first: on a request/response link those bytes can only be a late or partial answer
        to an earlier request, never the answer to this one.
        """
        port = self._require_open()
        async with self._io_lock:
            if discard_input:
                self._pending.clear()
            try:
                await asyncio.to_thread(_send, port, data, discard_input)
            except _WRITE_ERRORS as exc:
                raise ConnectionLost(
                    f"write to {self.url} failed: {exc}", **self._errors()
                ) from exc

    async def read_some(self, deadline: float) -> bytes:
        """Whatever bytes arrive before ``deadline`` (loop time); b"" when none did."""
        port = self._require_open()
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            return data
        loop = asyncio.get_running_loop()
        while True:
            async with self._io_lock:
                try:
                    waiting = int(getattr(port, "in_waiting", 0))
                    data = await asyncio.to_thread(port.read, max(1, waiting))
                except (serial.SerialException, OSError) as exc:
                    raise ConnectionLost(
                        f"serial port {self.url} failed while reading: {exc}", **self._errors()
                    ) from exc
            if data:
                return data
            if loop.time() >= deadline:
                return b""

    async def read_exactly(self, n: int, timeout: float) -> bytes:
        """Exactly ``n`` bytes or DeviceTimeout (request/response devices)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        buf = bytearray()
        while len(buf) < n:
            chunk = await self.read_some(deadline)
            if not chunk:
                raise DeviceTimeout(
                    f"{self.url}: got {len(buf)} of {n} bytes within {timeout:g} s",
                    timeout_s=timeout,
                    **self._errors(),
                )
            buf += chunk
        self._pending[:0] = buf[n:]
        return bytes(buf[:n])

    def _require_open(self) -> serial.SerialBase:
        if self._port is None:
            raise ConnectionLost(f"serial port {self.url} is not open", **self._errors())
        return self._port

    async def __aenter__(self) -> SerialTransport:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _send(port: serial.SerialBase, data: bytes, discard_input: bool) -> None:
    if discard_input:
        port.reset_input_buffer()  # type: ignore[attr-defined]  # every port class has it
    port.write(data)
    port.flush()
