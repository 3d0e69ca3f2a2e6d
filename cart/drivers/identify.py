"""Find the cart's devices and name their protocol family (the technician's device setup).

- :func:`serial_candidates`: the serial ports pyserial's ``list_ports`` sees, the
  ``/dev/serial/by-id`` links, and any path the caller names. ``list_ports`` only lists
  ports backed by a kernel driver it knows (USB, platform UARTs), so a pseudo-terminal
  (the simulators, ``socat``) or a pyserial URL appears only when named explicitly.
- :func:`scan_ble`: the Bluetooth LE advertisers in range through bleak (the OS stack,
  or the bumble backend the service's radio uses), with the family their advertised
  service implies (Weight Scale 0x181D, Blood Pressure 0x1810, Glucose 0x1808).
- :func:`identify_serial`: which family answers on a port, using each family's own
  handshake. Streaming devices are heard without sending anything; then Modbus register
  maps are read with the Modbus driver's own probe; then request/response devices get
  the one harmless request of their dialogue (Accutorr prompt, a meter's version or
  identity query). Nothing here downloads stored records, takes a reading, sets a clock
  or keeps a value: a frame only says which decoder understood it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cart.devices import DeviceConfig, Role
from cart.drivers.serial_transport import SerialSettings, SerialTransport
from cart.errors import CartError, ConfigError, DeviceBusy, DeviceError, ProtocolError
from cart.measurement import MeasurementKind
from cart.protocols import (
    and_weighing,
    datascope_accutorr,
    freestyle_optium,
    indicator_st_gs,
    modbus_maps,
    onetouch_ultra2,
    onetouch_ultraeasy,
    taidoc_td42xx,
    tanita_line,
)
from cart.protocols.base import Decoded, NeedData

__all__ = [
    "BLE_SERVICES",
    "SERIAL_FAMILIES",
    "BleAdvertiser",
    "Identified",
    "SerialCandidate",
    "identify_ble",
    "identify_serial",
    "scan_ble",
    "serial_candidates",
]

log = logging.getLogger(__name__)

#: advertised 16-bit service -> (driver id, the role such a device plays)
BLE_SERVICES: Final[dict[str, tuple[str, Role]]] = {
    "0000181d-0000-1000-8000-00805f9b34fb": ("ble.weight_scale", Role.SCALE),
    "00001810-0000-1000-8000-00805f9b34fb": ("ble.blood_pressure", Role.BP),
    "00001808-0000-1000-8000-00805f9b34fb": ("ble.glucose", Role.GLUCOMETER),
}
BY_ID: Final = Path("/dev/serial/by-id")


@dataclass(frozen=True, slots=True)
class SerialCandidate:
    path: str
    description: str = ""
    hardware_id: str | None = None
    """``vid:pid`` of a USB adapter, when the kernel says."""
    source: str = "system"
    """``system`` (list_ports), ``by-id`` (a stable link), or ``given`` (named by the caller)."""
    present: bool = True


@dataclass(frozen=True, slots=True)
class BleAdvertiser:
    address: str
    name: str | None
    rssi: int | None
    services: tuple[str, ...]
    driver: str | None
    """The Bluetooth SIG profile its services name, if the cart has a driver for it."""
    role: Role | None


@dataclass(frozen=True, slots=True)
class Identified:
    """What answered: enough to write a devices.toml entry."""

    driver: str
    transport: str
    """``serial``, ``modbus`` or ``ble``."""
    role: Role
    """The role such a device usually plays (the technician may choose another)."""
    location: str
    options: dict[str, Any] = field(default_factory=dict)
    """Line settings or Modbus map the family answered with (baudrate, profile...)."""
    evidence: str = ""
    """English: which handshake answered, for the technician and the logs."""

    def config(self, device_id: str, role: Role | None = None, timeout_s: float = 30.0) -> Any:
        """A devices.toml entry for it (``DeviceConfig``)."""
        where: dict[str, Any] = (
            {"address": self.location} if self.transport == "ble" else {"port": self.location}
        )
        return DeviceConfig(
            device_id,
            role or self.role,
            self.driver,
            self.transport,
            timeout_s=timeout_s,
            options=dict(self.options),
            **where,
        )


# --------------------------------------------------------------------------- scanning


def serial_candidates(given: Iterable[str] = ()) -> list[SerialCandidate]:
    """Every serial port the system lists, its by-id links, then ``given`` paths/URLs."""
    from serial.tools import list_ports

    found: dict[str, SerialCandidate] = {}
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        ids = f"{port.vid:04x}:{port.pid:04x}" if port.vid is not None and port.pid else None
        found[port.device] = SerialCandidate(port.device, port.description or "", ids, "system")
    if BY_ID.is_dir():
        for link in sorted(BY_ID.iterdir()):
            target = str(link.resolve())
            known = found.get(target)
            found[str(link)] = SerialCandidate(
                str(link),
                known.description if known else f"-> {target}",
                known.hardware_id if known else None,
                "by-id",
            )
    for path in given:
        path = path.strip()
        if path and path not in found:
            present = "://" in path or Path(path).exists()
            found[path] = SerialCandidate(path, "", None, "given", present)
    return list(found.values())


def identify_ble(services: Iterable[str]) -> tuple[str, Role] | None:
    for uuid in services:
        match = BLE_SERVICES.get(uuid.lower())
        if match is not None:
            return match
    return None


async def scan_ble(backend: Any = None, timeout_s: float = 3.0) -> list[BleAdvertiser]:
    """Advertisers heard within ``timeout_s`` (``backend``: a ``BleBackend``, None: the OS)."""
    from bleak import BleakScanner

    scanner_backend = getattr(backend, "scanner", None)
    heard: dict[str, BleAdvertiser] = {}
    scanner = BleakScanner(backend=scanner_backend)
    async with scanner:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                async with contextlib.aclosing(scanner.advertisement_data()) as ads:
                    async for device, adv in ads:
                        services = tuple(sorted(adv.service_uuids))
                        match = identify_ble(services)
                        heard[device.address] = BleAdvertiser(
                            device.address,
                            adv.local_name or device.name,
                            adv.rssi,
                            services,
                            match[0] if match else None,
                            match[1] if match else None,
                        )
    return sorted(heard.values(), key=lambda a: a.address)


# --------------------------------------------------------------------------- serial probes

#: stream formats a device sends without being asked (scales, scale stations), strictest
#: first: the lenient indicator decoder also reads A&D lines, never the other way round
_STREAMS: Final[tuple[tuple[str, Callable[[], Any], Role], ...]] = (
    ("tanita.line", tanita_line.TanitaStream, Role.SCALE),
    ("and.weighing", and_weighing.WeighingStream, Role.SCALE),
    ("indicator.st_gs", indicator_st_gs.IndicatorStream, Role.SCALE),
)
_ENQ: Final = b"\x05"


@dataclass(frozen=True, slots=True)
class _Ask:
    """One request/response family: the harmless request and what a real answer looks like."""

    driver: str
    baudrate: int
    request: bytes
    answered: Callable[[bytes], bool]
    """Given every byte received so far: is this the family's answer?"""
    role: Role
    what: str


def _decodes(
    stream: Callable[[], Any], accept: Callable[[Decoded], bool]
) -> Callable[[bytes], bool]:
    """An ``answered`` test: the family's stream decoder finds a frame ``accept`` likes."""

    def answered(data: bytes) -> bool:
        decoder = stream()
        decoder.feed(data)
        while True:
            try:
                frame = decoder.next_frame()
            except ProtocolError:
                continue
            if isinstance(frame, NeedData):
                return False
            if accept(frame):
                return True

    return answered


def _not_echo(frame: Decoded) -> bool:
    return frame.record.get("message") != "command" and (
        frame.record.get("direction") != "host_to_meter"
    )


def _taidoc_model(frame: Decoded) -> bool:
    return (
        frame.record.get("command") == taidoc_td42xx.Command.MODEL
        and frame.record.get("direction") == "meter_to_host"
    )


def _accutorr_prompt(data: bytes) -> bool:
    return data.strip(b"\r\n ").endswith(datascope_accutorr.PROMPT)


def _ultraeasy_link_reset_acked(data: bytes) -> bool:
    stream = onetouch_ultraeasy.UltraEasyStream()
    stream.feed(data)
    while True:
        try:
            packet = stream.next_packet()
            if isinstance(packet, NeedData):
                return False
            link = onetouch_ultraeasy.parse_packet(packet).link
        except ProtocolError:
            continue
        if link.disconnect and link.acknowledge:
            return True


#: a line break first, so a meter whose line buffer holds another family's request
#: (sent just before) starts this one on a fresh line
_FRESH_LINE: Final = b"\r\n"

_ASKS: Final[tuple[_Ask, ...]] = (
    _Ask(
        "datascope.accutorr",
        9600,
        datascope_accutorr.COMMAND_PROMPT,
        _accutorr_prompt,
        Role.BP,
        "prompt request (ETX) answered with '>'",
    ),
    _Ask(
        "onetouch.ultra2",
        9600,
        onetouch_ultra2.encode_command(onetouch_ultra2.Command.VERSION),
        _decodes(onetouch_ultra2.Ultra2Stream, _not_echo),
        Role.GLUCOMETER,
        "software version request (DM?) answered",
    ),
    _Ask(
        "onetouch.ultraeasy",
        9600,
        onetouch_ultraeasy.UltraEasyLink().disconnect(),
        _ultraeasy_link_reset_acked,
        Role.GLUCOMETER,
        "link reset acknowledged",
    ),
    _Ask(
        "freestyle.optium",
        19200,
        _FRESH_LINE + freestyle_optium.encode_command("colq"),
        _decodes(freestyle_optium.OptiumStream, _not_echo),
        Role.GLUCOMETER,
        "meter identity request ($colq) answered",
    ),
    _Ask(
        "taidoc.td42xx",
        19200,
        taidoc_td42xx.request_model(),
        _decodes(taidoc_td42xx.TaiDocStream, _taidoc_model),
        Role.GLUCOMETER,
        "model request answered",
    ),
)


#: every serial family identify_serial knows, in the order it tries them
SERIAL_FAMILIES: Final = (
    *(driver for driver, _, _ in _STREAMS),
    "contour.astm",
    "modbus.rtu",
    *(ask.driver for ask in _ASKS),
)


async def identify_serial(
    path: str,
    *,
    families: Collection[str] | None = None,
    listen_s: float = 1.2,
    reply_s: float = 0.6,
    modbus_ids: Sequence[int] = (1,),
) -> Identified | None:
    """The family answering on ``path``, or None when nothing the cart knows answered.

    ``families`` limits the handshakes tried (the technician knows it is a glucometer);
    None tries all, quietest first: listening, then Modbus reads, then one request each.
    DeviceNotFound / DeviceBusy propagate (the port is missing, or in use by a reading).
    """
    wanted = set(SERIAL_FAMILIES if families is None else families)
    unknown = wanted - set(SERIAL_FAMILIES)
    if unknown:
        raise ConfigError(
            f"no serial family {sorted(unknown)}; known: {', '.join(SERIAL_FAMILIES)}"
        )
    streams = [s for s in _STREAMS if s[0] in wanted]
    if streams or "contour.astm" in wanted:
        heard = await _listen(path, listen_s, streams)
        if heard is not None and heard.driver in wanted:
            return heard
    if "modbus.rtu" in wanted:
        for device_id in modbus_ids:
            found = await _modbus(path, device_id)
            if found is not None:
                return found
    for ask in _ASKS:
        if ask.driver in wanted:
            found = await _ask(path, ask, reply_s)
            if found is not None:
                return found
    return None


async def _listen(
    path: str, listen_s: float, streams: Sequence[tuple[str, Callable[[], Any], Role]]
) -> Identified | None:
    """Hear a streaming device; a Contour meter in transfer mode offers ENQ on its own."""
    decoders = [(driver, factory(), role) for driver, factory, role in streams]
    frames = {driver: 0 for driver, _, _ in streams}
    errors = {driver: 0 for driver, _, _ in streams}
    enq = 0
    async with SerialTransport(path, SerialSettings(exclusive=True)) as link:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + listen_s
        while loop.time() < deadline:
            chunk = await link.read_some(deadline)
            if not chunk:
                break
            enq += chunk.count(_ENQ)
            for driver, decoder, _ in decoders:
                decoder.feed(chunk)
                while True:
                    try:
                        frame = decoder.next_frame()
                    except ProtocolError:
                        errors[driver] += 1
                        continue
                    if isinstance(frame, NeedData):
                        break
                    if any(m.kind is MeasurementKind.BODY_WEIGHT for m in frame.measurements):
                        frames[driver] += 1
            for driver, _, role in decoders:
                if frames[driver] >= 2 and frames[driver] > errors[driver]:
                    return Identified(
                        driver,
                        "serial",
                        role,
                        path,
                        {"baudrate": 9600},
                        f"{frames[driver]} {driver} frames heard without asking",
                    )
    if enq:
        return Identified(
            "contour.astm",
            "serial",
            Role.GLUCOMETER,
            path,
            {"baudrate": 9600},
            "the meter offered ENQ (ASTM E1381 transfer mode)",
        )
    return None


async def _ask(path: str, ask: _Ask, reply_s: float) -> Identified | None:
    received = bytearray()
    async with SerialTransport(path, SerialSettings(baudrate=ask.baudrate)) as link:
        await link.write(ask.request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + reply_s
        while True:
            chunk = await link.read_some(deadline)
            if not chunk:
                return None
            received += chunk
            if ask.answered(bytes(received)):
                return Identified(
                    ask.driver, "serial", ask.role, path, {"baudrate": ask.baudrate}, ask.what
                )


#: Modbus maps tried, with the role their measurement implies
_MODBUS_PROFILES: Final = (
    ("height_rod", Role.STADIOMETER),
    ("cas_ci600d", Role.SCALE),
    ("eagle_ei", Role.SCALE),
)


async def _modbus(path: str, device_id: int) -> Identified | None:
    """Read each known register map once with the Modbus driver's own probe."""
    from cart.drivers.factory import build_driver  # imports pymodbus only now

    for profile, role in _MODBUS_PROFILES:
        if profile not in modbus_maps.PROFILES:
            continue
        options: dict[str, Any] = {
            "profile": profile,
            "device_id": device_id,
            "retries": 0,
            "request_timeout_s": 0.5,
        }
        cfg = DeviceConfig("probe", role, "modbus.rtu", "modbus", port=path, options=options)
        driver = build_driver(cfg)
        try:
            await driver.probe()  # one block read; its values are not kept
        except DeviceBusy:
            raise
        except (DeviceError, CartError) as exc:
            log.debug("modbus %s at %s/%d: %s", profile, path, device_id, exc.message)
            continue
        finally:
            await driver.close()
        return Identified(
            "modbus.rtu",
            "modbus",
            role,
            path,
            {"profile": profile, "device_id": device_id},
            f"Modbus RTU device {device_id} answered the {profile} register map",
        )
    return None
