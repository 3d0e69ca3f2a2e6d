"""Serial blood-pressure monitors.

Supported:
- Datascope/Mindray Accutorr (``datascope.accutorr``): RS-232 PC interface, request-driven.
  The driver sends ``P`` every ``poll_s`` and takes the first reading whose "minutes
  since NIBP" is 0 and that differs from what the monitor showed when the driver
  started (the previous patient's reading must never be taken for this patient).
- A&D UA-767PBT class (``and.ua767``): the monitor pushes a PBT packet when a cycle ends
  (over Bluetooth SPP it appears as ``/dev/rfcomm0``); the driver acknowledges with
  ``PWA1`` so the monitor does not resend. A packet never acknowledged (the cart was off)
  is sent again on the next connection: every packet goes through the record check, and
  a refused one is acknowledged, skipped (kept in ``last_raw``) and the driver waits for
  the fresh one until its deadline, then raises ``ReadingRefused``.

Expected device path: ``/dev/serial/by-id/...`` for a USB-RS232 adapter, or
``/dev/rfcomm0`` for SPP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from cart.devices import DeviceConfig
from cart.drivers.base import (
    DeviceInfo,
    Driver,
    Progress,
    ProgressCallback,
    ProgressStage,
    RawFrame,
    ReadingRefused,
    RecordCheck,
    Refusal,
    emit,
    no_progress,
    screen_record,
)
from cart.drivers.serial_transport import SerialSettings, SerialTransport
from cart.errors import ConfigError, DeviceReportedError, DeviceTimeout, ProtocolError
from cart.measurement import Measurement, MeasurementKind
from cart.protocols import and_ua767, datascope_accutorr
from cart.protocols.base import Decoded, NeedData

__all__ = ["AccutorrDriver", "BPOptions", "UA767Driver", "build_accutorr", "build_ua767"]

BP_KINDS = (MeasurementKind.SYSTOLIC_PRESSURE, MeasurementKind.DIASTOLIC_PRESSURE)
#: consecutive undecodable replies before the cable or settings are blamed
MAX_BAD_FRAMES = 10


@dataclass(frozen=True, slots=True)
class BPOptions:
    timeout_s: float = 90.0
    """A full cuff cycle takes 30-60 s; leave room for the nurse to start it."""
    poll_s: float = 1.0
    reply_s: float = 2.0
    """How long a request-driven monitor may take to answer one command."""


def _advice_unreadable() -> str:
    return (
        "El baumanómetro envía datos ilegibles: revise el cable y la velocidad "
        "configurada, y presione Reintentar"
    )


def _has_pressure(frame: Decoded) -> bool:
    kinds = {m.kind for m in frame.measurements if m.value is not None}
    return all(k in kinds for k in BP_KINDS)


class _SerialBPDriver(Driver):
    def __init__(
        self,
        info: DeviceInfo,
        *,
        serial_settings: SerialSettings | None = None,
        options: BPOptions | None = None,
    ) -> None:
        super().__init__(info)
        self._serial_settings = serial_settings or SerialSettings()
        self.options = options or BPOptions()

    def _transport(self) -> SerialTransport:
        return SerialTransport(
            self.info.address, self._serial_settings, device_id=self.device_id, role=self.info.role
        )

    def _timeout(self, message: str, advice: str | None = None) -> DeviceTimeout:
        return DeviceTimeout(
            message,
            timeout_s=self.options.timeout_s,
            device_id=self.device_id,
            role=self.info.role,
            advice_es=advice,
        )

    def _unreadable(self, exc: ProtocolError, count: int) -> DeviceReportedError:
        return DeviceReportedError(
            f"{count} undecodable replies in a row, last: {exc.message}",
            device_id=self.device_id,
            role=self.info.role,
            advice_es=_advice_unreadable(),
        )

    def _invalid_reading(self) -> DeviceReportedError:
        return DeviceReportedError(
            "the monitor reported a cycle without a valid pressure",
            device_id=self.device_id,
            role=self.info.role,
            advice_es=(
                "El baumanómetro no obtuvo una lectura válida: revise la colocación del "
                "brazalete y repita la medición"
            ),
        )


class AccutorrDriver(_SerialBPDriver):
    async def measure(
        self, progress: ProgressCallback = no_progress, check: RecordCheck | None = None
    ) -> list[Measurement]:
        self.last_raw = []
        await emit(progress, Progress(ProgressStage.CONNECTING, self.device_id, "opening port"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout_s
        async with self._transport() as link:
            stream = datascope_accutorr.AccutorrStream()
            baseline = await self._poll(link, stream, deadline)
            if baseline is None:
                raise self._timeout(f"no answer to 'P' from {self.info.address}")
            await emit(progress, Progress(ProgressStage.WAITING, self.device_id, "cuff cycle"))
            while loop.time() < deadline:
                await asyncio.sleep(self.options.poll_s)
                frame = await self._poll(link, stream, deadline)
                if frame is None:
                    raise self._timeout(f"the monitor on {self.info.address} stopped answering")
                if frame.record.get("minutes_since_nibp") != 0:
                    continue
                unchanged = frame.record == baseline.record
                if unchanged and baseline.record.get("minutes_since_nibp") == 0:
                    continue  # the monitor still shows a reading taken before we started
                if not _has_pressure(frame):
                    raise self._invalid_reading()
                self.last_raw = [RawFrame(frame.protocol, frame.raw)]
                await emit(progress, Progress(ProgressStage.DONE, self.device_id, "reading"))
                return list(frame.measurements)
        raise self._timeout(
            f"no new reading within {self.options.timeout_s:g} s",
            "El baumanómetro no terminó la medición: inicie el ciclo en el equipo y presione "
            "Reintentar",
        )

    async def _poll(
        self, link: SerialTransport, stream: datascope_accutorr.AccutorrStream, deadline: float
    ) -> Decoded | None:
        """Send ``P`` and return the patient-data reply (None when the monitor is silent)."""
        loop = asyncio.get_running_loop()
        bad = 0
        last_error: ProtocolError | None = None
        await link.write(datascope_accutorr.COMMAND_PATIENT_DATA)
        reply_by = min(deadline, loop.time() + self.options.reply_s)
        while True:
            try:
                frame = stream.next_frame()
            except ProtocolError as exc:
                bad += 1
                last_error = exc
                if bad >= MAX_BAD_FRAMES:
                    raise self._unreadable(exc, bad) from exc
                continue
            if isinstance(frame, NeedData):
                chunk = await link.read_some(reply_by)
                if not chunk:
                    if last_error is not None:  # it answered, but nothing was readable
                        raise self._unreadable(last_error, bad) from last_error
                    return None
                stream.feed(chunk)
                continue
            if frame.record.get("command") == "P":
                return frame


class UA767Driver(_SerialBPDriver):
    #: the monitor resends an unacknowledged reading (from its memory) on the next link
    keeps_records = True

    async def measure(
        self, progress: ProgressCallback = no_progress, check: RecordCheck | None = None
    ) -> list[Measurement]:
        self.last_raw = []
        await emit(progress, Progress(ProgressStage.CONNECTING, self.device_id, "opening port"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout_s
        refusal: Refusal | None = None
        async with self._transport() as link:
            await emit(progress, Progress(ProgressStage.WAITING, self.device_id, "cuff cycle"))
            stream = and_ua767.UA767Stream()
            bad = 0
            while True:
                chunk = await link.read_some(deadline)
                if not chunk:
                    if refusal is not None:
                        raise ReadingRefused(refusal, device_id=self.device_id, role=self.info.role)
                    raise self._timeout(
                        f"no packet from {self.info.address} within {self.options.timeout_s:g} s"
                    )
                stream.feed(chunk)
                while True:
                    try:
                        frame = stream.next_frame()
                    except ProtocolError as exc:
                        await link.write(and_ua767.NAK)
                        bad += 1
                        if bad >= MAX_BAD_FRAMES:
                            raise self._unreadable(exc, bad) from exc
                        continue
                    if isinstance(frame, NeedData):
                        break
                    await link.write(and_ua767.ACK)
                    if not frame.record.get("valid", True) or not _has_pressure(frame):
                        raise self._invalid_reading()
                    self.last_raw.append(RawFrame(frame.protocol, frame.raw))
                    refusal = screen_record(frame.measurements, self.info.user_id, check, None)
                    if refusal is not None:
                        continue  # acknowledged, so it is not sent again; wait for a fresh one
                    await emit(progress, Progress(ProgressStage.DONE, self.device_id, "reading"))
                    return list(frame.measurements)


def _options(cfg: DeviceConfig) -> BPOptions:
    try:
        return BPOptions(
            timeout_s=cfg.timeout_s,
            poll_s=float(cfg.options.get("poll_s", 1.0)),
            reply_s=float(cfg.options.get("reply_s", 2.0)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"device {cfg.id!r}: bad blood-pressure options: {exc}") from exc


def build_accutorr(cfg: DeviceConfig, info: DeviceInfo, **_: Any) -> AccutorrDriver:
    from cart.drivers.factory import serial_settings

    return AccutorrDriver(info, serial_settings=serial_settings(cfg), options=_options(cfg))


def build_ua767(cfg: DeviceConfig, info: DeviceInfo, **_: Any) -> UA767Driver:
    from cart.drivers.factory import serial_settings

    return UA767Driver(info, serial_settings=serial_settings(cfg), options=_options(cfg))
