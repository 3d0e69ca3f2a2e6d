"""A Modbus RTU device on a pty: a pymodbus server behind a fault-injecting null-modem cable.

Profiles (register maps from :mod:`cart.protocols.modbus_maps`; the simulator fills its
registers with the map's ``encode``, so what it serves is exactly what the map decodes):

``height_rod``  ultrasonic height rod: height (mm) + status word. A reading starts with a
    few "measuring" answers (status bit 0, the value still moving) before it settles.
``cas_ci600d``  CAS CI-600D style indicator: 32-bit weight with implied decimals at 40008.
``eagle_ei``    Eagle EI style indicator: float32 weight at 0x2000 (kg) / 0x1000 (lb).
    Indicators have no motion bit in these maps; while settling they serve a weight that
    is still changing, as the display does.

The server is ``pymodbus.server.ModbusSerialServer`` with the 3.16 ``SimDevice`` /
``SimData`` datastore; a ``SimDevice`` action recomputes the registers on every read, so
the reading evolves with time and with the number of reads. The server opens
``bridge.device_path``; drivers open :attr:`ModbusDeviceSimulator.port`. Like a real RTU
device, it stays silent for requests addressed to another device id.

Faults (``ModbusDeviceConfig.fault``, from :class:`simulators.faults.Fault`) are applied
on the wire, frame by frame (device->host bytes are cut into ADUs with
:class:`cart.protocols.modbus_rtu.RtuFramer`): noise bytes before each answer, a
corrupted register byte (``broken_frame``) or CRC (``checksum``), answers cut in half
(``truncated``), no answer at all (``silence``), the cable pulled out after
``unplug_after`` answers (``unplug``), and over-range status (``overload``, in the
registers). ``exception_code`` makes the device answer every read with a Modbus exception.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from cart.devices import DeviceConfig, Role
from cart.errors import ConfigError
from cart.measurement import KIND_INFO, Measurement, MeasurementKind, Special
from cart.protocols.base import NeedData
from cart.protocols.modbus_maps import PROFILES, RegisterMap, build_map
from cart.protocols.modbus_rtu import RtuFramer
from simulators.faults import Fault, noise
from simulators.pty_bridge import PtyBridge

__all__ = [
    "ModbusDeviceConfig",
    "ModbusDeviceSimulator",
    "start_modbus_height_rod",
]

#: Modbus exception codes a device may answer with (Application Protocol V1.1b3 §7)
EXCEPTION_CODES: Final = frozenset(int(code) for code in ExcCodes)


@dataclass(frozen=True, slots=True)
class ModbusDeviceConfig:
    """What the simulated device is and how it behaves. Validated on construction."""

    profile: str = "height_rod"
    """``height_rod``, ``cas_ci600d`` or ``eagle_ei`` (see :data:`modbus_maps.PROFILES`)."""
    map_options: Mapping[str, Any] = field(default_factory=dict)
    """Profile options, as in devices.toml: ``word_order``, ``decimals``, ``unit``..."""
    value: float | None = 165.0
    """The reading in the kind's canonical unit (cm for height, kg for weight). None: nobody
    there (a height rod reports "no target"; an indicator shows an empty platform, 0 kg)."""
    device_id: int = 1
    baudrate: int = 9600
    settle_s: float = 1.5
    """Seconds from the first read of a reading until the value settles."""
    unstable_reads: int = 2
    """Reads answered "measuring"/still moving at least, whatever the time."""
    session_gap_s: float = 2.0
    """A pause between reads longer than this starts a new reading (the next patient)."""
    fault: Fault = Fault.NONE
    exception_code: int | None = None
    """Answer every read with this Modbus exception (e.g. 4, server device failure)."""
    unplug_after: int = 2
    """``unplug``: answers delivered before the cable is pulled out (on the next one)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(sorted(PROFILES))}")
        object.__setattr__(self, "map_options", MappingProxyType(dict(self.map_options)))
        object.__setattr__(self, "fault", Fault(self.fault))
        if not 1 <= self.device_id <= 247:
            raise ValueError("device_id must be 1..247 (0 is broadcast)")
        if self.baudrate <= 0:
            raise ValueError("baudrate must be positive")
        if self.settle_s < 0 or self.session_gap_s <= 0:
            raise ValueError("settle_s must be >= 0 and session_gap_s > 0")
        if self.unstable_reads < 0 or self.unstable_reads > 1000:
            raise ValueError("unstable_reads must be 0..1000")
        if self.unplug_after < 0:
            raise ValueError("unplug_after must not be negative")
        if self.exception_code is not None and self.exception_code not in EXCEPTION_CODES:
            codes = ", ".join(str(c) for c in sorted(EXCEPTION_CODES))
            raise ValueError(f"exception_code must be one of {codes}")
        if self.value is not None and not 0 <= self.value < 1_000_000:
            raise ValueError("value must be between 0 and 999999")
        regmap = self.register_map()  # raises ValueError on bad map options
        try:  # every block the device will serve must be encodable by the map
            for unstable in (False, True):
                _encode(regmap, self.value, unstable=unstable)
            if self.fault is Fault.OVERLOAD:
                _encode(regmap, None, overload=True)
        except ValueError as exc:
            raise ValueError(f"{self.profile} cannot serve this reading: {exc}") from exc

    def register_map(self) -> RegisterMap:
        try:
            return build_map(self.profile, **self.map_options)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc

    @property
    def kind(self) -> MeasurementKind:
        return self.register_map().kind

    @classmethod
    def fast(cls, **kwargs: Any) -> ModbusDeviceConfig:
        """Near-zero settling for tests: still two "measuring" reads before the value."""
        base: dict[str, Any] = {"settle_s": 0.0, "unstable_reads": 2, "session_gap_s": 1.0}
        base.update(kwargs)
        return cls(**base)

    def driver_options(self) -> dict[str, Any]:
        """The devices.toml options that make ``cart.drivers.modbus`` read this device."""
        return {
            "device_id": self.device_id,
            "profile": self.profile,
            "baudrate": self.baudrate,
            **dict(self.map_options),
        }


def _encode(
    regmap: RegisterMap, value: float | None, *, unstable: bool = False, overload: bool = False
) -> list[int]:
    """The register block for a reading (value in the kind's canonical unit)."""
    kind = regmap.kind
    if overload:
        return regmap.encode(Measurement.create(kind, None, special=Special.POS_INF))
    if value is None:
        if regmap.status is not None and regmap.status.invalid:
            return regmap.encode(None)  # "no target"
        value = 0.0  # an indicator with nothing on the platform shows zero
    flags = ("unstable",) if unstable and regmap.status is not None else ()
    return regmap.encode(Measurement.create(kind, value, KIND_INFO[kind].unit), flags=flags)


class ModbusDeviceSimulator:
    """Runs a :class:`ModbusDeviceConfig`; ``port`` is the path a driver opens."""

    def __init__(self, config: ModbusDeviceConfig | None = None) -> None:
        self.config = config or ModbusDeviceConfig()
        self.register_map = self.config.register_map()
        self._rng = random.Random(self.config.seed)
        self._bridge = PtyBridge(manipulate=self._on_wire)
        self._framer = RtuFramer("client")
        self._server: ModbusSerialServer | None = None
        self._value = self.config.value
        self._session_start: float | None = None
        self._session_reads = 0
        self._last_read_at = 0.0
        #: read requests the device answered (before wire faults)
        self.reads = 0
        #: answers that reached the wire's far end (after faults; dropped ones not counted)
        self.answers_delivered = 0
        #: ``noise``: junk bytes put on the wire so far
        self.noise_bytes = 0

    # ----------------------------------------------------------------- public

    @property
    def port(self) -> str:
        """The host end of the cable: what devices.toml names as ``port``."""
        return self._bridge.host_path

    @property
    def device_path(self) -> str:
        return self._bridge.device_path

    @property
    def bridge(self) -> PtyBridge:
        return self._bridge

    def set_value(self, value: float | None) -> None:
        """A new patient: the next read starts a new measuring phase with ``value``."""
        self._value = value
        self._session_start = None

    def registers(self) -> list[int]:
        """The block the device would serve right now (advances no state)."""
        return self._block(self._settled())

    def device_config(
        self, name: str, /, role: Role | None = None, *, timeout_s: float = 30.0, **extra: Any
    ) -> DeviceConfig:
        """A devices.toml entry ``name`` pointing ``cart.drivers.modbus`` at this simulator.

        ``extra`` adds or overrides driver options (``retries``, ``word_order``...).
        """
        if role is None:
            kind = self.register_map.kind
            role = Role.STADIOMETER if kind is MeasurementKind.BODY_HEIGHT else Role.SCALE
        return DeviceConfig(
            id=name,
            role=role,
            driver="modbus.rtu",
            transport="modbus",
            port=self.port,
            timeout_s=timeout_s,
            options={**self.config.driver_options(), **extra},
        )

    async def start(self) -> ModbusDeviceSimulator:
        cfg = self.config
        await self._bridge.start()
        device = SimDevice(
            id=cfg.device_id,
            simdata=[
                SimData(
                    self.register_map.address,  # SimData maps address 0 to 0: no off-by-one
                    values=self._block(settled=False),
                    datatype=DataType.REGISTERS,
                )
            ],
            action=self._on_access,
        )
        self._server = ModbusSerialServer(
            device,
            framer=FramerType.RTU,
            port=self._bridge.device_path,
            baudrate=cfg.baudrate,
            ignore_missing_devices=True,  # an RTU device ignores frames for other ids
        )
        try:
            await self._server.serve_forever(background=True)
            await asyncio.sleep(0)  # let the transport's setup() run before anyone closes it
        except BaseException:
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]
            await asyncio.sleep(0)  # let a request handled right now finish
        # Close the host end first: a pump whose cancellation is swallowed (3.11's
        # wait_for, when its read completes at the same moment) still sees the closed
        # port and ends, instead of running on and hanging PtyBridge.stop().
        self._bridge.unplug()
        await self._bridge.stop()

    async def __aenter__(self) -> ModbusDeviceSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- behaviour

    def _settled(self) -> bool:
        if self._session_start is None:
            return False
        elapsed = asyncio.get_running_loop().time() - self._session_start
        return self._session_reads > self.config.unstable_reads and (
            elapsed >= self.config.settle_s
        )

    def _block(self, settled: bool) -> list[int]:
        cfg = self.config
        if cfg.fault is Fault.OVERLOAD:
            return _encode(self.register_map, None, overload=True)
        value = self._value
        if settled or value is None:
            return _encode(self.register_map, value)
        # still measuring: a value approaching the final one from below
        steps = max(cfg.unstable_reads, 1)
        progress = min(self._session_reads, steps) / (steps + 1)
        return _encode(self.register_map, value * (0.6 + 0.4 * progress), unstable=True)

    async def _on_access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus SimDevice action: refresh the block before the server reads it."""
        if set_values is not None:
            return ExcCodes.ILLEGAL_ADDRESS  # the reading registers are read-only
        self.reads += 1
        if self.config.exception_code is not None:
            return ExcCodes(self.config.exception_code)
        now = asyncio.get_running_loop().time()
        if self._session_start is None or now - self._last_read_at > self.config.session_gap_s:
            self._session_start = now
            self._session_reads = 0
        self._last_read_at = now
        self._session_reads += 1
        block = self._block(self._settled())
        offset = self.register_map.address - start_address
        registers[offset : offset + len(block)] = block
        return None

    # ----------------------------------------------------------------- the wire

    def _on_wire(self, data: bytes) -> bytes:
        """Device->host bytes: cut into ADUs, apply the fault to each answer."""
        self._framer.feed(data)
        out = bytearray()
        while not isinstance(frame := self._framer.next_frame(), NeedData):
            out += self._fault(frame)
        return bytes(out)

    def _fault(self, frame: bytes) -> bytes:
        if frame[0] != self.config.device_id:
            # pymodbus 3.16's SimCore answers an unknown id with exception 4 despite
            # ignore_missing_devices (KeyError); a real RTU device stays silent
            return b""
        fault = self.config.fault
        if fault is Fault.SILENCE:
            return b""
        if fault is Fault.UNPLUG and self.answers_delivered >= self.config.unplug_after:
            asyncio.get_running_loop().call_soon(self._bridge.unplug)
            return b""
        self.answers_delivered += 1
        if fault is Fault.NOISE:
            junk = noise(self._rng)
            self.noise_bytes += len(junk)
            return junk + frame
        if fault is Fault.CHECKSUM:
            return frame[:-2] + bytes([frame[-2] ^ 0x5A, frame[-1] ^ 0xA5])
        if fault is Fault.BROKEN_FRAME:
            broken = bytearray(frame)
            broken[-3] ^= 1 << self._rng.randrange(8)  # one bit flipped in the data
            return bytes(broken)
        if fault is Fault.TRUNCATED:
            return frame[: len(frame) // 2]
        return frame


async def start_modbus_height_rod(
    fast: bool, height_cm: float, *, device_id: str = "estadimetro", fault: Fault = Fault.NONE
) -> tuple[ModbusDeviceSimulator, DeviceConfig]:
    """A started Modbus height rod and the devices.toml entry for it (``simulators.world``).

    Stop it with ``await simulator.stop()``.
    """
    make = ModbusDeviceConfig.fast if fast else ModbusDeviceConfig
    config = make(profile="height_rod", value=height_cm, fault=fault)
    simulator = await ModbusDeviceSimulator(config).start()
    return simulator, simulator.device_config(
        device_id, Role.STADIOMETER, timeout_s=10.0 if fast else 30.0
    )
