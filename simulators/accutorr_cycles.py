"""A Datascope Accutorr on a pty that runs one cuff cycle per driver session.

The project's ``simulators.serial_bp.AccutorrSimulator`` runs a single cycle per start.
Averaging needs the nurse to start the cuff again for each reading, so this test
simulator (same wire format, built from the protocol's public encoder, on a real
pty, read by the real ``AccutorrDriver``) starts a new cycle at the first ``P`` after
a reading was delivered, and reports the next of its scripted readings when the
cycle ends.
"""

from __future__ import annotations

import asyncio
import contextlib

from cart.protocols import datascope_accutorr as acc
from simulators.pty_port import PtyPort

__all__ = ["CycleCuff"]

#: what the monitor shows before the first cycle: the previous patient's reading
PREVIOUS = (141, 93, 109, 80)


class CycleCuff:
    """``readings`` are (systolic, diastolic, mean, pulse); one per cuff cycle."""

    def __init__(self, readings: list[tuple[int, int, int, int]], polls_per_cycle: int = 3):
        self.readings = readings
        self.polls_per_cycle = polls_per_cycle
        self.pty = PtyPort()
        self.cycles = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> str:
        return self.pty.path

    def _line(self, values: tuple[int, int, int, int], minutes: int) -> bytes:
        sys_, dia, mean, pulse = values
        return acc.encode_patient_data(
            systolic=sys_,
            diastolic=dia,
            mean_arterial_pressure=mean,
            pulse_rate=pulse,
            minutes_since_nibp=minutes,
        )

    async def _run(self) -> None:
        await self.pty.write(acc.BANNER + b"\r\n" + acc.PROMPT)
        shown = PREVIOUS
        polls = 0  # P requests in the current cycle; 0 = no cycle running
        while not self.pty.closed:
            for byte in await self.pty.read(64, timeout=1.0):
                if bytes([byte]) == acc.COMMAND_PROMPT:
                    await self.pty.write(acc.PROMPT)
                    continue
                if bytes([byte]) != acc.COMMAND_PATIENT_DATA:
                    continue
                polls += 1
                if polls < self.polls_per_cycle:  # the cuff is still inflating/deflating
                    line = self._line(shown, minutes=1)
                else:
                    index = min(self.cycles, len(self.readings) - 1)
                    shown = self.readings[index]
                    self.cycles += 1
                    polls = 0  # the next P is the nurse starting a new cycle
                    line = self._line(shown, minutes=0)
                await self.pty.write(line + acc.PROMPT)

    async def __aenter__(self) -> CycleCuff:
        self._task = asyncio.create_task(self._run(), name="cycle-cuff")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.pty.close()
