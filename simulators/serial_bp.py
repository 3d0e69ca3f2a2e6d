"""Serial blood-pressure monitors on a pty.

- ``AccutorrSimulator`` (``datascope.accutorr``): request-driven. It greets with the
  banner and ``>``; every ``P`` is answered with the patient-data line. Until the cuff
  cycle ends the line carries the previous patient's reading (``minutes since NIBP`` > 0);
  the first ``P`` starts the cycle (the nurse pressed Start), which ends after
  ``measure_s``, then the fresh reading has ``minutes since NIBP`` = 0.
- ``UA767Simulator`` (``and.ua767``): push. After ``measure_s`` it sends a PBT packet
  (60-byte header + data section) and waits for the host's ``PWA1``; without it, it
  resends up to ``resends`` times, as A&D devices do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from cart import wallclock
from cart.protocols import and_ua767, datascope_accutorr
from simulators.faults import Fault
from simulators.pty_simulator import PtySimulator

__all__ = ["AccutorrSimulator", "BPConfig", "UA767Simulator"]


@dataclass(frozen=True, slots=True)
class BPConfig:
    systolic: int = 128
    diastolic: int = 82
    pulse: int = 72
    #: seconds of cuff inflation/deflation before the result exists (~30 s in real life)
    measure_s: float = 30.0
    fault: Fault = Fault.NONE
    #: the device clock's error against the cart's (stored-record/clock-skew drills)
    clock_skew_s: float = 0.0
    resends: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.diastolic <= self.systolic <= 300:
            raise ValueError("need 0 < diastolic <= systolic <= 300")
        if not 0 < self.pulse < 300:
            raise ValueError("pulse must be between 1 and 299")
        if self.measure_s < 0:
            raise ValueError("measure_s must not be negative")

    @property
    def mean_arterial_pressure(self) -> int:
        return round(self.diastolic + (self.systolic - self.diastolic) / 3)

    @classmethod
    def fast(cls, **kwargs: object) -> BPConfig:
        base: dict[str, object] = {"measure_s": 0.05}
        base.update(kwargs)
        return cls(**base)  # type: ignore[arg-type]


class AccutorrSimulator(PtySimulator[BPConfig]):
    #: what the monitor shows before the cycle: the previous patient's reading
    PREVIOUS: ClassVar[tuple[int, int, int, int]] = (141, 93, 109, 80)

    async def _run(self) -> None:
        cfg = self.config
        if cfg.fault is Fault.SILENCE:
            await asyncio.Event().wait()
        await self._pty.write(datascope_accutorr.BANNER + b"\r\n" + datascope_accutorr.PROMPT)
        loop = asyncio.get_running_loop()
        cycle_ends: float | None = None
        polls = 0
        while not self._pty.closed:
            request = await self._pty.read(64, timeout=1.0)
            for byte in request:
                if bytes([byte]) == datascope_accutorr.COMMAND_PROMPT:
                    await self._pty.write(datascope_accutorr.PROMPT)
                    continue
                if bytes([byte]) != datascope_accutorr.COMMAND_PATIENT_DATA:
                    continue
                polls += 1
                if cycle_ends is None:
                    cycle_ends = loop.time() + cfg.measure_s
                if cfg.fault is Fault.UNPLUG and polls >= 2:
                    self._pty.close()
                    return
                if loop.time() >= cycle_ends:
                    line = datascope_accutorr.encode_patient_data(
                        systolic=None if cfg.fault is Fault.OVERLOAD else cfg.systolic,
                        diastolic=None if cfg.fault is Fault.OVERLOAD else cfg.diastolic,
                        mean_arterial_pressure=(
                            None if cfg.fault is Fault.OVERLOAD else cfg.mean_arterial_pressure
                        ),
                        pulse_rate=None if cfg.fault is Fault.OVERLOAD else cfg.pulse,
                        minutes_since_nibp=0,
                    )
                else:
                    sys_, dia, mean, pulse = self.PREVIOUS
                    line = datascope_accutorr.encode_patient_data(
                        systolic=sys_,
                        diastolic=dia,
                        mean_arterial_pressure=mean,
                        pulse_rate=pulse,
                        minutes_since_nibp=12,
                    )
                await self._pty.write(self.apply_fault(line) + datascope_accutorr.PROMPT)


class UA767Simulator(PtySimulator[BPConfig]):
    """Pushes one reading per cycle; ``packets_sent`` and ``acks`` count the dialogue."""

    def __init__(self, config: BPConfig) -> None:
        super().__init__(config)
        self.packets_sent = 0
        self.acks = 0

    def packet(self) -> bytes:
        cfg = self.config
        measured = wallclock.now().replace(microsecond=0) + timedelta(seconds=cfg.clock_skew_s)
        data = and_ua767.encode_data(
            cfg.systolic,
            cfg.diastolic,
            cfg.pulse,
            cfg.mean_arterial_pressure,
            valid=cfg.fault is not Fault.OVERLOAD,
        )
        return and_ua767.encode_packet(data, measured_at=measured)

    async def _run(self) -> None:
        cfg = self.config
        if cfg.fault is Fault.SILENCE:
            await asyncio.Event().wait()
        await asyncio.sleep(cfg.measure_s)
        packet = self.packet()
        for _ in range(cfg.resends + 1):
            if cfg.fault is Fault.UNPLUG:
                await self._pty.write(packet[: len(packet) // 2])
                self._pty.close()
                return
            await self._pty.write(self.apply_fault(packet))
            self.packets_sent += 1
            answer = await self._pty.read(16, timeout=max(0.2, min(2.0, cfg.measure_s * 4)))
            if and_ua767.ACK in answer:
                self.acks += 1
                break
        await asyncio.Event().wait()  # a real cuff then sleeps until the next cycle
