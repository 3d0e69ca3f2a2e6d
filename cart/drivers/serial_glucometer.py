"""Serial glucometers: download the stored records and read (or set) the meter clock.

Supported (one driver class per family, sharing :class:`SerialGlucometerDriver`):

============================  ==================  ==========================================
driver id                     class               dialogue
============================  ==================  ==========================================
``onetouch.ultra2``           Ultra2Driver        ``DMF`` clock, ``DMP`` dump (9600 8N1)
``onetouch.ultraeasy``        UltraEasyDriver     link reset, clock, serial, count, record i
                                                  (binary link layer with ACKs, 9600 8N1)
``taidoc.td42xx``             TD42xxDriver        connect, model, clock, count, time/value i
                                                  (8-byte frames, 19200 8N1, ``cp2110://``)
``freestyle.optium``          OptiumDriver        ``$colq`` (clock), ``$xmem`` (19200 8N1)
``contour.astm``              ContourDriver       the meter sends: ENQ, numbered frames
                                                  (ACK/NAK each), EOT (9600 8N1)
============================  ==================  ==========================================

Expected device path: ``/dev/serial/by-id/usb-Prolific_...`` for the LifeScan cable, the
Abbott or Bayer cable's by-id path, or ``cp2110://`` for TaiDoc.

What every driver does in ``measure()``:

- Opens the port, runs the family's dialogue with a deadline around every read
  (``reply_s``, restarted whenever bytes arrive) inside an overall ``timeout_s``, and
  retries a request at most ``retries`` times after a missing, damaged (checksum) or
  incomplete reply. Replies that keep failing raise ``DeviceReportedError``; a meter that
  never answers raises ``DeviceTimeout``; a cable pulled mid-download raises
  ``ConnectionLost``. Nothing partial is ever returned.
- Reads the meter clock at connect (Contour: the header's time, when it sends one) into
  :attr:`Driver.last_clock`; when it differs from the cart's by more than
  ``clock_skew_s`` every returned reading is also flagged ``clock_skew`` and carries
  ``context["clock_skew_s"]`` (meter minus cart, seconds). Timestamps stay as the meter
  wrote them.
- Sets the meter clock to the cart's only when the device's ``set_clock`` says so (the
  ``set_device_clocks`` setting by default) and the family has a command for it (Ultra 2
  ``DMT``, UltraEasy, TaiDoc, Optium ``$tim``; not Contour). The clock check keeps the
  time read *before* the set, because every stored record was stamped by that clock;
  ``set_to`` says what was written.
- Returns every stored patient record, oldest first (repeats within a download
  de-duplicated, control-solution results left out). Which record belongs to the
  screening, and which were seen before, is decided by the caller's record memory, the
  same after a restart as in a running cart: nothing here remembers past downloads.
  With ``require_new`` (default) a meter holding no patient reading raises
  ``DeviceReportedError`` ("haga la medición").
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Final, Protocol, TypeVar

from cart import wallclock
from cart.devices import DeviceConfig
from cart.drivers.base import (
    DeviceInfo,
    Driver,
    Progress,
    ProgressCallback,
    ProgressStage,
    RawFrame,
    RecordCheck,
    clock_check,
    emit,
    no_progress,
)
from cart.drivers.serial_transport import SerialSettings, SerialTransport
from cart.errors import (
    ConfigError,
    ConnectionLost,
    DeviceError,
    DeviceReportedError,
    DeviceTimeout,
    ProtocolError,
    UnsupportedMessage,
)
from cart.measurement import DeviceIdentity, Measurement, MeasurementKind
from cart.protocols import (
    contour_astm,
    freestyle_optium,
    onetouch_ultra2,
    onetouch_ultraeasy,
    taidoc_td42xx,
)
from cart.protocols.base import Decoded, NeedData

__all__ = [
    "ContourDriver",
    "GlucometerOptions",
    "OptiumDriver",
    "SerialGlucometerDriver",
    "TD42xxDriver",
    "Ultra2Driver",
    "UltraEasyDriver",
    "build_contour",
    "build_optium",
    "build_td42xx",
    "build_ultra2",
    "build_ultraeasy",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

CLOCK_SKEW_FLAG: Final = "clock_skew"
CONTROL_SOLUTION_FLAG: Final = "control_solution"

NO_NEW_RECORDS_ES: Final = (
    "El glucómetro no tiene mediciones nuevas: haga la medición y presione Reintentar"
)
#: the meter clock is set only when it is off by more than this (minute-resolution clocks)
CLOCK_SET_MIN_S: Final = 60.0
UNREADABLE_ES: Final = (
    "El glucómetro envía datos dañados o incompletos: revise que el cable esté bien "
    "conectado en ambos extremos y presione Reintentar"
)
LOST_ES: Final = (
    "El glucómetro se desconectó durante la descarga: vuelva a conectar el cable y "
    "presione Reintentar (no se guardó ninguna medición parcial)"
)
REFUSED_ES: Final = "El glucómetro rechazó la descarga: apáguelo, enciéndalo y presione Reintentar"


@dataclass(frozen=True, slots=True)
class GlucometerOptions:
    timeout_s: float = 30.0
    """The whole download (Contour: including the wait for the meter to start sending)."""
    reply_s: float = 1.0
    """Longest silence accepted while a reply is due."""
    retries: int = 3
    """Repeats of one request after a missing or damaged reply."""
    clock_skew_s: float = 300.0
    """Flag readings when the meter clock differs from the cart's by more than this."""
    max_records: int = 1000
    """Most records read from an index-addressed meter in one download."""
    require_new: bool = True

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.reply_s <= 0:
            raise ValueError("timeout_s and reply_s must be positive")
        if self.retries < 0:
            raise ValueError("retries must not be negative")
        if self.clock_skew_s <= 0:
            raise ValueError("clock_skew_s must be positive")
        if self.max_records < 1:
            raise ValueError("max_records must be at least 1")


class _Stream(Protocol):
    @property
    def buffered(self) -> int: ...

    def feed(self, data: bytes) -> None: ...

    def next_frame(self) -> Decoded | NeedData: ...


@dataclass(frozen=True, slots=True)
class _Reading:
    """One stored record: its glucose measurement and the raw frames behind it."""

    measurement: Measurement
    measured_at: datetime
    frames: tuple[RawFrame, ...]

    @classmethod
    def of(cls, decoded: Decoded, frames: tuple[RawFrame, ...] | None = None) -> list[_Reading]:
        raw = frames if frames is not None else (RawFrame(decoded.protocol, decoded.raw),)
        return [
            cls(m, m.measured_at, raw)
            for m in decoded.measurements
            if m.kind is MeasurementKind.GLUCOSE and m.measured_at is not None
        ]

    @property
    def key(self) -> tuple[Any, ...]:
        m = self.measurement
        return (self.measured_at, m.value, m.special, m.flags, tuple(sorted(m.context.items())))

    @property
    def control_solution(self) -> bool:
        return CONTROL_SOLUTION_FLAG in self.measurement.flags


@dataclass(slots=True)
class _Download:
    readings: list[_Reading]
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None


class _Session:
    """One open port during one download: deadlines, the clock reading, the exchange loop."""

    def __init__(
        self, driver: SerialGlucometerDriver, link: SerialTransport, progress: ProgressCallback
    ) -> None:
        self.driver = driver
        self.link = link
        self.progress = progress
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + driver.options.timeout_s
        self.meter_clock: datetime | None = None
        self.clock_skew_s: float | None = None
        self.clock_frames: tuple[RawFrame, ...] = ()

    def reply_by(self) -> float:
        return min(self.loop.time() + self.driver.options.reply_s, self.deadline)

    def expired(self) -> bool:
        return self.loop.time() >= self.deadline

    async def write(self, data: bytes, *, discard_input: bool = False) -> None:
        if data:
            await self.link.write(data, discard_input=discard_input)

    async def read(self, by: float) -> bytes:
        """Bytes before ``by``; b"" at ``by`` and, once the whole download is overdue,
        always (a meter that never stops talking cannot hold the driver past its deadline).
        """
        if self.expired():
            return b""
        return await self.link.read_some(by)

    def note_clock(self, meter_clock: datetime, decoded: Decoded) -> None:
        """The meter clock, compared with the cart clock at the moment it arrived."""
        self.meter_clock = meter_clock
        self.clock_skew_s = (meter_clock - self.driver.clock()).total_seconds()
        self.clock_frames = (RawFrame(decoded.protocol, decoded.raw),)
        self.driver.last_clock = clock_check(meter_clock)

    def clock_to_set(self) -> datetime | None:
        """The cart's time to write to the meter, or None (not allowed, or close enough)."""
        if not self.driver.info.set_clock or self.clock_skew_s is None:
            return None
        if abs(self.clock_skew_s) < CLOCK_SET_MIN_S:
            return None
        return self.driver.clock().replace(microsecond=0)

    def clock_set(self, when: datetime) -> None:
        """The meter accepted ``when``: the clock check says so (its reading stays)."""
        if self.driver.last_clock is not None:
            self.driver.last_clock = replace(self.driver.last_clock, set_to=when)
        _log.info("%s: meter clock set to %s", self.driver.device_id, when.isoformat())

    async def records_progress(self, done: int, total: int | None = None) -> None:
        detail: dict[str, int] = {"records": done}
        if total is not None:
            detail["total"] = total
        await emit(
            self.progress,
            Progress(
                ProgressStage.PROGRESS, self.driver.device_id, "stored records", detail=detail
            ),
        )

    async def exchange(
        self,
        request: bytes,
        new_stream: Callable[[], _Stream],
        new_collector: Callable[[], Callable[[Decoded], T | None]],
        what: str,
    ) -> T:
        """Send ``request`` and feed the reply frames to a collector until it has a result.

        A damaged frame is noted and reading goes on (a good copy may follow); when the
        meter falls silent for ``reply_s`` without a result the request is sent again,
        with a fresh stream, at most ``retries`` times.

        Every request, first or repeated, goes out on an emptied input buffer: whatever
        the meter sent before it (the rest of a damaged or cut-off reply, a late answer to
        the try that timed out) is dropped, so the reply read is this request's. Without
        that, a late answer meant for the previous request is read as this one's (TaiDoc
        replies carry no record index) and the stale bytes of a cut-off frame run into
        the next reply.
        """
        driver = self.driver
        last_error: ProtocolError | None = None
        garbled = False
        for _attempt in range(driver.options.retries + 1):
            stream = new_stream()
            collect = new_collector()
            await self.write(request, discard_input=True)
            by = self.reply_by()
            while True:
                try:
                    frame = stream.next_frame()
                except ProtocolError as exc:
                    _log.info("%s: bad frame in %s: %s", driver.device_id, what, exc.message)
                    last_error = exc
                    continue
                if isinstance(frame, NeedData):
                    chunk = await self.read(by)
                    if not chunk:
                        garbled = garbled or stream.buffered > 0
                        break
                    stream.feed(chunk)
                    by = self.reply_by()
                    continue
                if _is_echo(frame):
                    continue
                result = collect(frame)
                if result is not None:
                    return result
            if self.expired():
                raise driver.overdue(what)
        if last_error is not None or garbled:
            raise driver.unreadable(what, last_error)
        raise driver.timeout(what)


def _is_echo(frame: Decoded) -> bool:
    """A command line or frame the cable echoed back (the host's own bytes)."""
    record = frame.record
    return record.get("message") == "command" or record.get("direction") == "host_to_meter"


def _first(accept: Callable[[Decoded], bool]) -> Callable[[], Callable[[Decoded], Decoded | None]]:
    """A collector factory for one-frame replies: the first frame ``accept`` likes."""

    def new() -> Callable[[Decoded], Decoded | None]:
        def collect(frame: Decoded) -> Decoded | None:
            return frame if accept(frame) else None

        return collect

    return new


class SerialGlucometerDriver(Driver):
    """Shared download, de-duplication and clock check.

    ``SerialGlucometerDriver(info, serial_settings=..., options=..., clock=wallclock.now)``;
    subclasses implement :meth:`_download`.
    """

    #: every meter keeps its results in memory and a download sends all of them again
    keeps_records = True

    protocol: ClassVar[str] = ""
    manufacturer: ClassVar[str | None] = None
    model: ClassVar[str | None] = None
    default_baudrate: ClassVar[int] = 9600
    #: how to put the meter in transfer mode, for the nurse
    transfer_hint_es: ClassVar[str] = "que el glucómetro esté en modo de transferencia"

    def __init__(
        self,
        info: DeviceInfo,
        *,
        serial_settings: SerialSettings | None = None,
        options: GlucometerOptions | None = None,
        clock: Callable[[], datetime] = wallclock.now,
    ) -> None:
        super().__init__(info)
        self._serial_settings = serial_settings or SerialSettings(baudrate=self.default_baudrate)
        self.options = options or GlucometerOptions()
        self.clock = clock
        #: meter minus cart clock at the last complete download (None: not read)
        self.last_clock_skew_s: float | None = None

    # ------------------------------------------------------------------ errors

    def make_error(
        self, cls: type[DeviceError], message: str, advice: str | None = None
    ) -> DeviceError:
        if cls is DeviceTimeout:
            return DeviceTimeout(
                message,
                timeout_s=self.options.reply_s,
                device_id=self.device_id,
                role=self.info.role,
                advice_es=advice,
            )
        return cls(message, device_id=self.device_id, role=self.info.role, advice_es=advice)

    def timeout(self, what: str) -> DeviceError:
        return self.make_error(
            DeviceTimeout,
            f"no answer from the meter on {self.info.address} ({what}) after "
            f"{self.options.retries + 1} tries",
            f"El glucómetro no responde: revise el cable y {self.transfer_hint_es}, y "
            "presione Reintentar",
        )

    def overdue(self, what: str) -> DeviceError:
        return self.make_error(
            DeviceTimeout,
            f"the download from {self.info.address} did not finish within "
            f"{self.options.timeout_s:g} s (at: {what})",
            "El glucómetro tarda demasiado en enviar sus datos: revise el cable, presione "
            "Reintentar y, si tiene muchas mediciones guardadas, pida al técnico aumentar "
            "el tiempo de espera",
        )

    def unreadable(self, what: str, error: ProtocolError | None) -> DeviceError:
        detail = error.message if error is not None else "incomplete frames"
        return self.make_error(
            DeviceReportedError,
            f"unreadable replies from the meter ({what}) after "
            f"{self.options.retries + 1} tries, last: {detail}",
            UNREADABLE_ES,
        )

    def refused(self, what: str) -> DeviceError:
        return self.make_error(
            DeviceReportedError, f"the meter refused the request ({what})", REFUSED_ES
        )

    # ------------------------------------------------------------------ measure

    def _transport(self) -> SerialTransport:
        return SerialTransport(
            self.info.address, self._serial_settings, device_id=self.device_id, role=self.info.role
        )

    async def measure(
        self, progress: ProgressCallback = no_progress, check: RecordCheck | None = None
    ) -> list[Measurement]:
        self.last_raw = []
        self.last_clock = None
        await emit(progress, Progress(ProgressStage.CONNECTING, self.device_id, "opening port"))
        try:
            async with self._transport() as link:
                session = _Session(self, link, progress)
                await emit(
                    progress,
                    Progress(ProgressStage.WAITING, self.device_id, "downloading stored records"),
                )
                download = await self._download(session)
        except ConnectionLost as exc:
            if exc.advice_override is not None:
                raise
            raise ConnectionLost(
                exc.message, device_id=self.device_id, role=self.info.role, advice_es=LOST_ES
            ) from exc
        except ProtocolError as exc:  # a decoder refused a frame the link layer accepted
            raise self.unreadable("records", exc) from exc
        measurements, raw = self._finish(session, download)
        self.last_raw = raw
        await emit(
            progress,
            Progress(
                ProgressStage.DONE,
                self.device_id,
                "new readings",
                detail={"readings": len(measurements)},
            ),
        )
        return measurements

    @abc.abstractmethod
    async def _download(self, s: _Session) -> _Download:
        """The family's dialogue: clock, records; every read under the session's deadline."""

    def _finish(self, s: _Session, d: _Download) -> tuple[list[Measurement], list[RawFrame]]:
        unique: dict[tuple[Any, ...], _Reading] = {}
        for reading in d.readings:
            unique.setdefault(reading.key, reading)
        patient = sorted(
            (r for r in unique.values() if not r.control_solution), key=lambda r: r.measured_at
        )
        self.last_clock_skew_s = s.clock_skew_s
        if not patient and self.options.require_new:
            raise self.make_error(
                DeviceReportedError, "no patient readings on the meter", NO_NEW_RECORDS_ES
            )
        skewed = s.clock_skew_s is not None and abs(s.clock_skew_s) > self.options.clock_skew_s
        identity = DeviceIdentity(
            self.device_id,
            d.manufacturer or self.manufacturer,
            d.model or self.model,
            d.serial_number,
        )
        measurements: list[Measurement] = []
        raw: list[RawFrame] = list(s.clock_frames)
        seen = set(raw)
        for reading in patient:
            m = reading.measurement.with_device(identity)
            if skewed and s.clock_skew_s is not None:
                m = replace(
                    m.with_flags(CLOCK_SKEW_FLAG),
                    context={**m.context, "clock_skew_s": f"{s.clock_skew_s:.0f}"},
                )
            measurements.append(m)
            for frame in reading.frames:
                if frame not in seen:
                    seen.add(frame)
                    raw.append(frame)
        return measurements, raw


# --------------------------------------------------------------------------- OneTouch Ultra 2


class _Ultra2Dump:
    """Collects the ``DMP`` answer: the header, then as many records as it announced."""

    def __init__(self) -> None:
        self.header: Decoded | None = None
        self.records: list[Decoded] = []

    def __call__(self, frame: Decoded) -> tuple[Decoded, list[Decoded]] | None:
        message = frame.record.get("message")
        if message == "dump_header":
            self.header, self.records = frame, []
        elif message == "dump_record" and self.header is not None:
            self.records.append(frame)
        else:
            return None
        if len(self.records) >= int(self.header.record["number_of_records"]):
            return self.header, self.records
        return None


class Ultra2Driver(SerialGlucometerDriver):
    protocol = onetouch_ultra2.PROTOCOL_ID
    manufacturer = "LifeScan"
    model = "OneTouch Ultra 2"
    transfer_hint_es = "que el glucómetro esté apagado con el cable conectado (debe mostrar «PC»)"

    async def _download(self, s: _Session) -> _Download:
        ot = onetouch_ultra2
        clock = await s.exchange(
            ot.encode_command(ot.Command.READ_CLOCK),
            ot.Ultra2Stream,
            _first(lambda f: f.record.get("message") == "clock"),
            "meter clock",
        )
        s.note_clock(datetime.fromisoformat(clock.record["timestamp"]), clock)
        if (when := s.clock_to_set()) is not None:
            try:
                await s.exchange(
                    ot.encode_set_clock(when),
                    ot.Ultra2Stream,
                    _first(lambda f: f.record.get("message") == "clock_set"),
                    "set meter clock",
                )
                s.clock_set(when)
            except DeviceError as exc:  # best effort: the download matters more
                _log.warning("%s: could not set the meter clock: %s", self.device_id, exc)
        header, records = await s.exchange(
            ot.encode_command(ot.Command.DUMP), ot.Ultra2Stream, _Ultra2Dump, "stored records"
        )
        await s.records_progress(len(records), len(records))
        readings: list[_Reading] = []
        for record in records:
            if record.record.get("parity_error"):
                _log.warning("%s: record with a parity error skipped", self.device_id)
                continue
            readings.extend(_Reading.of(record))
        return _Download(readings, serial_number=header.record.get("serial_number"))


# --------------------------------------------------------------------------- UltraEasy


class UltraEasyDriver(SerialGlucometerDriver):
    protocol = onetouch_ultraeasy.PROTOCOL_ID
    manufacturer = "LifeScan"
    model = "OneTouch UltraEasy"
    transfer_hint_es = "que el glucómetro esté apagado con el cable conectado (debe mostrar «PC»)"

    async def _download(self, s: _Session) -> _Download:
        ue = onetouch_ultraeasy
        kind = ue.RequestKind
        link = ue.UltraEasyLink()
        stream = ue.UltraEasyStream()
        await self._transact(s, link, stream, None, None, "link reset")
        clock = await self._transact(
            s, link, stream, ue.request_read_clock(), kind.READ_CLOCK, "meter clock"
        )
        s.note_clock(datetime.fromisoformat(clock.record["timestamp"]), clock)
        if (when := s.clock_to_set()) is not None:
            await self._transact(
                s, link, stream, ue.request_set_clock(when), kind.SET_CLOCK, "set meter clock"
            )
            s.clock_set(when)
        serial = await self._transact(
            s, link, stream, ue.request_serial_number(), kind.SERIAL_NUMBER, "serial number"
        )
        counted = await self._transact(
            s, link, stream, ue.request_record_count(), kind.RECORD_COUNT, "record count"
        )
        count = min(int(counted.record["count"]), self.options.max_records)
        readings: list[_Reading] = []
        for index in range(count):
            decoded = await self._transact(
                s, link, stream, ue.request_record(index), kind.READ_RECORD, f"record {index}"
            )
            readings.extend(_Reading.of(decoded))
            await s.records_progress(index + 1, count)
        return _Download(readings, serial_number=serial.record.get("serial_number") or None)

    async def _transact(
        self,
        s: _Session,
        link: onetouch_ultraeasy.UltraEasyLink,
        stream: onetouch_ultraeasy.UltraEasyStream,
        message: bytes | None,
        kind: onetouch_ultraeasy.RequestKind | None,
        what: str,
    ) -> Decoded:
        """One request (None: link reset) and its response, over the ACKed link layer.

        Until the meter acknowledges the request it is resent (same sequence bit, so the
        meter knows it is a repeat); once acknowledged, the meter resends its response
        itself until we acknowledge it, so the driver only waits.
        """
        ue = onetouch_ultraeasy
        packet = link.disconnect() if message is None else link.send(message)
        await s.write(packet)
        acked = False
        last_error: ProtocolError | None = None
        garbled = False
        for attempt in range(self.options.retries + 1):
            if attempt and not acked:
                await s.write(link.resend())
            by = s.reply_by()
            while True:
                frame = stream.next_packet()
                if isinstance(frame, NeedData):
                    chunk = await s.read(by)
                    if not chunk:
                        garbled = garbled or stream.buffered > 0
                        break
                    stream.feed(chunk)
                    by = s.reply_by()
                    continue
                if message is not None and _is_disconnect_ack(frame):
                    continue  # a late answer to a repeated link reset: keep our sequence bits
                try:
                    event = link.receive(frame)
                except UnsupportedMessage:
                    continue  # e.g. a repeated ACK with nothing outstanding
                except ProtocolError as exc:
                    last_error = exc  # damaged packet: the meter will resend it
                    continue
                if isinstance(event, ue.DisconnectAcknowledged):
                    if message is None:
                        return ue.decode(frame)
                    continue
                if isinstance(event, ue.AckReceived):
                    acked = True
                    continue
                if isinstance(event, ue.DuplicateReceived):
                    await s.write(event.reply)  # our ACK was lost
                    continue
                if isinstance(event, ue.DisconnectReceived):
                    await s.write(event.reply)
                    raise self.refused(f"{what}: the meter reset the link")
                # MessageReceived: the response (it also acknowledges our request)
                await s.write(event.reply)
                if link.awaiting_ack:
                    link.awaiting_ack = False
                    link.send_sequence = not link.send_sequence
                if message is None:
                    continue
                decoded = ue.decode(frame, request=kind)
                if decoded.record.get("response") == "error":
                    raise self.refused(f"{what}: status 0x{decoded.record['status']:02X}")
                return decoded
            if s.expired():
                raise self.overdue(what)
        if last_error is not None or garbled:
            raise self.unreadable(what, last_error)
        raise self.timeout(what)


def _is_disconnect_ack(frame: bytes) -> bool:
    try:
        link = onetouch_ultraeasy.parse_packet(frame).link
    except ProtocolError:
        return False
    return link.disconnect and link.acknowledge


# --------------------------------------------------------------------------- TaiDoc


class TD42xxDriver(SerialGlucometerDriver):
    protocol = taidoc_td42xx.PROTOCOL_ID
    manufacturer = "TaiDoc"
    model = "TD-42xx"
    default_baudrate = 19200
    transfer_hint_es = "que el glucómetro esté encendido en modo de comunicación con la PC"

    async def _ask(
        self, s: _Session, request: bytes, commands: frozenset[int], what: str
    ) -> Decoded:
        def accept(frame: Decoded) -> bool:
            return (
                frame.record.get("direction") == "meter_to_host"
                and frame.record.get("command") in commands
            )

        return await s.exchange(request, taidoc_td42xx.TaiDocStream, _first(accept), what)

    async def _download(self, s: _Session) -> _Download:
        td = taidoc_td42xx
        C = td.Command
        await self._ask(s, td.request_connect(), td.CONNECT_REPLIES, "connect")
        model = await self._ask(s, td.request_model(), frozenset({C.MODEL}), "model")
        clock = await self._ask(s, td.request_read_clock(), frozenset({C.READ_CLOCK}), "clock")
        s.note_clock(datetime.fromisoformat(clock.record["timestamp"]), clock)
        if (when := s.clock_to_set()) is not None:
            try:
                await self._ask(
                    s, td.request_set_clock(when), frozenset({C.SET_CLOCK}), "set meter clock"
                )
                s.clock_set(when)
            except DeviceError as exc:  # best effort: the download matters more
                _log.warning("%s: could not set the meter clock: %s", self.device_id, exc)
        counted = await self._ask(
            s, td.request_record_count(), frozenset({C.RECORD_COUNT}), "record count"
        )
        count = min(int(counted.record["count"]), self.options.max_records)
        readings: list[_Reading] = []
        for index in range(count):
            stamp = await self._ask(
                s, td.request_record_time(index), frozenset({C.RECORD_TIME}), f"record {index}"
            )
            value = await self._ask(
                s, td.request_record_value(index), frozenset({C.RECORD_VALUE}), f"record {index}"
            )
            combined = td.combine_reading(stamp.raw, value.raw, index=index)
            readings.extend(_Reading.of(combined))
            await s.records_progress(index + 1, count)
        return _Download(readings, model=model.record.get("model"))


# --------------------------------------------------------------------------- FreeStyle Optium


class OptiumDriver(SerialGlucometerDriver):
    protocol = freestyle_optium.PROTOCOL_ID
    manufacturer = "Abbott"
    model = "FreeStyle Optium"
    default_baudrate = 19200
    transfer_hint_es = "que el glucómetro muestre «PC» (cable insertado en el puerto de tiras)"

    async def _download(self, s: _Session) -> _Download:
        fo = freestyle_optium
        info = await s.exchange(
            fo.encode_command("colq"),
            fo.OptiumStream,
            _first(lambda f: f.record.get("message") == "device_info"),
            "device information",
        )
        if info.record.get("clock"):
            s.note_clock(datetime.fromisoformat(info.record["clock"]), info)
        if (when := s.clock_to_set()) is not None:
            try:
                await s.exchange(
                    fo.encode_set_clock(when),
                    fo.OptiumStream,
                    _first(lambda f: f.record.get("message") == "command_ok"),
                    "set meter clock",
                )
                s.clock_set(when.replace(second=0))  # the meter keeps minutes only
            except DeviceError as exc:  # best effort: the download matters more
                _log.warning("%s: could not set the meter clock: %s", self.device_id, exc)
        dump = await s.exchange(
            fo.encode_command("xmem"),
            fo.OptiumStream,
            _first(lambda f: f.record.get("message") == "memory_dump"),
            "stored records",
        )
        await s.records_progress(len(dump.measurements), int(dump.record["number_of_records"]))
        frames = (RawFrame(dump.protocol, dump.raw),)
        readings = [
            _Reading(m, m.measured_at, frames)
            for m in dump.measurements
            if m.kind is MeasurementKind.GLUCOSE and m.measured_at is not None
        ]
        return _Download(readings, serial_number=info.record.get("serial_number"))


# --------------------------------------------------------------------------- Contour


class ContourDriver(SerialGlucometerDriver):
    """The meter sends; the driver answers each frame (ACK, or NAK for a damaged one).

    It waits up to ``timeout_s`` for the meter's ENQ, then at most ``reply_s`` for each
    following frame. A transfer that ends (EOT) before the terminator record, a frame
    still damaged after ``retries`` NAKs, or an undecodable record fails the download.
    """

    protocol = contour_astm.PROTOCOL_ID
    manufacturer = "Ascensia"
    model = "Contour"
    transfer_hint_es = "que el glucómetro esté enviando datos (conecte el cable al glucómetro)"

    async def _download(self, s: _Session) -> _Download:
        ca = contour_astm
        receiver = ca.ContourReceiver()
        established = False
        frames_seen = 0
        rejected = 0
        last_error: ProtocolError | None = None
        header: Decoded | None = None
        readings: list[_Reading] = []
        complete = False
        by = s.deadline
        while True:
            event = receiver.next_event()
            if isinstance(event, NeedData):
                chunk = await s.read(by)
                if not chunk:
                    if complete:
                        break  # the terminator came; the EOT did not
                    if not established:
                        raise self.make_error(
                            DeviceTimeout,
                            f"the meter on {self.info.address} did not start sending "
                            f"within {self.options.timeout_s:g} s",
                            "El glucómetro no envía sus datos: conecte el cable al glucómetro, "
                            "póngalo en modo de transferencia y presione Reintentar",
                        )
                    raise self.make_error(
                        DeviceTimeout,
                        f"the meter stopped sending after {frames_seen} frames",
                        "El glucómetro dejó de enviar datos: revise el cable y presione Reintentar",
                    )
                receiver.feed(chunk)
                continue
            reply = receiver.data_to_send()
            if isinstance(event, ca.Established):
                if established and frames_seen == 0:
                    continue  # a repeated ENQ: our ACK is already on its way
                established, frames_seen, rejected = True, 0, 0
                header, readings, complete = None, [], False
                await s.write(reply)
                by = s.reply_by()
                continue
            if isinstance(event, ca.FrameRejected):
                if not established:
                    continue  # line noise before the transfer
                last_error = event.error
                rejected += 1
                if rejected > self.options.retries:
                    await s.write(bytes((ca.EOT,)))  # receiver interrupt: stop sending
                    raise self.unreadable("frames", last_error)
                await s.write(reply)
                by = s.reply_by()
                continue
            if isinstance(event, ca.DuplicateFrame):
                await s.write(reply)
                by = s.reply_by()
                continue
            if isinstance(event, ca.TransferComplete):
                if not established:
                    continue
                if complete:
                    break
                if rejected:
                    raise self.unreadable("frames (the meter gave up resending)", last_error)
                raise self.make_error(
                    DeviceReportedError,
                    f"the meter ended the transfer after {frames_seen} frames, before its "
                    "terminator record",
                    UNREADABLE_ES,
                )
            # RecordReceived
            established = True
            frames_seen += 1
            rejected = 0
            await s.write(reply)
            by = s.reply_by()
            if event.error is not None or event.decoded is None:
                await s.write(bytes((ca.EOT,)))
                raise self.unreadable("record", event.error)
            kind = event.decoded.record.get("record_type")
            if kind == "header":
                header = event.decoded
                stamp = header.record.get("timestamp")
                if stamp:
                    s.note_clock(datetime.fromisoformat(stamp), header)
            elif kind == "result":
                readings.extend(_Reading.of(event.decoded))
                await s.records_progress(len(readings))
            elif kind == "terminator":
                complete = True
        return _Download(
            readings,
            model=header.record.get("product_code") if header else None,
            serial_number=header.record.get("serial_number") if header else None,
        )


# --------------------------------------------------------------------------- builders

_GLUCOMETER_KEYS: Final = frozenset(
    {"reply_s", "retries", "clock_skew_s", "max_records", "require_new"}
)
#: options of earlier versions, accepted and ignored: the store's record memory decides
_RETIRED_KEYS: Final = frozenset({"latest_only", "high_water_mark"})
_SERIAL_KEYS: Final = frozenset(
    {"baudrate", "bytesize", "parity", "stopbits", "xonxoff", "rtscts", "dtr", "rts", "exclusive"}
)


def _number(opts: Mapping[str, Any], key: str, default: float) -> float:
    value = opts.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, not {value!r}")
    return float(value)


def _integer(opts: Mapping[str, Any], key: str, default: int) -> int:
    value = opts.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be a whole number, not {value!r}")
    return value


def _flag(opts: Mapping[str, Any], key: str, default: bool) -> bool:
    value = opts.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, not {value!r}")
    return value


def _build(
    cls: type[SerialGlucometerDriver],
    cfg: DeviceConfig,
    info: DeviceInfo,
    extra: Mapping[str, Any],
) -> SerialGlucometerDriver:
    from cart.drivers.factory import serial_settings

    retired = sorted(set(cfg.options) & _RETIRED_KEYS)
    if retired:
        _log.warning("device %s: option(s) %s no longer used", cfg.id, ", ".join(retired))
    unknown = sorted(set(cfg.options) - _GLUCOMETER_KEYS - _SERIAL_KEYS - _RETIRED_KEYS)
    if unknown:
        known = ", ".join(sorted(_GLUCOMETER_KEYS | _SERIAL_KEYS))
        raise ConfigError(
            f"device {cfg.id!r}: unknown glucometer option(s) {', '.join(unknown)}; known: {known}"
        )
    opts = cfg.options
    try:
        options = GlucometerOptions(
            timeout_s=cfg.timeout_s,
            reply_s=_number(opts, "reply_s", 1.0),
            retries=_integer(opts, "retries", 3),
            clock_skew_s=_number(opts, "clock_skew_s", float(extra.get("clock_skew_s", 300.0))),
            max_records=_integer(opts, "max_records", 1000),
            require_new=_flag(opts, "require_new", True),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"device {cfg.id!r}: bad glucometer options: {exc}") from exc
    settings: SerialSettings = serial_settings(cfg)
    if "baudrate" not in opts:
        settings = replace(settings, baudrate=cls.default_baudrate)
    return cls(info, serial_settings=settings, options=options)


def build_ultra2(cfg: DeviceConfig, info: DeviceInfo, **extra: Any) -> SerialGlucometerDriver:
    return _build(Ultra2Driver, cfg, info, extra)


def build_ultraeasy(cfg: DeviceConfig, info: DeviceInfo, **extra: Any) -> SerialGlucometerDriver:
    return _build(UltraEasyDriver, cfg, info, extra)


def build_td42xx(cfg: DeviceConfig, info: DeviceInfo, **extra: Any) -> SerialGlucometerDriver:
    return _build(TD42xxDriver, cfg, info, extra)


def build_optium(cfg: DeviceConfig, info: DeviceInfo, **extra: Any) -> SerialGlucometerDriver:
    return _build(OptiumDriver, cfg, info, extra)


def build_contour(cfg: DeviceConfig, info: DeviceInfo, **extra: Any) -> SerialGlucometerDriver:
    return _build(ContourDriver, cfg, info, extra)
