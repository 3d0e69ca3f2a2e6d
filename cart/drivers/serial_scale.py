"""Scales (and scale + height-rod stations) that stream lines over serial.

Supported formats: any stream decoder that yields :class:`~cart.protocols.base.Decoded`
frames with a ``body_weight`` measurement (``and.weighing`` today; ``indicator.st_gs`` and
``tanita.line`` plug in the same way). Expected device path: a USB-serial adapter such as
``/dev/serial/by-id/usb-FTDI_FT232R_...-if00-port0`` or a pyserial URL.

The driver opens the port (exclusively), discards what was streamed before, and reads
until it sees a *stable* weight of at least ``min_weight_kg`` (an empty platform shows
0.00 kg, also stable). Unstable weights are reported as progress. Bad frames are
skipped (the stream resynchronises at the next CR LF); too many in a row means a
wrong baud rate or a damaged cable and is reported as such.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cart.devices import DeviceConfig
from cart.drivers.base import (
    DeviceInfo,
    Driver,
    Progress,
    ProgressCallback,
    ProgressStage,
    RawFrame,
    RecordCheck,
    emit,
    no_progress,
)
from cart.drivers.serial_transport import SerialSettings, SerialTransport
from cart.errors import ConfigError, DeviceReportedError, DeviceTimeout, ProtocolError
from cart.measurement import Measurement, MeasurementKind
from cart.protocols import and_weighing, indicator_st_gs, tanita_line
from cart.protocols.base import Decoded, NeedData

__all__ = [
    "ScaleOptions",
    "SerialScaleDriver",
    "StreamDecoder",
    "build_and_weighing",
    "build_indicator",
    "build_tanita",
]


class StreamDecoder(Protocol):
    """What the driver needs from a protocol's stream decoder."""

    def feed(self, data: bytes) -> None: ...
    def next_frame(self) -> Decoded | NeedData: ...


@dataclass(frozen=True, slots=True)
class ScaleOptions:
    timeout_s: float = 30.0
    """How long to wait for a stable reading (the patient may need to step on)."""
    min_weight_kg: float = 2.0
    """Below this the platform is considered empty."""
    max_bad_frames: int = 20
    """Consecutive undecodable frames before giving up (wrong baud rate, bad cable)."""
    silence_s: float = 5.0
    """No byte at all for this long means the scale is off or unplugged."""


class SerialScaleDriver(Driver):
    def __init__(
        self,
        info: DeviceInfo,
        decoder_factory: Callable[[], StreamDecoder],
        *,
        serial_settings: SerialSettings | None = None,
        options: ScaleOptions | None = None,
    ) -> None:
        super().__init__(info)
        self._decoder_factory = decoder_factory
        self._serial_settings = serial_settings or SerialSettings()
        self.options = options or ScaleOptions()

    def _transport(self) -> SerialTransport:
        return SerialTransport(
            self.info.address,
            self._serial_settings,
            device_id=self.device_id,
            role=self.info.role,
        )

    async def measure(
        self, progress: ProgressCallback = no_progress, check: RecordCheck | None = None
    ) -> list[Measurement]:
        self.last_raw = []
        await emit(progress, Progress(ProgressStage.CONNECTING, self.device_id, "opening port"))
        async with self._transport() as link:
            await emit(progress, Progress(ProgressStage.WAITING, self.device_id, "waiting"))
            frame = await self._read_stable(link, progress)
        self.last_raw = [RawFrame(frame.protocol, frame.raw)]
        measurements = list(frame.measurements)
        await emit(progress, Progress(ProgressStage.DONE, self.device_id, "stable weight"))
        return measurements

    async def _read_stable(self, link: SerialTransport, progress: ProgressCallback) -> Decoded:
        opts = self.options
        loop = asyncio.get_running_loop()
        deadline = loop.time() + opts.timeout_s
        decoder = self._decoder_factory()
        bad_in_row = 0
        frames_seen = 0
        last_byte_at = loop.time()
        while True:
            now = loop.time()
            if now >= deadline or now - last_byte_at >= opts.silence_s:
                raise self._timeout(frames_seen, silent=now - last_byte_at >= opts.silence_s)
            chunk = await link.read_some(min(deadline, last_byte_at + opts.silence_s))
            if not chunk:
                continue
            last_byte_at = loop.time()
            decoder.feed(chunk)
            while True:
                try:
                    frame = decoder.next_frame()
                except ProtocolError as exc:
                    bad_in_row += 1
                    if bad_in_row >= opts.max_bad_frames:
                        raise DeviceReportedError(
                            f"{bad_in_row} undecodable frames in a row, last: {exc.message}",
                            advice_es=(
                                "La báscula envía datos ilegibles: revise el cable y la "
                                "velocidad configurada, y presione Reintentar"
                            ),
                            device_id=self.device_id,
                            role=self.info.role,
                        ) from exc
                    continue
                if isinstance(frame, NeedData):
                    break
                bad_in_row = 0
                frames_seen += 1
                weight = _weight(frame)
                if weight is None:
                    continue
                if weight.special is not None or "overload" in weight.flags:
                    raise DeviceReportedError(
                        "scale reports out of range (overload)",
                        advice_es=(
                            "La báscula marca sobrecarga o fuera de rango: pida al paciente "
                            "bajar, espere el cero y presione Reintentar"
                        ),
                        device_id=self.device_id,
                        role=self.info.role,
                    )
                assert weight.value is not None
                if "unstable" in weight.flags or weight.value < opts.min_weight_kg:
                    await emit(
                        progress,
                        Progress(ProgressStage.PROGRESS, self.device_id, "settling", weight),
                    )
                    continue
                return frame

    def _timeout(self, frames_seen: int, *, silent: bool) -> DeviceTimeout:
        if frames_seen == 0 or silent:
            return DeviceTimeout(
                f"no data from the scale on {self.info.address}",
                timeout_s=self.options.timeout_s,
                device_id=self.device_id,
                role=self.info.role,
            )
        return DeviceTimeout(
            f"no stable weight within {self.options.timeout_s:g} s ({frames_seen} frames seen)",
            timeout_s=self.options.timeout_s,
            device_id=self.device_id,
            role=self.info.role,
            advice_es=(
                "La báscula no se estabiliza: pida al paciente quedarse quieto en el centro "
                "y presione Reintentar"
            ),
        )


def _weight(frame: Decoded) -> Measurement | None:
    for m in frame.measurements:
        if m.kind is MeasurementKind.BODY_WEIGHT:
            return m
    return None


def _builder(stream_factory: Callable[[], StreamDecoder]) -> Callable[..., SerialScaleDriver]:
    def build(cfg: DeviceConfig, info: DeviceInfo, **_: Any) -> SerialScaleDriver:
        from cart.drivers.factory import serial_settings

        opts = cfg.options
        try:
            options = ScaleOptions(
                timeout_s=cfg.timeout_s,
                min_weight_kg=float(opts.get("min_weight_kg", 2.0)),
                silence_s=float(opts.get("silence_s", min(5.0, cfg.timeout_s))),
                max_bad_frames=int(opts.get("max_bad_frames", 20)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"device {cfg.id!r}: bad scale options: {exc}") from exc
        return SerialScaleDriver(
            info, stream_factory, serial_settings=serial_settings(cfg), options=options
        )

    return build


build_and_weighing = _builder(and_weighing.WeighingStream)
build_indicator = _builder(indicator_st_gs.IndicatorStream)
build_tanita = _builder(tanita_line.TanitaStream)
