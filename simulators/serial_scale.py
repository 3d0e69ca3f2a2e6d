"""A streaming serial scale on a pty.

Formats:
- ``and.weighing`` and ``indicator.st_gs``: like a real indicator in stream mode, a line
  per display update: a few unstable lines while the patient settles, then stable
  lines while they stand still, over and over.
- ``tanita.line``: a scale + height-rod station (WB-3000 style) that prints one line
  with weight, height and BMI per measurement, followed ~0.1 s later by the
  "irrelevant signal" byte its manual tells hosts to ignore.

Faults come from :class:`simulators.faults.Fault`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cart.protocols import and_weighing, indicator_st_gs, tanita_line
from simulators.faults import Fault
from simulators.pty_simulator import PtySimulator

__all__ = ["ScaleConfig", "SerialScaleSimulator"]


FORMATS = ("and.weighing", "indicator.st_gs", "tanita.line")


@dataclass(frozen=True, slots=True)
class ScaleConfig:
    weight_kg: float = 72.4
    format: str = "and.weighing"
    #: tanita.line stations also measure height
    height_cm: float = 165.0
    #: unstable lines before the reading settles
    unstable_frames: int = 4
    #: stable lines sent before the cycle starts again
    stable_frames: int = 10
    #: seconds between lines (A&D stream mode is ~10 lines/s; settling ~3 s in all)
    interval_s: float = 0.3
    decimals: int = 2
    fault: Fault = Fault.NONE
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.weight_kg < 1_000_000:
            raise ValueError("weight_kg must be between 0 and 999999")
        if self.unstable_frames < 0 or self.stable_frames < 1:
            raise ValueError("unstable_frames must be >= 0 and stable_frames >= 1")
        if self.interval_s < 0:
            raise ValueError("interval_s must not be negative")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        if not 40 <= self.height_cm <= 250:
            raise ValueError("height_cm must be between 40 and 250")
        if self.format == "tanita.line" and self.fault is Fault.OVERLOAD:
            raise ValueError("tanita.line has no over-range marker: overload cannot be sent")

    @classmethod
    def fast(cls, **kwargs: object) -> ScaleConfig:
        base: dict[str, object] = {"interval_s": 0.01, "unstable_frames": 3}
        base.update(kwargs)
        return cls(**base)  # type: ignore[arg-type]


class SerialScaleSimulator(PtySimulator[ScaleConfig]):
    """Runs a :class:`ScaleConfig` on a fresh pty; ``port`` is the path drivers open."""

    def __init__(self, config: ScaleConfig | None = None) -> None:
        super().__init__(config or ScaleConfig())
        self.frames_sent = 0

    def frames(self) -> list[bytes]:
        """One settle-and-hold cycle of lines, before faults."""
        cfg = self.config
        if cfg.format == "tanita.line":
            return [self._tanita()]
        if cfg.fault is Fault.OVERLOAD:
            return [self._line(None, "OL")] * cfg.stable_frames
        lines = []
        for i in range(cfg.unstable_frames):
            # approach the final weight from below, as a patient stepping on does
            partial = cfg.weight_kg * (0.6 + 0.4 * (i + 1) / (cfg.unstable_frames + 1))
            lines.append(self._line(partial, "US"))
        lines.extend([self._line(cfg.weight_kg, "ST")] * cfg.stable_frames)
        return lines

    def _line(self, value: float | None, status: str) -> bytes:
        cfg = self.config
        if cfg.format == "indicator.st_gs":
            return indicator_st_gs.encode(value, "kg", status=status, decimals=cfg.decimals)
        return and_weighing.encode(value, "kg", header=status, decimals=cfg.decimals)

    def _tanita(self) -> bytes:
        cfg = self.config
        height_m = cfg.height_cm / 100
        bmi = round(cfg.weight_kg / (height_m * height_m), 1)
        return tanita_line.encode(
            weight=cfg.weight_kg, height=cfg.height_cm, bmi=bmi, model="WB-3000", junk=b"\x00"
        )

    async def _run(self) -> None:
        cfg = self.config
        if cfg.fault is Fault.SILENCE:
            await asyncio.Event().wait()
        while not self._pty.closed:
            for frame in self.frames():
                if cfg.fault is Fault.UNPLUG and cfg.format == "tanita.line":
                    # one line per measurement: the cable comes out half-way through it
                    await self._pty.write(frame[: len(frame) // 2])
                    await asyncio.sleep(cfg.interval_s * max(1, cfg.unstable_frames))
                    self._pty.close()
                    return
                await self._pty.write(self.apply_fault(frame, terminator=b"\r\n"))
                self.frames_sent += 1
                if cfg.fault is Fault.UNPLUG and self.frames_sent >= cfg.unstable_frames:
                    self._pty.close()
                    return
                await asyncio.sleep(cfg.interval_s)
