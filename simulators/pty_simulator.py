"""The life cycle every pty-based device simulator shares: a pty, a task, faults, start/stop."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import random
from typing import Generic, Protocol, Self, TypeVar

from simulators.faults import Fault, corrupt, noise
from simulators.pty_port import PtyPort

__all__ = ["PtySimulator", "SimulatorConfig"]


class SimulatorConfig(Protocol):
    @property
    def fault(self) -> Fault: ...
    @property
    def seed(self) -> int: ...


C = TypeVar("C", bound=SimulatorConfig)


class PtySimulator(abc.ABC, Generic[C]):
    """Runs ``_run()`` as a task on a fresh pty; ``port`` is the path a driver opens."""

    def __init__(self, config: C) -> None:
        self.config = config
        self._pty = PtyPort()
        self._task: asyncio.Task[None] | None = None
        self._rng = random.Random(config.seed)

    @property
    def port(self) -> str:
        return self._pty.path

    @abc.abstractmethod
    async def _run(self) -> None:
        """The device's behaviour: stream, or answer requests, until cancelled."""

    def apply_fault(self, frame: bytes, *, terminator: bytes = b"") -> bytes:
        """The frame as the configured wire fault delivers it (noise, corruption, truncation).

        With a ``terminator`` a truncated frame still ends with it, so the receiver sees a
        short line rather than a frame that never ends.
        """
        fault = self.config.fault
        if fault is Fault.NOISE:
            return noise(self._rng) + frame
        if fault in (Fault.BROKEN_FRAME, Fault.CHECKSUM):
            return corrupt(frame, self._rng)
        if fault is Fault.TRUNCATED:
            body = frame.removesuffix(terminator) if terminator else frame
            return body[: len(body) // 2] + terminator
        return frame

    async def start(self) -> Self:
        self._task = asyncio.create_task(self._run(), name=f"{type(self).__name__} {self.port}")
        return self

    async def stop(self) -> None:
        self._pty.close()  # first: a task blocked on the pty returns at once
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
