"""Serial glucometers on a pty: five families answering their real download dialogue.

Every simulator keeps a memory of stored readings (:class:`MeterRecord`: value in mg/dL
or None for HI, timestamp in *meter* time, meal and control-solution markers where the
format has them), plus the reading the patient has just taken (the newest record), and
a meter clock that runs ``clock_skew_s`` ahead of the cart's (negative: behind).

- ``Ultra2Simulator`` (``onetouch.ultra2``): answers ``DMF`` (clock), ``DM?``, ``DM@``,
  ``DMSU?``, ``DMT`` (set clock), ``DMZ`` (erase) and ``DMP`` (header + one line per
  record, newest first).
- ``UltraEasySimulator`` (``onetouch.ultraeasy``): the LifeScan binary link layer; every
  host packet is ACKed, sequence bits alternate, an unacknowledged response is
  retransmitted after ``retransmit_s`` (at most ``resends`` times); record 0 is the newest.
- ``TD42xxSimulator`` (``taidoc.td42xx``): one 8-byte reply per 8-byte request (connect,
  clock, model, count, record time/value by index, newest first).
- ``OptiumSimulator`` (``freestyle.optium``): ``$colq`` (device info with the clock),
  ``$xmem`` (the whole memory with its checksum/END line), ``$tim`` (set clock).
- ``ContourSimulator`` (``contour.astm``): the meter is the sender. In transfer mode it
  offers ENQ every ``enq_interval_s``; after the host's ACK it sends header, patient,
  results and terminator in numbered E1381 frames, one per ACK, resends a frame on NAK
  (at most 6 times, then EOT), and ends with EOT. It is then ready to send again.

Faults (:class:`simulators.faults.Fault`) hit the replies that carry data (never the link
layer's ACK/ENQ/EOT bytes); ``fault_replies`` limits them to the first N such replies so a
retry can succeed:

- ``NOISE``: junk bytes before each frame (non-printable for the text formats, no link
  control bytes for ASTM), which a driver must skip.
- ``CHECKSUM``: a wrong checksum/CRC; ``BROKEN_FRAME``: a changed byte inside the frame.
- ``TRUNCATED``: the frame stops half-way (text formats still end the line).
- ``SILENCE``: nothing is ever sent.
- ``UNPLUG``: the pty closes half-way through the record download.
- ``OVERLOAD``: the new reading is above the meter's range (HI), where the format says so.

Besides faults: ``replay=True`` repeats every stored record in the download (a firmware
glitch seen in the field), and ``clock_skew_s`` sets the meter clock's error.
"""

from __future__ import annotations

import abc
import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar, Final

from cart import wallclock
from cart.errors import ProtocolError
from cart.protocols import (
    contour_astm,
    freestyle_optium,
    onetouch_ultra2,
    onetouch_ultraeasy,
    taidoc_td42xx,
)
from cart.protocols._stream import LineStream
from cart.protocols.base import NeedData
from simulators.faults import Fault, noise
from simulators.pty_simulator import PtySimulator

__all__ = [
    "FAMILIES",
    "ContourSimulator",
    "GlucometerConfig",
    "GlucometerSimulator",
    "MeterRecord",
    "OptiumSimulator",
    "TD42xxSimulator",
    "Ultra2Simulator",
    "UltraEasySimulator",
    "simulator_for",
]

FAMILIES: Final = (
    "onetouch.ultra2",
    "onetouch.ultraeasy",
    "taidoc.td42xx",
    "freestyle.optium",
    "contour.astm",
)
MEALS: Final = (None, "preprandial", "postprandial")
LOW_MG_DL: Final = 20
HIGH_MG_DL: Final = 600
_FRAME_FAULTS: Final = frozenset({Fault.NOISE, Fault.CHECKSUM, Fault.BROKEN_FRAME, Fault.TRUNCATED})
#: bytes that mean something to an ASTM receiver: EMI that hits them is not "noise"
_ASTM_CONTROLS: Final = frozenset({0x02, 0x03, 0x04, 0x05, 0x06, 0x0A, 0x0D, 0x15, 0x17})


@dataclass(frozen=True, slots=True)
class MeterRecord:
    """One stored reading, as the meter keeps it (``measured_at`` in meter time)."""

    measured_at: datetime
    mg_dl: int | None
    """mg/dL (every family dumps mg/dL); None is a HI (above range) result."""
    meal: str | None = None
    """None, ``preprandial`` or ``postprandial`` (sent where the format has a marker)."""
    control_solution: bool = False

    def __post_init__(self) -> None:
        if self.mg_dl is not None and not LOW_MG_DL <= self.mg_dl <= HIGH_MG_DL:
            raise ValueError(f"mg_dl must be {LOW_MG_DL}-{HIGH_MG_DL} (None for HI)")
        if self.meal not in MEALS:
            raise ValueError("meal must be None, 'preprandial' or 'postprandial'")
        if not 2000 <= self.measured_at.year <= 2099:
            raise ValueError("meters keep years 2000-2099")


@dataclass(frozen=True, slots=True)
class GlucometerConfig:
    history: tuple[MeterRecord, ...] | None = None
    """Stored readings before today's; None: three readings of the last three days."""
    new_reading_mg_dl: int | None = 104
    """The reading the patient has just taken (the newest record); None: none taken."""
    new_reading_meal: str | None = None
    clock_skew_s: float = 0.0
    """Meter clock minus cart clock, in seconds."""
    fixed_clock: datetime | None = None
    """The meter clock is stuck at this time (a dead clock battery); setting it moves it,
    it still does not run."""
    clock_writable: bool = True
    """False: the meter ignores set-clock commands (its answer shows the unchanged clock)."""
    serial_number: str | None = None
    """None: a family-specific default."""
    reply_delay_s: float = 0.05
    """The meter's think time before each reply."""
    retransmit_s: float = 0.5
    """UltraEasy: resend an unacknowledged response after this long."""
    resends: int = 3
    enq_interval_s: float = 1.0
    """Contour: how often an idle meter in transfer mode offers ENQ."""
    link_timeout_s: float = 15.0
    """Contour: E1381 sender timeout waiting for ACK/NAK (then EOT)."""
    fault: Fault = Fault.NONE
    fault_replies: int | None = None
    """Frame faults hit only the first N data replies (None: every one)."""
    replay: bool = False
    """Send every stored record twice in the download."""
    echo: bool = False
    """Text formats: echo each command line before answering (cable quirk)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.new_reading_mg_dl is not None and not (
            LOW_MG_DL <= self.new_reading_mg_dl <= HIGH_MG_DL
        ):
            raise ValueError(f"new_reading_mg_dl must be {LOW_MG_DL}-{HIGH_MG_DL}")
        if self.new_reading_meal not in MEALS:
            raise ValueError("new_reading_meal must be None, 'preprandial' or 'postprandial'")
        if self.fixed_clock is not None and not 2000 <= self.fixed_clock.year <= 2099:
            raise ValueError("fixed_clock must be in 2000-2099 (meters keep two-digit years)")
        if abs(self.clock_skew_s) > 10 * 365 * 86400:
            raise ValueError("clock_skew_s must be within ten years")
        for name in ("reply_delay_s", "retransmit_s", "enq_interval_s", "link_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.retransmit_s == 0 or self.enq_interval_s == 0 or self.link_timeout_s == 0:
            raise ValueError("retransmit_s, enq_interval_s and link_timeout_s must be positive")
        if self.resends < 0:
            raise ValueError("resends must not be negative")
        if self.fault_replies is not None and self.fault_replies < 1:
            raise ValueError("fault_replies must be at least 1 (None: every reply)")

    @classmethod
    def fast(cls, **kwargs: object) -> GlucometerConfig:
        """Test timing: instant replies, short link timers."""
        base: dict[str, object] = {
            "reply_delay_s": 0.0,
            # a real client (glucometerutils) needs time to read and ACK a response before
            # the meter resends it: a resend after 50 ms lands as a duplicate mid-dialogue
            "retransmit_s": 0.5,
            "enq_interval_s": 0.1,
            "link_timeout_s": 2.0,
        }
        base.update(kwargs)
        return cls(**base)  # type: ignore[arg-type]


class GlucometerSimulator(PtySimulator[GlucometerConfig]):
    """Base: the meter's memory and clock and its family-specific fault injection (the pty,
    task and start/stop come from :class:`~simulators.pty_simulator.PtySimulator`)."""

    family: ClassVar[str] = ""
    default_serial: ClassVar[str] = ""
    #: what the wire format can say (records that need more are refused at construction)
    has_control_marker: ClassVar[bool] = False
    has_high_marker: ClassVar[bool] = True

    def __init__(self, config: GlucometerConfig | None = None) -> None:
        super().__init__(config or GlucometerConfig())
        self._skew = timedelta(seconds=self.config.clock_skew_s)
        self._fixed = self.config.fixed_clock
        self._faults_used = 0
        self._records: list[MeterRecord] = self._initial_records()
        self._check_records(self._records)
        self.serial_number = self.config.serial_number or self.default_serial
        #: record downloads served: dumps sent whole, record counts asked, transfers ended
        self.downloads = 0
        #: data replies sent (retransmissions included)
        self.replies = 0
        #: stored records asked for one by one (UltraEasy, TaiDoc), repeats excluded
        self.records_read = 0

    # ------------------------------------------------------------------ memory and clock

    @property
    def unplugged(self) -> bool:
        return self._gone()

    def _gone(self) -> bool:
        """The pty is closed (a method, so the check is re-evaluated after every await)."""
        return self._pty.closed

    @property
    def records(self) -> list[MeterRecord]:
        """Stored readings, oldest first."""
        return list(self._records)

    @property
    def faults_injected(self) -> int:
        """Data replies a frame fault has hit so far."""
        return self._faults_used

    def meter_now(self) -> datetime:
        """The meter's clock (cart clock plus the skew, or the stuck time), to the second."""
        if self._fixed is not None:
            return self._fixed.replace(microsecond=0)
        return (wallclock.now() + self._skew).replace(microsecond=0)

    def _initial_records(self) -> list[MeterRecord]:
        cfg = self.config
        now = self.meter_now().replace(second=0)
        if cfg.history is None:
            history = [
                MeterRecord(now - timedelta(days=3, hours=2, minutes=14), 96, "preprandial"),
                MeterRecord(now - timedelta(days=2, hours=5, minutes=3), 142, "postprandial"),
                MeterRecord(now - timedelta(days=1, hours=1, minutes=40), 118),
            ]
        else:
            history = sorted(cfg.history, key=lambda r: r.measured_at)
        if cfg.new_reading_mg_dl is not None:
            when = now - timedelta(minutes=1)
            if history and history[-1].measured_at >= when:
                when = history[-1].measured_at + timedelta(minutes=1)
            value = None if cfg.fault is Fault.OVERLOAD else cfg.new_reading_mg_dl
            history.append(MeterRecord(when, value, cfg.new_reading_meal))
        return history

    def _check_records(self, records: Sequence[MeterRecord]) -> None:
        for record in records:
            if record.control_solution and not self.has_control_marker:
                raise ValueError(f"{self.family} has no control-solution marker")
            if record.mg_dl is None and not self.has_high_marker:
                raise ValueError(f"{self.family} has no documented HI marker")

    def add_reading(
        self,
        mg_dl: int | None,
        *,
        meal: str | None = None,
        control_solution: bool = False,
        at: datetime | None = None,
    ) -> MeterRecord:
        """The patient takes another reading now (at least a minute after the last one)."""
        when = at or self.meter_now().replace(second=0)
        if at is None and self._records and self._records[-1].measured_at >= when:
            when = self._records[-1].measured_at + timedelta(minutes=1)
        record = MeterRecord(when, mg_dl, meal, control_solution)
        self._check_records([record])
        self._records.append(record)
        self._records.sort(key=lambda r: r.measured_at)
        return record

    def erase(self) -> None:
        self._records.clear()

    def set_clock(self, when: datetime) -> None:
        """The host set the meter's clock: from now on it reads ``when`` plus elapsed time
        (nothing changes on a meter whose clock cannot be set)."""
        if not self.config.clock_writable:
            return
        if self._fixed is not None:
            self._fixed = when
            return
        self._skew = when - wallclock.now().replace(microsecond=0)

    def dump_order(self) -> list[MeterRecord]:
        """What a download sends: newest first, every record twice with ``replay``."""
        out: list[MeterRecord] = []
        for record in reversed(self._records):
            out.append(record)
            if self.config.replay:
                out.append(record)
        return out

    # ------------------------------------------------------------------ faults

    def _take_fault(self) -> bool:
        cfg = self.config
        if cfg.fault not in _FRAME_FAULTS:
            return False
        if cfg.fault_replies is not None and self._faults_used >= cfg.fault_replies:
            return False
        self._faults_used += 1
        return True

    def _noise(self) -> bytes:
        return noise(self._rng)

    @abc.abstractmethod
    def _bad_checksum(self, frame: bytes) -> bytes | None:
        """The frame with a wrong checksum; None when the frame has none."""

    def _broken(self, frame: bytes) -> bytes:
        body = frame.rstrip(b"\r\n")
        data = bytearray(frame)
        i = max(1, len(body) // 2)
        data[i] = 0x23 if data[i] != 0x23 else 0x2A  # '#' or '*'
        return bytes(data)

    def _truncated(self, frame: bytes) -> bytes:
        return frame[: len(frame) // 2]

    def _faulty(self, frame: bytes) -> bytes:
        """One data reply as it leaves the meter (counted in ``replies``)."""
        self.replies += 1
        fault = self.config.fault
        if fault is Fault.CHECKSUM:
            bad = self._bad_checksum(frame)
            if bad is None or not self._take_fault():
                return frame
            return bad
        if not self._take_fault():
            return frame
        if fault is Fault.NOISE:
            return self._noise() + frame
        if fault is Fault.BROKEN_FRAME:
            return self._broken(frame)
        return self._truncated(frame)

    # ------------------------------------------------------------------ life cycle

    async def _pause(self) -> None:
        if self.config.reply_delay_s:
            await asyncio.sleep(self.config.reply_delay_s)

    async def _ignore_host(self) -> None:
        """SILENCE: read and drop whatever the host sends."""
        while not self._gone():
            await self._pty.read(256, timeout=1.0)

    def unplug(self) -> None:
        """Pull the cable out now."""
        self._pty.close()


# --------------------------------------------------------------------------- text helpers


def _printable_free_noise(rng: random.Random) -> bytes:
    """Line noise a text meter's host can skip: no printable ASCII, no CR/LF."""
    pool = [b for b in range(256) if not 0x20 <= b <= 0x7E and b not in (0x0A, 0x0D)]
    return bytes(rng.choice(pool) for _ in range(rng.randint(1, 12)))


def _text_truncated(frame: bytes) -> bytes:
    """A line cut half-way; the meter still ends it with CR LF."""
    body = frame.rstrip(b"\r\n")
    return body[: len(body) // 2] + b"\r\n"


def _replace_hex(frame: bytes, start: int, width: int) -> bytes:
    wire = int(frame[start : start + width], 16)
    bad = f"{(wire + 1) % (16**width):0{width}X}".encode("ascii")
    return frame[:start] + bad + frame[start + width :]


# --------------------------------------------------------------------------- Ultra 2


class Ultra2Simulator(GlucometerSimulator):
    family = "onetouch.ultra2"
    default_serial = "ULT2SIM0Y"
    has_control_marker = True
    VERSION: ClassVar[str] = "P02.00.00 30/08/06"
    _MEAL_CODES: ClassVar[dict[str | None, str]] = {
        None: "N",
        "preprandial": "B",
        "postprandial": "A",
    }

    def _noise(self) -> bytes:
        return _printable_free_noise(self._rng)

    def _bad_checksum(self, frame: bytes) -> bytes | None:
        body = frame.rstrip(b"\r\n")
        return _replace_hex(frame, len(body) - 4, 4)

    def _truncated(self, frame: bytes) -> bytes:
        return _text_truncated(frame)

    def _dump_lines(self) -> list[bytes]:
        records = self.dump_order()
        lines = [onetouch_ultra2.encode_dump_header(len(records), self.serial_number)]
        for r in records:
            lines.append(
                onetouch_ultra2.encode_record(
                    onetouch_ultra2.DumpRecord(
                        measured_at=r.measured_at,
                        value=r.mg_dl,
                        control_solution=r.control_solution,
                        meal=self._MEAL_CODES[r.meal],
                    )
                )
            )
        return lines

    async def _run(self) -> None:
        if self.config.fault is Fault.SILENCE:
            await self._ignore_host()
            return
        stream = onetouch_ultra2.Ultra2Stream()
        while not self._gone():
            data = await self._pty.read(256, timeout=1.0)
            if not data:
                continue
            if self.config.echo:
                await self._pty.write(data)
            stream.feed(data)
            for frame in stream.frames():
                if isinstance(frame, ProtocolError) or frame.record.get("message") != "command":
                    continue  # the meter ignores garbage
                await self._pause()
                await self._answer(str(frame.record["command"]), frame.record.get("timestamp"))
                if self._gone():
                    return

    async def _answer(self, command: str, timestamp: object) -> None:
        C = onetouch_ultra2.Command
        if command == C.DUMP:
            lines = self._dump_lines()
            for i, line in enumerate(lines):
                if self.config.fault is Fault.UNPLUG and i == 1 + (len(lines) - 1) // 2:
                    await self._pty.write(line[: len(line) // 2])
                    self._pty.close()
                    return
                await self._pty.write(self._faulty(line))
            self.downloads += 1
            return
        if command == C.READ_CLOCK:
            reply = onetouch_ultra2.encode_clock(self.meter_now())
        elif command == C.SET_CLOCK and isinstance(timestamp, str):
            self.set_clock(datetime.fromisoformat(timestamp))
            reply = onetouch_ultra2.encode_clock(self.meter_now(), set_clock=True)
        elif command == C.VERSION:
            reply = onetouch_ultra2.encode_version(self.VERSION)
        elif command == C.SERIAL_NUMBER:
            reply = onetouch_ultra2.encode_serial_number(self.serial_number)
        elif command == C.GLUCOSE_UNIT:
            reply = onetouch_ultra2.encode_unit("mg/dL")
        elif command == C.ERASE:
            self.erase()
            reply = onetouch_ultra2.encode_erase_ack()
        else:
            return
        await self._pty.write(self._faulty(reply))


# --------------------------------------------------------------------------- UltraEasy


class UltraEasySimulator(GlucometerSimulator):
    family = "onetouch.ultraeasy"
    default_serial = "UEASY0001"
    VERSION: ClassVar[str] = "P02.00.01 21/06/11"
    #: the meter reports HI as a value above its 600 mg/dL range
    HI_VALUE: ClassVar[int] = 601

    def _bad_checksum(self, frame: bytes) -> bytes | None:
        return frame[:-2] + bytes((frame[-2] ^ 0xFF, frame[-1]))

    async def _run(self) -> None:
        if self.config.fault is Fault.SILENCE:
            await self._ignore_host()
            return
        ue = onetouch_ultraeasy
        link = ue.UltraEasyLink()
        pending: bytes | None = None
        resends = 0
        cfg = self.config
        while not self._gone():
            waiting = pending is not None and resends < cfg.resends
            data = await self._pty.read(256, timeout=cfg.retransmit_s if waiting else 1.0)
            if self._gone():
                return
            if not data:
                if pending is not None and resends < cfg.resends:
                    resends += 1
                    await self._pty.write(self._faulty(pending))
                continue
            link.feed(data)
            while True:
                try:
                    event = link.next_event()
                except ProtocolError:
                    continue  # a damaged packet: the host will resend it
                if isinstance(event, NeedData):
                    break
                if isinstance(event, ue.DisconnectReceived):
                    pending = None
                    await self._pty.write(event.reply)
                elif isinstance(event, ue.AckReceived):
                    pending = None
                elif isinstance(event, ue.DuplicateReceived):
                    # our ACK (or response) got lost: acknowledge again, repeat the response
                    await self._pty.write(event.reply)
                    if pending is not None:
                        await self._pty.write(self._faulty(pending))
                elif isinstance(event, ue.MessageReceived):
                    await self._pty.write(event.reply)
                    if link.awaiting_ack:  # a new request acknowledges our last response
                        link.awaiting_ack = False
                        link.send_sequence = not link.send_sequence
                    await self._pause()
                    response = self._respond(event.message)
                    if self._gone():
                        return
                    if response is None:
                        continue
                    pending = link.send(response)
                    resends = 0
                    await self._pty.write(self._faulty(pending))

    def _respond(self, message: bytes) -> bytes | None:
        ue = onetouch_ultraeasy
        kind_ = ue.RequestKind
        try:
            kind = ue.classify_request(message)
        except ProtocolError:
            return ue.response_error()
        records = self.dump_order()
        if kind is kind_.VERSION:
            return ue.response_version(self.VERSION)
        if kind is kind_.SERIAL_NUMBER:
            return ue.response_serial_number(self.serial_number)
        if kind is kind_.READ_CLOCK:
            return ue.response_clock(self.meter_now())
        if kind is kind_.SET_CLOCK:
            when = datetime(1970, 1, 1) + timedelta(seconds=int.from_bytes(message[3:7], "little"))
            self.set_clock(when)
            return ue.response_clock(self.meter_now())
        if kind is kind_.GLUCOSE_UNIT:
            return ue.response_glucose_unit("mg/dL")
        if kind is kind_.ERASE:
            self.erase()
            return ue.response_success()
        if kind is kind_.RECORD_COUNT:
            self.downloads += 1
            return ue.response_record_count(len(records))
        index = int.from_bytes(message[2:4], "little")
        if index >= len(records):
            return ue.response_error()
        if self.config.fault is Fault.UNPLUG and index == len(records) // 2:
            self._pty.close()
            return None
        record = records[index]
        self.records_read += 1
        value = self.HI_VALUE if record.mg_dl is None else record.mg_dl
        return ue.response_reading(record.measured_at, value)


# --------------------------------------------------------------------------- TaiDoc


class TD42xxSimulator(GlucometerSimulator):
    family = "taidoc.td42xx"
    default_serial = "TD4277"
    has_high_marker = False
    MODEL: ClassVar[int] = 4277

    def _bad_checksum(self, frame: bytes) -> bytes | None:
        return frame[:-1] + bytes(((frame[-1] + 1) & 0xFF,))

    async def _run(self) -> None:
        if self.config.fault is Fault.SILENCE:
            await self._ignore_host()
            return
        stream = taidoc_td42xx.TaiDocStream()
        while not self._gone():
            data = await self._pty.read(256, timeout=1.0)
            if not data:
                continue
            stream.feed(data)
            while True:
                try:
                    frame = stream.next_raw()
                    if isinstance(frame, NeedData):
                        break
                    parsed = taidoc_td42xx.parse_frame(frame)
                except ProtocolError:
                    continue
                if parsed.direction is not taidoc_td42xx.Direction.TO_METER:
                    continue
                await self._pause()
                reply = self._respond(parsed.command, parsed.data)
                if self._gone():
                    return
                if reply is not None:
                    await self._pty.write(self._faulty(reply))

    def _respond(self, command: int, data: bytes) -> bytes | None:
        td = taidoc_td42xx
        C = td.Command
        records = self.dump_order()
        if command == C.CONNECT:
            return td.response_connect()
        if command == C.READ_CLOCK:
            return td.response_clock(self.meter_now())
        if command == C.SET_CLOCK:
            decoded = td.decode(td.encode_frame(command, data))
            self.set_clock(datetime.fromisoformat(decoded.record["timestamp"]))
            return td.response_set_clock(self.meter_now())
        if command == C.MODEL:
            return td.response_model(self.MODEL)
        if command == C.RECORD_COUNT:
            self.downloads += 1
            return td.response_record_count(len(records))
        if command == C.CLEAR_MEMORY:
            self.erase()
            return td.response_clear_memory()
        if command in (C.RECORD_TIME, C.RECORD_VALUE):
            index = int.from_bytes(data[:2], "little")
            if index >= len(records):
                return None  # the meter ignores it; the host times out
            if (
                self.config.fault is Fault.UNPLUG
                and command == C.RECORD_TIME
                and index == len(records) // 2
            ):
                self._pty.close()
                return None
            record = records[index]
            if command == C.RECORD_TIME:
                self.records_read += 1
                return td.response_record_time(record.measured_at)
            assert record.mg_dl is not None  # refused at construction
            return td.response_record_value(record.mg_dl, record.meal)
        return None


# --------------------------------------------------------------------------- Optium


class OptiumSimulator(GlucometerSimulator):
    family = "freestyle.optium"
    default_serial = "AAAA123-B4567"
    VERSION: ClassVar[str] = "0.22"

    def _noise(self) -> bytes:
        return _printable_free_noise(self._rng)

    def _bad_checksum(self, frame: bytes) -> bytes | None:
        at = frame.rfind(b"0x")
        if at < 0 or not frame.endswith(b"  END\r\n"):
            return None
        return _replace_hex(frame, at + 2, 4)

    def _truncated(self, frame: bytes) -> bytes:
        return _text_truncated(frame)

    def _broken(self, frame: bytes) -> bytes:
        # hit a reading line, not the empty first line
        lines = frame.split(b"\r\n")
        target = len(lines) // 2
        line = bytearray(lines[target])
        if line:
            line[0] = 0x23 if line[0] != 0x23 else 0x2A
        lines[target] = bytes(line)
        return b"\r\n".join(lines)

    async def _run(self) -> None:
        if self.config.fault is Fault.SILENCE:
            await self._ignore_host()
            return
        lines = LineStream(freestyle_optium.CRLF, max_buffer=128)
        while not self._gone():
            data = await self._pty.read(256, timeout=1.0)
            if not data:
                continue
            lines.feed(data)
            while True:
                try:
                    line = lines.next_line()
                except ProtocolError:
                    continue
                if isinstance(line, NeedData):
                    break
                if self.config.echo:
                    await self._pty.write(line + freestyle_optium.CRLF)
                await self._pause()
                await self._answer(line)
                if self._gone():
                    return

    async def _answer(self, line: bytes) -> None:
        fo = freestyle_optium
        try:
            decoded = fo.decode(line + fo.CRLF)
        except ProtocolError:
            return
        if decoded.record.get("message") != "command":
            return
        name = decoded.record["command"]
        if name == "colq":
            reply = fo.encode_colq(
                self.serial_number, self.VERSION, self.meter_now(), len(self._records)
            )
        elif name == "xmem":
            readings = [fo.OptiumReading(r.measured_at, r.mg_dl) for r in self.dump_order()]
            reply = fo.encode_xmem(self.serial_number, self.VERSION, self.meter_now(), readings)
            if self.config.fault is Fault.UNPLUG:
                await self._pty.write(reply[: len(reply) // 2])
                self._pty.close()
                return
            self.downloads += 1
        elif name == "tim":
            self.set_clock(datetime.fromisoformat(decoded.record["timestamp"]))
            reply = fo.encode_cmd_ok()
        else:
            return
        await self._pty.write(self._faulty(reply))


# --------------------------------------------------------------------------- Contour


class ContourSimulator(GlucometerSimulator):
    family = "contour.astm"
    default_serial = "7390-2336773"
    has_control_marker = True
    _MEAL_MARKERS: ClassVar[dict[str | None, str]] = {"preprandial": "B", "postprandial": "A"}
    #: The header's meter-configuration field as a real Contour USB sends it (A, C, G, I,
    #: R, S, U, V, X, Y, Z), from the header frame in glucometerutils
    #: ``glucometerutils/drivers/tests/test_contourusb.py``: clients that read the
    #: settings (glucometerutils reads U for the unit, X/Y for the target ranges) need them.
    HEADER_CONFIG: ClassVar[tuple[tuple[str, str], ...]] = (
        ("A", "1"),
        ("C", "63"),
        ("G", "1"),
        ("I", "0200"),
        ("R", "0"),
        ("S", "1"),
        ("U", "0"),
        ("V", "10600"),
        ("X", "070070070070180130150250"),
        ("Y", "360126090050099050300089"),
        ("Z", "1"),
    )

    def _noise(self) -> bytes:
        pool = [b for b in range(256) if b not in _ASTM_CONTROLS]
        return bytes(self._rng.choice(pool) for _ in range(self._rng.randint(1, 12)))

    def _bad_checksum(self, frame: bytes) -> bytes | None:
        return _replace_hex(frame, len(frame) - 4, 2)

    def _truncated(self, frame: bytes) -> bytes:
        return _text_truncated(frame)

    def astm_records(self) -> list[str]:
        """Header, patient, one result per stored record (oldest first), terminator."""
        ca = contour_astm
        stored = list(reversed(self.dump_order()))
        out = [
            ca.encode_header(
                serial=self.serial_number,
                config=self.HEADER_CONFIG,
                total=len(stored),
                when=self.meter_now(),
            ),
            ca.encode_patient(1),
        ]
        for seq, record in enumerate(stored, start=1):
            markers: list[str] = []
            if record.mg_dl is None:
                markers.append(">")
            if record.meal in self._MEAL_MARKERS:
                markers.append(self._MEAL_MARKERS[record.meal])
            if record.control_solution:
                markers.append("C")
            value: int = HIGH_MG_DL if record.mg_dl is None else record.mg_dl
            if self.config.replay:
                seq = (seq + 1) // 2  # a replayed record repeats its sequence number
            out.append(ca.encode_result(seq, value, record.measured_at, markers=markers))
        out.append(ca.encode_terminator(1))
        return out

    async def _run(self) -> None:
        if self.config.fault is Fault.SILENCE:
            await self._ignore_host()
            return
        cfg = self.config
        while not self._gone():
            sender = contour_astm.ContourSender(contour_astm.encode_message(self.astm_records()))
            await self._pty.write(sender.start())
            reply = await self._pty.read(64, timeout=cfg.enq_interval_s)
            if self._gone():
                return
            if not reply:
                continue  # nobody listening: offer ENQ again
            out = sender.receive(reply)
            if sender.state is not contour_astm.SenderState.WAIT_FRAME_REPLY:
                continue
            await self._transfer(sender, out)
            if sender.done and not sender.aborted:
                self.downloads += 1
            await asyncio.sleep(cfg.enq_interval_s)

    async def _transfer(self, sender: contour_astm.ContourSender, out: bytes) -> None:
        cfg = self.config
        half = len(sender.frames) // 2
        while not self._gone():
            if out:
                if sender.done:
                    await self._pty.write(out)  # EOT (and any frame before it)
                    return
                if cfg.fault is Fault.UNPLUG and sender.index >= half:
                    await self._pty.write(out[: len(out) // 2])
                    self._pty.close()
                    return
                await self._pause()
                await self._pty.write(self._faulty(out))
            reply = await self._pty.read(64, timeout=cfg.link_timeout_s)
            if self._gone():
                return
            out = sender.receive(reply) if reply else sender.timeout()


# --------------------------------------------------------------------------- registry

SIMULATORS: Final[dict[str, type[GlucometerSimulator]]] = {
    cls.family: cls
    for cls in (
        Ultra2Simulator,
        UltraEasySimulator,
        TD42xxSimulator,
        OptiumSimulator,
        ContourSimulator,
    )
}


def simulator_for(family: str, config: GlucometerConfig | None = None) -> GlucometerSimulator:
    """The simulator of one family (``onetouch.ultra2``, ``contour.astm``...)."""
    try:
        cls = SIMULATORS[family]
    except KeyError:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}") from None
    return cls(config)
