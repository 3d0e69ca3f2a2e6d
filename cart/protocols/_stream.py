"""Bounded receive buffer and delimiter-based stream decoding (h11's ReceiveBuffer idea).

Serial devices stream frames separated by a terminator (CR LF) or framed by start/end
bytes. :class:`LineStream` buffers fed bytes, hands out complete frames one at a time,
returns ``NEED_DATA`` when none is complete, and raises :class:`BufferOverflow` when more
than ``max_buffer`` bytes arrive without a terminator (after discarding them, so the
stream resynchronises at the next terminator). :class:`FrameStream` can also drop noise
in front of a frame on the same line (``resync``: a pattern for the start of a frame).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from cart.errors import BufferOverflow, ProtocolError
from cart.protocols.base import NEED_DATA, NeedData

__all__ = ["FrameStream", "LineStream"]

T = TypeVar("T")


class LineStream:
    """Splits a byte stream into frames ending with ``terminator`` (terminator stripped)."""

    def __init__(
        self, terminator: bytes = b"\r\n", *, max_buffer: int = 256, protocol: str | None = None
    ) -> None:
        if not terminator:
            raise ValueError("terminator must not be empty")
        self._buf = bytearray()
        self._terminator = terminator
        self._max = max_buffer
        self._protocol = protocol
        self._scan_from = 0

    @property
    def buffered(self) -> int:
        """Bytes held that do not form a complete frame yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_line(self) -> bytes | NeedData:
        """The next complete line without its terminator, or NEED_DATA."""
        idx = self._buf.find(self._terminator, self._scan_from)
        if idx < 0:
            if len(self._buf) > self._max:
                raw = bytes(self._buf)
                self._buf.clear()
                self._scan_from = 0
                raise BufferOverflow(self._max, protocol=self._protocol, raw=raw[:64])
            # Next search only needs to look at the tail that could start a terminator.
            self._scan_from = max(0, len(self._buf) - len(self._terminator) + 1)
            return NEED_DATA
        line = bytes(self._buf[:idx])
        del self._buf[: idx + len(self._terminator)]
        self._scan_from = 0
        return line


class FrameStream(Generic[T]):
    """A line stream plus a per-frame decoder: ``feed`` bytes, iterate decoded frames.

    Decode errors are raised for the offending frame only; the buffer has already moved
    past it, so the caller may log the error and keep reading (resynchronisation).

    ``skip(line)`` true drops a line unseen (default: blank lines). ``resync``, a pattern
    for the start of a frame, drops everything before its LAST match on a line before
    decoding (noise bytes, a prompt, or a frame cut short by the next one); a line without
    a match is decoded whole.
    """

    def __init__(
        self,
        decode: Callable[[bytes], T],
        terminator: bytes = b"\r\n",
        *,
        max_buffer: int = 256,
        protocol: str | None = None,
        skip: Callable[[bytes], bool] | None = None,
        resync: re.Pattern[bytes] | None = None,
    ) -> None:
        self._lines = LineStream(terminator, max_buffer=max_buffer, protocol=protocol)
        self._decode = decode
        self._skip = skip or (lambda line: not line.strip())
        self._resync = resync

    @property
    def buffered(self) -> int:
        return self._lines.buffered

    def feed(self, data: bytes) -> None:
        self._lines.feed(data)

    def next_frame(self) -> T | NeedData:
        """The next decoded frame, NEED_DATA, or a ProtocolError for a bad frame."""
        while True:
            line = self._lines.next_line()
            if isinstance(line, NeedData):
                return NEED_DATA
            if self._skip(line):
                continue
            if self._resync is not None:
                line = _from_last_match(self._resync, line)
            return self._decode(line)

    def frames(self) -> Iterator[T | ProtocolError]:
        """Every complete frame now buffered; bad frames are yielded as their error."""
        while True:
            try:
                frame = self.next_frame()
            except ProtocolError as exc:
                yield exc
                continue
            if isinstance(frame, NeedData):
                return
            yield frame


def _from_last_match(pattern: re.Pattern[bytes], line: bytes) -> bytes:
    """``line`` from the start of the last match of ``pattern`` on it (whole if none)."""
    start = 0
    for match in pattern.finditer(line):
        start = match.start()
    return line[start:] if start else line
