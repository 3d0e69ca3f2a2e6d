"""A virtual BLE world: one in-process radio (bumble LocalLink) and the three peripherals.

For tests and ``cart serve --simulate``::

    world = await start_virtual_ble_world(fast=True)
    adapter = await BumbleAdapter.open_on_link(world.link)   # the cart's central
    ...                                                      # drivers, backend=...
    await adapter.close()
    await world.stop()

or ``async with VirtualBleWorld.running(fast=True) as world: ...``. :meth:`device_configs`
gives the ``devices.toml`` entries that point BLE drivers at the simulated devices.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Final

from bumble.link import LocalLink

from cart.devices import DeviceConfig, Role
from simulators.ble._peripheral import BlePeripheral
from simulators.ble.blood_pressure import BloodPressureSimulator
from simulators.ble.config import BloodPressureConfig, GlucometerConfig, WeightScaleConfig
from simulators.ble.glucometer import GlucometerSimulator
from simulators.ble.weight_scale import WeightScaleSimulator

__all__ = ["BLE_DRIVER_IDS", "VirtualBleWorld", "start_virtual_ble_world"]

#: devices.toml ``driver`` ids of the BLE drivers, by role.
BLE_DRIVER_IDS: Final = {
    Role.SCALE: "ble.weight_scale",
    Role.BP: "ble.blood_pressure",
    Role.GLUCOMETER: "ble.glucose",
}
ALL_DEVICES: Final = ("scale", "bp", "glucometer")


@dataclass
class VirtualBleWorld:
    """The link and the running simulators (None for a device left out)."""

    link: LocalLink = field(default_factory=lambda: _new_link())
    scale: WeightScaleSimulator | None = None
    bp: BloodPressureSimulator | None = None
    glucometer: GlucometerSimulator | None = None
    fast: bool = False

    @property
    def peripherals(self) -> list[BlePeripheral]:
        return [p for p in (self.scale, self.bp, self.glucometer) if p is not None]

    async def stop(self) -> None:
        """Stop every peripheral (their tasks, links, advertising and controllers)."""
        for peripheral in reversed(self.peripherals):
            with contextlib.suppress(Exception):
                await peripheral.stop()

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        *,
        fast: bool = False,
        devices: Collection[str] = ALL_DEVICES,
        scale: WeightScaleConfig | None = None,
        bp: BloodPressureConfig | None = None,
        glucometer: GlucometerConfig | None = None,
    ) -> AsyncIterator[VirtualBleWorld]:
        world = await start_virtual_ble_world(
            fast=fast, devices=devices, scale=scale, bp=bp, glucometer=glucometer
        )
        try:
            yield world
        finally:
            await world.stop()

    def device_configs(self) -> list[DeviceConfig]:
        """``devices.toml`` entries for the simulated devices (transport ``ble``)."""
        timeout = 15.0 if self.fast else 180.0
        entries = (
            ("bascula-ble", Role.SCALE, self.scale),
            ("baumanometro-ble", Role.BP, self.bp),
            ("glucometro-ble", Role.GLUCOMETER, self.glucometer),
        )
        return [
            DeviceConfig(
                id=device_id,
                role=role,
                driver=BLE_DRIVER_IDS[role],
                transport="ble",
                address=peripheral.address,
                name=peripheral.name,
                timeout_s=timeout,
            )
            for device_id, role, peripheral in entries
            if peripheral is not None
        ]


async def start_virtual_ble_world(
    *,
    fast: bool = False,
    devices: Collection[str] = ALL_DEVICES,
    scale: WeightScaleConfig | None = None,
    bp: BloodPressureConfig | None = None,
    glucometer: GlucometerConfig | None = None,
    link: LocalLink | None = None,
) -> VirtualBleWorld:
    """Start the chosen peripherals (``devices``) on one link; configs default per ``fast``.

    A config passed explicitly is used as is (and implies its device).
    """
    unknown = set(devices) - set(ALL_DEVICES)
    if unknown:
        raise ValueError(f"unknown BLE devices {sorted(unknown)}; choose from {ALL_DEVICES}")
    world = VirtualBleWorld(link=link or _new_link(), fast=fast)
    try:
        if scale is not None or "scale" in devices:
            config = scale or (WeightScaleConfig.fast() if fast else WeightScaleConfig())
            world.scale = WeightScaleSimulator(world.link, config)
            await world.scale.start()
        if bp is not None or "bp" in devices:
            bp_config = bp or (BloodPressureConfig.fast() if fast else BloodPressureConfig())
            world.bp = BloodPressureSimulator(world.link, bp_config)
            await world.bp.start()
        if glucometer is not None or "glucometer" in devices:
            gl_config = glucometer or (GlucometerConfig.fast() if fast else GlucometerConfig())
            world.glucometer = GlucometerSimulator(world.link, gl_config)
            await world.glucometer.start()
    except BaseException:
        await world.stop()
        raise
    return world


def _new_link() -> LocalLink:
    return LocalLink()  # type: ignore[no-untyped-call]  # bumble leaves __init__ unannotated
