"""A whole simulated cart: one simulator per device, and the devices.toml that names them.

Used by `cart serve --simulate`, `cart simulate` and the end-to-end tests. Each
simulator speaks its device's wire protocol over a real transport; the returned
device list points the drivers at them exactly as a technician's devices.toml would.

The default cart: an A&D-format scale on a serial pty, a Modbus RTU height rod (a
pymodbus server behind a pty bridge), a Bluetooth cuff that streams
its cuff pressure, and a Bluetooth glucometer with stored records (``bp="serial"`` swaps
the cuff for an Accutorr-style serial monitor). BLE peripherals live on a bumble
virtual link, ``ble_link``, which the service's radio joins as the central; with
``hci_tcp=True`` that link is also offered over TCP (``ble_transport``), so a service in
another process reaches the same devices.

A :class:`~simulators.scenario.Scenario` changes what each device holds and does: stored
records (ages, user ids), no new reading, clock skew, a stuck or read-only clock, faults
(see :mod:`simulators.scenario_configs`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from cart.devices import DeviceConfig, Role, dump_devices
from simulators.ble.config import GlucometerConfig, GlucoseRecord
from simulators.ble.hci_server import HciTcpServer
from simulators.ble.world import VirtualBleWorld, start_virtual_ble_world
from simulators.modbus_device import start_modbus_height_rod
from simulators.scenario import Scenario
from simulators.scenario_configs import PatientScript, ScenarioConfigs
from simulators.serial_bp import AccutorrSimulator
from simulators.serial_glucometer import simulator_for
from simulators.serial_scale import SerialScaleSimulator

__all__ = ["PatientScript", "SimulatedCart"]


@dataclass
class SimulatedCart:
    """Start with ``async with SimulatedCart(fast=True) as cart: cart.devices``.

    ``scenario`` (when given) decides the cuff and glucometer kinds and overrides the
    ``patient`` values it names; ``bp`` and ``glucometer`` are then ignored.
    """

    fast: bool = False
    patient: PatientScript = field(default_factory=PatientScript)
    bp: Literal["ble", "serial"] = "ble"
    glucometer: bool = True
    scenario: Scenario | None = None
    hci_tcp: bool = False
    """Also serve the BLE link as an HCI controller on 127.0.0.1 (another process's cart)."""
    hci_port: int = 0
    """The TCP port for ``hci_tcp`` (0: a free one)."""
    devices: list[DeviceConfig] = field(default_factory=list)
    ble: VirtualBleWorld | None = None
    hci_server: HciTcpServer | None = None
    _stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def start(self) -> SimulatedCart:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start(self) -> None:
        scenario = self.scenario or Scenario(
            bp=self.bp, glucometer="ble" if self.glucometer else "none"
        )
        configs = ScenarioConfigs(scenario.validated(), self.patient, fast=self.fast)
        ble_devices: list[str] = []
        if scenario.scale == "serial":
            await self._start_serial_scale(configs)
        else:
            ble_devices.append("scale")
        rod, rod_cfg = await start_modbus_height_rod(
            self.fast, configs.patient.height_cm, fault=configs.serial_fault("estadimetro")
        )
        self._stops.append(rod.stop)
        self.devices.append(rod_cfg)
        if scenario.bp == "serial":
            await self._start_serial_bp(configs)
        else:
            ble_devices.append("bp")
        if scenario.glucometer == "ble":
            ble_devices.append("glucometer")
        elif scenario.glucometer != "none":
            await self._start_serial_glucometer(configs, scenario.glucometer)
        if ble_devices:
            await self._start_ble(ble_devices, configs, default=self.scenario is None)

    async def _start_serial_scale(self, configs: ScenarioConfigs) -> None:
        scale = await SerialScaleSimulator(configs.serial_scale()).start()
        self._stops.append(scale.stop)
        self.devices.append(
            DeviceConfig(
                id="bascula",
                role=Role.SCALE,
                driver="and.weighing",
                transport="serial",
                port=scale.port,
                timeout_s=10.0 if self.fast else 30.0,
                options={"baudrate": 9600},
            )
        )

    async def _start_serial_bp(self, configs: ScenarioConfigs) -> None:
        cuff = await AccutorrSimulator(configs.serial_bp()).start()
        self._stops.append(cuff.stop)
        self.devices.append(
            DeviceConfig(
                id="baumanometro",
                role=Role.BP,
                driver="datascope.accutorr",
                transport="serial",
                port=cuff.port,
                timeout_s=10.0 if self.fast else 90.0,
                options={"baudrate": 9600, "poll_s": 0.05 if self.fast else 1.0},
            )
        )

    async def _start_serial_glucometer(self, configs: ScenarioConfigs, family: str) -> None:
        meter = await simulator_for(family, configs.serial_glucometer()).start()
        self._stops.append(meter.stop)
        self.devices.append(
            DeviceConfig(
                id="glucometro",
                role=Role.GLUCOMETER,
                driver=family,
                transport="serial",
                port=meter.port,
                timeout_s=10.0 if self.fast else 60.0,
            )
        )

    async def _start_ble(self, which: list[str], configs: ScenarioConfigs, default: bool) -> None:
        bp = configs.ble_bp() if "bp" in which else None
        glucometer = configs.ble_glucometer() if "glucometer" in which else None
        scale = configs.ble_scale() if "scale" in which else None
        if default and glucometer is not None:
            glucometer = self._default_glucometer(configs)
        self.ble = await start_virtual_ble_world(
            fast=self.fast,
            devices=[d for d in which if not configs.switched_off(d)],
            scale=None if configs.switched_off("scale") else scale,
            bp=None if configs.switched_off("bp") else bp,
            glucometer=None if configs.switched_off("glucometer") else glucometer,
        )
        self._stops.append(self.ble.stop)
        if self.hci_tcp:
            self.hci_server = await HciTcpServer(self.ble.link, port=self.hci_port).start()
            self._stops.append(self.hci_server.stop)
        ids = {Role.SCALE: "bascula", Role.BP: "baumanometro", Role.GLUCOMETER: "glucometro"}
        for cfg in self.ble.device_configs():
            self.devices.append(
                DeviceConfig(
                    id=ids.get(cfg.role, cfg.id),
                    role=cfg.role,
                    driver=cfg.driver,
                    transport=cfg.transport,
                    address=cfg.address,
                    name=cfg.name,
                    timeout_s=cfg.timeout_s,
                    options=dict(cfg.options),
                )
            )
        # a switched-off device (fault "silence") is still configured: the cart looks for it
        for name, config in (("bp", bp), ("glucometer", glucometer), ("scale", scale)):
            if config is not None and configs.switched_off(name):
                self.devices.append(configs.absent_ble_device(name, config))

    def _default_glucometer(self, configs: ScenarioConfigs) -> GlucometerConfig:
        """The demo meter: three days of history, and a fresh reading per screening."""
        p = configs.patient
        records = (
            GlucoseRecord(97.0, timedelta(days=3), meal="fasting"),
            GlucoseRecord(131.0, timedelta(days=1), meal="postprandial"),
            GlucoseRecord(p.glucose_mg_dl, timedelta(minutes=1)),
        )
        # each screening's patient takes a fresh reading, so a long-running demo keeps
        # working; the first one too: the stored minute-old record has aged by the time a
        # nurse opens the first screening, and the cart rightly refuses it as stale
        fresh = GlucoseRecord(p.glucose_mg_dl)
        make: Any = GlucometerConfig.fast if self.fast else GlucometerConfig
        config: GlucometerConfig = make(
            records=records, reading_on_connect=fresh, reading_on_first_connect=True
        )
        return config

    @property
    def ble_link(self) -> Any:
        """The bumble LocalLink the BLE peripherals are on (None without BLE devices)."""
        return None if self.ble is None else self.ble.link

    @property
    def ble_transport(self) -> str | None:
        """The bumble transport spec a cart in another process uses (with ``hci_tcp``)."""
        return None if self.hci_server is None else self.hci_server.transport_spec

    def write_devices_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# Written by the simulated cart; ports change on every start.\n"
        if self.ble_transport is not None:
            header += f"# Bluetooth: CART_BLE_TRANSPORT={self.ble_transport}\n"
        path.write_text(header + "\n" + dump_devices(self.devices), encoding="utf-8")

    async def stop(self) -> None:
        while self._stops:
            stop = self._stops.pop()
            with contextlib.suppress(Exception):
                await stop()
        self.devices.clear()

    async def __aenter__(self) -> SimulatedCart:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
