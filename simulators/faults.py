"""Fault injection shared by the serial simulators."""

from __future__ import annotations

import random
from enum import StrEnum

__all__ = ["Fault", "corrupt", "noise"]


class Fault(StrEnum):
    NONE = "none"
    NOISE = "noise"
    """Random bytes between frames (EMI on the cable)."""
    BROKEN_FRAME = "broken_frame"
    """Every frame has a corrupted byte in its body."""
    TRUNCATED = "truncated"
    """Frames stop half-way (CR LF is still sent, so the line is short)."""
    CHECKSUM = "checksum"
    """Frames carry a wrong checksum (formats that have one)."""
    SILENCE = "silence"
    """The device sends nothing at all."""
    OVERLOAD = "overload"
    """The device reports out of range instead of a value."""
    UNPLUG = "unplug"
    """The cable is pulled out part-way through (the pty closes)."""


def noise(rng: random.Random, max_len: int = 12) -> bytes:
    """Random bytes without CR/LF, so they never terminate a frame by themselves."""
    return bytes(
        rng.choice([b for b in range(256) if b not in (0x0A, 0x0D)])
        for _ in range(rng.randint(1, max_len))
    )


def corrupt(frame: bytes, rng: random.Random) -> bytes:
    """Replace one byte of the frame body (never the CR LF terminator)."""
    body = bytearray(frame.rstrip(b"\r\n"))
    if not body:
        return frame
    i = rng.randrange(len(body))
    body[i] = rng.choice(b"#?*@!~")
    return bytes(body) + frame[len(body) :]
