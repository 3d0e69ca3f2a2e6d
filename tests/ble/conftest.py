"""Fixtures for the BLE tests: a virtual BLE world, the cart's bumble central, drivers.

Everything is real: bumble virtual controllers on a LocalLink, bumble GATT servers, the
bleak public API over the project's bumble backend. ``ble`` builds an environment with
the simulator configs a test needs and tears it down afterwards; an autouse fixture
checks that no asyncio task or thread outlives a test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from cart.devices import Role
from cart.drivers.base import DeviceInfo, Progress
from cart.drivers.ble import (
    BleBackend,
    BleBloodPressureDriver,
    BleGlucometerDriver,
    BleSettings,
    BleWeightScaleDriver,
)
from cart.drivers.bumble_bleak import BumbleAdapter
from simulators.ble.config import BloodPressureConfig, GlucometerConfig, WeightScaleConfig
from simulators.ble.world import VirtualBleWorld, start_virtual_ble_world

#: deadlines for the simulated devices: short, but far above what they need
FAST = BleSettings.fast(response_timeout_s=1.0)


@dataclass
class BleEnv:
    world: VirtualBleWorld
    adapter: BumbleAdapter
    progress: list[Progress] = field(default_factory=list)

    @property
    def backend(self) -> BleBackend:
        return BleBackend.from_bumble(self.adapter)

    def record(self, event: Progress) -> None:
        self.progress.append(event)

    def info(
        self,
        role: Role,
        address: str = "",
        device_id: str | None = None,
        *,
        user_id: int | None = None,
        set_clock: bool = False,
    ) -> DeviceInfo:
        driver = {
            Role.SCALE: "ble.weight_scale",
            Role.BP: "ble.blood_pressure",
            Role.GLUCOMETER: "ble.glucose",
        }[role]
        return DeviceInfo(
            device_id or f"{role.value}-ble",
            role,
            driver,
            "ble",
            address,
            user_id=user_id,
            set_clock=set_clock,
        )

    def scale_driver(
        self,
        settings: BleSettings = FAST,
        *,
        user_id: int | None = None,
        set_clock: bool = False,
        **kwargs: Any,
    ) -> BleWeightScaleDriver:
        assert self.world.scale is not None
        return BleWeightScaleDriver(
            self.info(Role.SCALE, self.world.scale.address, user_id=user_id, set_clock=set_clock),
            backend=self.backend,
            settings=settings,
            **kwargs,
        )

    def bp_driver(
        self,
        settings: BleSettings = FAST,
        *,
        user_id: int | None = None,
        set_clock: bool = False,
        **kwargs: Any,
    ) -> BleBloodPressureDriver:
        assert self.world.bp is not None
        return BleBloodPressureDriver(
            self.info(Role.BP, self.world.bp.address, user_id=user_id, set_clock=set_clock),
            backend=self.backend,
            settings=settings,
            **kwargs,
        )

    def glucometer_driver(
        self, settings: BleSettings = FAST, *, set_clock: bool = False, **kwargs: Any
    ) -> BleGlucometerDriver:
        assert self.world.glucometer is not None
        return BleGlucometerDriver(
            self.info(Role.GLUCOMETER, self.world.glucometer.address, set_clock=set_clock),
            backend=self.backend,
            settings=settings,
            **kwargs,
        )

    def stages(self) -> list[str]:
        return [p.stage.value for p in self.progress]


MakeEnv = Callable[..., Awaitable[BleEnv]]


@pytest.fixture
async def ble() -> AsyncIterator[MakeEnv]:
    """``env = await ble(scale=WeightScaleConfig.fast(...))``: only the devices given
    (all three, fast, when none is given)."""
    made: list[BleEnv] = []

    async def make(
        *,
        scale: WeightScaleConfig | None = None,
        bp: BloodPressureConfig | None = None,
        glucometer: GlucometerConfig | None = None,
    ) -> BleEnv:
        devices = () if (scale or bp or glucometer) else ("scale", "bp", "glucometer")
        world = await start_virtual_ble_world(
            fast=True, devices=devices, scale=scale, bp=bp, glucometer=glucometer
        )
        try:
            adapter = await BumbleAdapter.open_on_link(world.link)
        except BaseException:
            await world.stop()
            raise
        env = BleEnv(world, adapter)
        made.append(env)
        return env

    yield make
    for env in reversed(made):
        await env.adapter.close()
        await env.world.stop()


@pytest.fixture(autouse=True)
async def no_leaks() -> AsyncIterator[None]:
    """No asyncio task and no thread may outlive the test."""
    threads = set(threading.enumerate())
    yield
    current = asyncio.current_task()
    for _ in range(50):
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not pending:
            break
        await asyncio.sleep(0.01)
    assert not pending, f"tasks left running: {pending}"
    # the loop's default executor (asyncio.to_thread, e.g. store writes) is shut down with
    # the loop by pytest-asyncio after this fixture; its "asyncio_N" workers are not leaks
    extra = [
        t
        for t in threading.enumerate()
        if t not in threads and t.is_alive() and not t.name.startswith("asyncio_")
    ]
    assert not extra, f"threads left running: {extra}"
