"""Modbus RTU devices (weighing indicators, height rods) through pymodbus' async serial client.

Supported devices: anything a :mod:`cart.protocols.modbus_maps` profile describes:
``cas_ci600d`` (CAS CI-600D style 32-bit weight), ``eagle_ei`` (Eagle EI float32 weight)
and ``height_rod`` (height + status word). Expected device path: a USB-RS485/RS232
adapter such as ``/dev/serial/by-id/usb-FTDI_..-if00-port0`` (a pty in tests).

The driver opens the port for one reading and closes it in every path. pymodbus'
serial transport always opens the port exclusively (``serial_for_url(exclusive=True)``),
so a second program gets :class:`DeviceBusy`. Each request has a deadline
(``request_timeout_s``) and is retried at most ``retries`` times (bounded by
:data:`MAX_RETRIES`); the whole reading has ``timeout_s``. The driver polls the register
block until the reading is valid and settled: the status word says it is not measuring
and, for maps without a motion bit, ``stable_reads`` consecutive reads agree.

pymodbus' own RTU framer drops a whole buffer when noise precedes an answer; the client's
``trace_packet`` hook hands it only the CRC-valid answer found by our hunting
:class:`~cart.protocols.modbus_rtu.RtuFramer`, and keeps the bytes received so a failed
request can be told apart: nothing at all (silence), a full-length answer with a bad CRC,
a truncated answer, or line noise.

devices.toml keys (besides ``port`` and ``timeout_s``)::

    device_id = 1                # Modbus unit id, 1..247
    profile = "height_rod"       # cas_ci600d | eagle_ei | height_rod
    word_order = "big"           # ... and any other option of the profile (decimals,
                                 #     unit, reading, channel, byte_order, register...)
    baudrate = 9600              # bytesize = 8, parity = "N", stopbits = 1
    retries = 2                  # 0..5 extra attempts per request
    request_timeout_s = 1.0      # deadline of one request
    poll_interval_s = 0.2        # pause between reads while the reading settles
    stable_reads = 2             # equal reads needed (default: 1 with a motion bit, else 2)
    min_weight_kg = 2.0          # scales: below this the platform is empty
    handle_local_echo = false    # RS-485 adapters that echo what they send
"""

from __future__ import annotations

import asyncio
import errno
import math
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import serial
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType

from cart.devices import DeviceConfig, Role
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
from cart.errors import (
    BufferOverflow,
    ConfigError,
    ConnectionFailed,
    ConnectionLost,
    DeviceBusy,
    DeviceError,
    DeviceNotFound,
    DeviceReportedError,
    DeviceTimeout,
    ProtocolError,
)
from cart.measurement import Measurement, MeasurementKind
from cart.protocols import modbus_maps, modbus_rtu
from cart.protocols.base import NeedData
from cart.protocols.modbus_maps import RegisterMap

__all__ = [
    "DEFAULT_REQUEST_TIMEOUT_S",
    "DEFAULT_RETRIES",
    "MAX_RETRIES",
    "ModbusDriver",
    "ModbusOptions",
    "build",
]

PROTOCOL: Final = modbus_rtu.PROTOCOL_ID
#: extra attempts per request, default and upper bound (a reading must fail in bounded time)
DEFAULT_RETRIES: Final = 2
MAX_RETRIES: Final = 5
#: a healthy RTU device answers within ~100 ms; 1 s covers slow indicators at 2400 baud
DEFAULT_REQUEST_TIMEOUT_S: Final = 1.0
DEFAULT_POLL_INTERVAL_S: Final = 0.2
DEFAULT_MIN_WEIGHT_KG: Final = 2.0
#: exception codes that mean "try again shortly" (acknowledge, server device busy)
TRANSIENT_EXCEPTIONS: Final = frozenset({0x05, 0x06})

_NOUN_ES: Final[dict[str, str]] = {
    Role.SCALE.value: "La báscula",
    Role.STADIOMETER.value: "El estadímetro",
}

Failure = Literal["silent", "checksum", "truncated", "noise"]

#: progress messages (English, for logs) per reading state
_STATE_MESSAGES: Final[dict[str, str]] = {
    "unstable": "measuring",
    "no_target": "no target under the rod",
    "empty": "platform empty",
    "ok": "settling",
}


@dataclass(frozen=True, slots=True)
class ModbusOptions:
    """How to talk to one Modbus device (parsed from devices.toml by :func:`build`)."""

    device_id: int = 1
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    retries: int = DEFAULT_RETRIES
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    timeout_s: float = 30.0
    """The whole reading: connect, wait for the patient, settle."""
    stable_reads: int | None = None
    """Equal consecutive reads needed; None: 1 if the map has a motion bit, else 2."""
    min_weight_kg: float = DEFAULT_MIN_WEIGHT_KG
    handle_local_echo: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.device_id <= 247:
            raise ValueError("device_id must be 1..247 (0 is broadcast, which never answers)")
        if not 0 <= self.retries <= MAX_RETRIES:
            raise ValueError(f"retries must be 0..{MAX_RETRIES}")
        if self.request_timeout_s <= 0 or self.timeout_s <= 0 or self.poll_interval_s < 0:
            raise ValueError("timeouts must be positive and poll_interval_s not negative")


class _Expired(Exception):
    """The reading's deadline passed during a request."""


class _Lost(Exception):
    """The port went away (pymodbus reported the connection lost)."""


class _Link:
    """One open pymodbus client plus what was seen on the wire for the last request."""

    def __init__(self, address: str, opts: ModbusOptions, function: int, count: int) -> None:
        self.opts = opts
        self.function = function
        self.count = count
        self.received = b""
        """Bytes received since the last request (noise included)."""
        self.answer: bytes | None = None
        """The CRC-valid answer ADU to the last request."""
        self.lost = asyncio.Event()
        self._closing = False
        self.client = AsyncModbusSerialClient(
            address,
            framer=FramerType.RTU,
            baudrate=opts.baudrate,
            bytesize=opts.bytesize,
            parity=opts.parity,
            stopbits=opts.stopbits,
            handle_local_echo=opts.handle_local_echo,
            timeout=opts.request_timeout_s,
            retries=0,  # the driver retries, so it can tell silence from CRC errors
            reconnect_delay=0,  # no background reconnect task: one reading, one open
            trace_packet=self._trace_packet,
            trace_connect=self._trace_connect,
        )

    async def connect(self) -> bool:
        connected: bool = await self.client.connect()
        return connected

    def close(self) -> None:
        self._closing = True
        self.client.close()

    def _trace_connect(self, connected: bool) -> None:
        if not connected and not self._closing:
            self.lost.set()

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self.received, self.answer = b"", None
            return data
        self.received = bytes(data)  # pymodbus passes its whole receive buffer
        answer = self._find_answer(data)
        if answer is None:
            return b""  # nothing valid yet: pymodbus keeps buffering
        self.answer = answer
        return answer

    def _find_answer(self, data: bytes) -> bytes | None:
        framer = modbus_rtu.RtuFramer("client")
        framer.feed(data)
        while True:
            try:
                frame = framer.next_frame()
            except BufferOverflow:
                return None
            if isinstance(frame, NeedData):
                return None
            if frame[0] == self.opts.device_id and frame[1] & 0x7F == self.function:
                return frame

    def failure(self) -> Failure:
        """Why the last request got no valid answer, from the bytes that did arrive."""
        buf = self.received
        if not buf:
            return "silent"
        found: Failure | None = None
        for start in range(len(buf) - 1):
            if buf[start] != self.opts.device_id:
                continue
            function = buf[start + 1]
            if function == self.function | 0x80:
                length = 5
            elif function == self.function and (
                start + 2 >= len(buf) or buf[start + 2] == 2 * self.count
            ):
                length = 5 + 2 * self.count
            else:
                continue
            if start + length <= len(buf):
                return "checksum"  # a whole answer is there, so its CRC failed
            found = "truncated"
        return found or "noise"

    async def read(self, address: int, until: float) -> tuple[bytes, modbus_rtu.Adu]:
        """One request: the valid answer ADU; raises _Lost, TimeoutError, ModbusException
        (no answer) or ProtocolError."""
        if self.function == 0x04:
            call = self.client.read_input_registers(
                address, count=self.count, device_id=self.opts.device_id
            )
        else:
            call = self.client.read_holding_registers(
                address, count=self.count, device_id=self.opts.device_id
            )
        await _race(call, self.lost, until)
        if self.answer is None:
            raise ModbusException("pymodbus returned without an answer on the wire")
        adu = modbus_rtu.parse_adu(self.answer, direction="response")
        return self.answer, adu


async def _race(call: Awaitable[Any], lost: asyncio.Event, until: float) -> Any:
    """Await ``call`` until the loop time ``until``; _Lost as soon as the port goes away."""
    request = asyncio.ensure_future(call)
    gone = asyncio.ensure_future(lost.wait())
    loop = asyncio.get_running_loop()
    try:
        done, _ = await asyncio.wait(
            {request, gone},
            timeout=max(0.0, until - loop.time()),
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        for task in (request, gone):
            task.cancel()
        await asyncio.gather(request, gone, return_exceptions=True)
    if request in done:
        return request.result()
    if gone in done:
        raise _Lost
    raise TimeoutError


class ModbusDriver(Driver):
    """Reads one register block repeatedly until the device reports a settled reading."""

    def __init__(self, info: DeviceInfo, register_map: RegisterMap, options: ModbusOptions):
        super().__init__(info)
        self.register_map = register_map
        self.options = options

    # ----------------------------------------------------------------- errors

    def _who(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "role": self.info.role}

    @property
    def _noun(self) -> str:
        return _NOUN_ES.get(str(self.info.role), "El equipo")

    @property
    def _where(self) -> str:
        return f"Modbus device {self.options.device_id} on {self.info.address}"

    async def _open(self, link: _Link) -> None:
        if await link.connect():
            return
        exc = await asyncio.to_thread(_diagnose_open, self.info.address, self.options)
        text = str(exc) if exc is not None else "pymodbus could not connect"
        err = getattr(exc, "errno", None)
        if err in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text:
            raise DeviceBusy(f"port {self.info.address} is in use: {text}", **self._who())
        if exc is not None:
            raise DeviceNotFound(self.info.address, **self._who()) from exc
        raise ConnectionFailed(
            f"could not open {self.info.address}: {text}",
            advice_es=f"{self._noun} no se pudo conectar: revise el cable y presione Reintentar",
            **self._who(),
        )

    def _lost(self, message: str) -> ConnectionLost:
        return ConnectionLost(
            message,
            advice_es=(
                f"{self._noun} se desconectó durante la medición: revise que el cable esté "
                "bien conectado y presione Reintentar"
            ),
            **self._who(),
        )

    def _exception_error(self, adu: modbus_rtu.Adu) -> DeviceReportedError:
        code = adu.exception_code or 0
        name = modbus_rtu.EXCEPTION_CODES.get(code, f"exception_{code}")
        message = (
            f"{self._where} answered Modbus exception {code} ({name}) to function "
            f"0x{adu.base_function:02X} at register {self.register_map.register_number}"
        )
        noun = self._noun
        # the adjective and pronouns agree with the device's noun (la báscula, el estadímetro)
        feminine = noun.startswith("La ")
        if code in (0x01, 0x02, 0x03):
            advice = (
                f"{noun} no reconoce la lectura configurada (código {code}): avise al técnico "
                "para revisar el perfil y el número de equipo"
            )
        elif code == 0x04:
            advice = (
                f"{noun} reporta una falla interna (código 4): "
                f"{'apáguela, enciéndala' if feminine else 'apáguelo, enciéndalo'} y "
                "presione Reintentar"
            )
        elif code in TRANSIENT_EXCEPTIONS:
            busy = "ocupada" if feminine else "ocupado"
            advice = f"{noun} está {busy}: espere unos segundos y presione Reintentar"
        else:
            advice = (
                f"{noun} reportó un error de comunicación (código {code}): revise el cable "
                "y presione Reintentar"
            )
        return DeviceReportedError(message, advice_es=advice, **self._who())

    def _failure_error(self, failure: Failure, attempts: int, answered: bool) -> DeviceError:
        if failure == "silent":
            message = f"no answer from {self._where} after {attempts} requests"
            if answered:
                message = f"{self._where} stopped answering ({attempts} requests unanswered)"
            return DeviceTimeout(message, timeout_s=self.options.request_timeout_s, **self._who())
        what = {
            "checksum": "answers with a bad CRC",
            "truncated": "truncated answers",
            "noise": "unreadable bytes instead of answers",
        }[failure]
        return DeviceReportedError(
            f"{attempts} {what} from {self._where}",
            advice_es=(
                f"{self._noun} envía datos dañados: revise el cable y la configuración "
                "(velocidad, paridad, número de equipo) y presione Reintentar"
            ),
            **self._who(),
        )

    def _reading_timeout(self, state: str | None, answered: bool) -> DeviceTimeout:
        timeout_s = self.options.timeout_s
        if not answered:
            return DeviceTimeout(
                f"no answer from {self._where} within {timeout_s:g} s",
                timeout_s=timeout_s,
                **self._who(),
            )
        height = self.register_map.kind is MeasurementKind.BODY_HEIGHT
        if state == "no_target":
            advice = (
                f"{self._noun} no detecta a la persona: pídale que se pare derecha bajo el "
                "sensor y presione Reintentar"
            )
        elif state == "empty":
            advice = "La báscula no detecta peso: pida al paciente subir y presione Reintentar"
        elif height:
            advice = (
                f"{self._noun} no termina de medir: pida a la persona quedarse quieta bajo el "
                "sensor y presione Reintentar"
            )
        else:
            advice = (
                f"{self._noun} no se estabiliza: pida al paciente quedarse quieto en el centro "
                "y presione Reintentar"
            )
        return DeviceTimeout(
            f"no settled reading from {self._where} within {timeout_s:g} s (last: {state})",
            timeout_s=timeout_s,
            advice_es=advice,
            **self._who(),
        )

    def _range_error(self, m: Measurement) -> DeviceReportedError:
        what = m.special.value if m.special is not None else ",".join(m.flags)
        if self.register_map.kind is MeasurementKind.BODY_HEIGHT:
            advice = (
                f"{self._noun} marca fuera de rango: verifique que la persona esté bajo el "
                "sensor, sin gorra ni peinado alto, y presione Reintentar"
            )
        else:
            advice = (
                f"{self._noun} marca sobrecarga o fuera de rango: pida al paciente bajar, "
                "espere el cero y presione Reintentar"
            )
        return DeviceReportedError(
            f"{self._where} reports out of range ({what})", advice_es=advice, **self._who()
        )

    # ----------------------------------------------------------------- reading

    async def _read_block(
        self, link: _Link, deadline: float, answered: bool
    ) -> tuple[bytes, list[int]]:
        """One block of registers, with bounded retries; typed errors when it fails."""
        opts = self.options
        loop = asyncio.get_running_loop()
        worst: Failure = "silent"
        rank: dict[Failure, int] = {"silent": 0, "noise": 1, "truncated": 2, "checksum": 3}
        attempts = 0
        busy: modbus_rtu.Adu | None = None
        for _ in range(opts.retries + 1):
            now = loop.time()
            if now >= deadline:
                raise _Expired
            attempts += 1
            until = min(deadline, now + opts.request_timeout_s)
            try:
                frame, adu = await link.read(self.register_map.address, until)
            except _Lost as exc:
                raise self._lost(f"{self._where} disappeared during the reading") from exc
            except ConnectionException as exc:
                raise self._lost(f"{self._where}: the port closed: {exc}") from exc
            except (TimeoutError, ModbusException, ProtocolError):
                if link.lost.is_set():
                    raise self._lost(f"{self._where} disappeared during the reading") from None
                failure = link.failure()
                if rank[failure] > rank[worst]:
                    worst = failure
                if loop.time() >= deadline and worst == "silent":
                    raise _Expired from None
                continue
            if adu.direction == "exception":
                if adu.exception_code not in TRANSIENT_EXCEPTIONS:
                    raise self._exception_error(adu)
                busy = adu  # acknowledge / busy: ask again shortly
                await asyncio.sleep(min(opts.poll_interval_s, max(0.0, deadline - loop.time())))
                continue
            return frame, list(adu.registers or ())
        if busy is not None:
            # the device answered and said it is busy: bytes that failed around that answer
            # are most likely its late replies to a try that timed out, not a bad cable
            raise self._exception_error(busy)
        raise self._failure_error(worst, attempts, answered)

    async def measure(
        self, progress: ProgressCallback = no_progress, check: RecordCheck | None = None
    ) -> list[Measurement]:
        self.last_raw = []
        opts = self.options
        regmap = self.register_map
        loop = asyncio.get_running_loop()
        deadline = loop.time() + opts.timeout_s
        await emit(progress, Progress(ProgressStage.CONNECTING, self.device_id, "opening port"))
        link = _Link(self.info.address, opts, regmap.function, regmap.count)
        answered = False
        state: str | None = None
        try:
            await self._open(link)
            await emit(progress, Progress(ProgressStage.WAITING, self.device_id, "waiting"))
            needed = opts.stable_reads or (
                1 if regmap.status is not None and regmap.status.unstable else 2
            )
            last_value: float | None = None
            streak = 0
            shown: tuple[str, list[int]] | None = None
            while True:
                try:
                    frame, registers = await self._read_block(link, deadline, answered)
                except _Expired:
                    raise self._reading_timeout(state, answered) from None
                answered = True
                try:
                    measurements = regmap.decode(registers)
                except ProtocolError as exc:
                    raise DeviceReportedError(
                        f"{self._where} sent a block that does not decode: {exc.message}",
                        **self._who(),
                    ) from exc
                state, value = self._judge(measurements)
                streak = streak + 1 if value is not None and value == last_value else 1
                last_value = value
                if value is not None and streak >= needed:
                    self.last_raw = [RawFrame(PROTOCOL, frame)]
                    break
                if shown != (state, registers):  # report changes, not every poll
                    shown = (state, registers)
                    await emit(
                        progress,
                        Progress(
                            ProgressStage.PROGRESS,
                            self.device_id,
                            _STATE_MESSAGES.get(state, state),
                            measurements[0] if measurements else None,
                            detail={"state": state, "registers": registers},
                        ),
                    )
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise self._reading_timeout(state, answered)
                await asyncio.sleep(min(opts.poll_interval_s, remaining))
        finally:
            link.close()
        await emit(progress, Progress(ProgressStage.DONE, self.device_id, "settled reading"))
        return measurements

    def _judge(self, measurements: list[Measurement]) -> tuple[str, float | None]:
        """``ok`` with the value, or why this block is not a reading yet."""
        if not measurements:
            return (
                "no_target" if self.register_map.kind is MeasurementKind.BODY_HEIGHT else "empty"
            ), None
        m = measurements[0]
        if m.special is not None or {"overload", "underload"} & set(m.flags):
            raise self._range_error(m)
        if m.value is None or not math.isfinite(m.value):
            raise self._range_error(m)
        if "unstable" in m.flags:
            return "unstable", None
        if (
            self.register_map.kind is MeasurementKind.BODY_WEIGHT
            and m.value < self.options.min_weight_kg
        ):
            return "empty", None
        return "ok", m.value

    async def probe(self) -> str:
        """One read of the block: what the device holds right now (``cart devices test``)."""
        link = _Link(
            self.info.address, self.options, self.register_map.function, self.register_map.count
        )
        loop = asyncio.get_running_loop()
        try:
            await self._open(link)
            deadline = loop.time() + self.options.request_timeout_s * (self.options.retries + 1)
            try:
                _, registers = await self._read_block(link, deadline, False)
            except _Expired:
                raise self._reading_timeout(None, False) from None
        finally:
            link.close()
        record = self.register_map.record(registers)
        values = (
            ", ".join(
                f"{m.value if m.value is not None else m.special} {m.unit}"
                for m in self.register_map.decode(registers)
            )
            or "no reading"
        )
        return (
            f"{self._where}: {record['map']} at {record['register_number']}, "
            f"registers {registers}: {values}"
        )


def _diagnose_open(url: str, opts: ModbusOptions) -> Exception | None:
    """Why pymodbus could not open ``url``: open it the same way and return the error."""
    try:
        port = serial.serial_for_url(
            url,
            exclusive=True,
            baudrate=opts.baudrate,
            bytesize=opts.bytesize,
            parity=opts.parity,
            stopbits=opts.stopbits,
            timeout=0,
        )
    except (serial.SerialException, OSError, ValueError) as exc:
        return exc
    port.close()
    return None


# --------------------------------------------------------------------------- build

_DRIVER_KEYS: Final = frozenset(
    {
        "device_id",
        "profile",
        "baudrate",
        "bytesize",
        "parity",
        "stopbits",
        "retries",
        "request_timeout_s",
        "poll_interval_s",
        "stable_reads",
        "min_weight_kg",
        "handle_local_echo",
        "exclusive",
    }
)
_UNSUPPORTED_KEYS: Final = frozenset({"dtr", "rts", "xonxoff", "rtscts"})


def _int(cfg: DeviceConfig, key: str, default: int, low: int, high: int) -> int:
    value = cfg.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"device {cfg.id!r}: option {key!r} must be an integer {low}..{high}, not {value!r}"
        )
    return value


def _float(cfg: DeviceConfig, key: str, default: float, low: float, high: float) -> float:
    value = cfg.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(
            f"device {cfg.id!r}: option {key!r} must be a number {low:g}..{high:g}, not {value!r}"
        )
    return float(value)


def _choice(cfg: DeviceConfig, key: str, default: Any, allowed: tuple[Any, ...]) -> Any:
    value = cfg.options.get(key, default)
    if isinstance(value, bool) or value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ConfigError(f"device {cfg.id!r}: option {key!r} must be one of {choices}")
    return value


def parse_options(cfg: DeviceConfig) -> tuple[RegisterMap, ModbusOptions]:
    """The register map and link options of a devices.toml entry; ConfigError names the key."""
    opts: Mapping[str, Any] = cfg.options
    for key in sorted(_UNSUPPORTED_KEYS & set(opts)):
        raise ConfigError(
            f"device {cfg.id!r}: option {key!r} is not supported on the modbus transport "
            "(pymodbus does not drive the modem lines or flow control)"
        )
    if opts.get("exclusive", True) is not True:
        raise ConfigError(
            f"device {cfg.id!r}: option 'exclusive' cannot be turned off: pymodbus always "
            "opens Modbus ports exclusively"
        )
    profile = opts.get("profile")
    if not isinstance(profile, str):
        known = ", ".join(sorted(modbus_maps.PROFILES))
        raise ConfigError(f"device {cfg.id!r}: option 'profile' is required (one of {known})")
    map_options = {k: v for k, v in opts.items() if k not in _DRIVER_KEYS}
    try:
        register_map = modbus_maps.build_map(profile, **map_options)
    except ConfigError as exc:
        raise ConfigError(f"device {cfg.id!r}: {exc.message}") from exc
    stable = opts.get("stable_reads")
    echo = opts.get("handle_local_echo", False)
    if not isinstance(echo, bool):
        raise ConfigError(f"device {cfg.id!r}: option 'handle_local_echo' must be true or false")
    options = ModbusOptions(
        device_id=_int(cfg, "device_id", 1, 1, 247),
        baudrate=_int(cfg, "baudrate", 9600, 300, 4_000_000),
        bytesize=_choice(cfg, "bytesize", 8, (8,)),
        parity=_choice(cfg, "parity", "N", ("N", "E", "O")),
        stopbits=_choice(cfg, "stopbits", 1, (1, 2)),
        retries=_int(cfg, "retries", DEFAULT_RETRIES, 0, MAX_RETRIES),
        request_timeout_s=_float(cfg, "request_timeout_s", DEFAULT_REQUEST_TIMEOUT_S, 0.01, 10),
        poll_interval_s=_float(cfg, "poll_interval_s", DEFAULT_POLL_INTERVAL_S, 0, 5),
        timeout_s=cfg.timeout_s,
        stable_reads=None if stable is None else _int(cfg, "stable_reads", 1, 1, 10),
        min_weight_kg=_float(cfg, "min_weight_kg", DEFAULT_MIN_WEIGHT_KG, 0, 50),
        handle_local_echo=echo,
    )
    return register_map, options


def build(cfg: DeviceConfig, info: DeviceInfo, **_: Any) -> ModbusDriver:
    """``cart.drivers.factory`` entry point for (``modbus``, ``modbus.rtu``)."""
    register_map, options = parse_options(cfg)
    return ModbusDriver(info, register_map, options)
