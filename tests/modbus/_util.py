"""Shared by the Modbus tests: run the real driver against a simulator on real ptys."""

from __future__ import annotations

from typing import Any

from cart.drivers.base import Progress
from cart.drivers.factory import build_driver
from cart.drivers.modbus import ModbusDriver
from cart.measurement import Measurement
from simulators.modbus_device import ModbusDeviceConfig, ModbusDeviceSimulator

#: quick polling and one retry (a real cart uses the defaults)
FAST_LINK: dict[str, Any] = {"retries": 1, "poll_interval_s": 0.01}
#: for devices expected to fail: a short request deadline so silence is detected fast
FAILING_LINK: dict[str, Any] = {**FAST_LINK, "request_timeout_s": 0.2}


def driver_for(
    sim: ModbusDeviceSimulator, *, timeout_s: float = 5.0, **options: Any
) -> ModbusDriver:
    cfg = sim.device_config("equipo", timeout_s=timeout_s, **{**FAST_LINK, **options})
    driver = build_driver(cfg)
    assert isinstance(driver, ModbusDriver)
    return driver


async def measure(
    config: ModbusDeviceConfig, *, timeout_s: float = 5.0, **options: Any
) -> tuple[list[Measurement], ModbusDriver, list[Progress], ModbusDeviceSimulator]:
    """Measure once; on error the exception propagates (the simulator is stopped)."""
    events: list[Progress] = []
    async with ModbusDeviceSimulator(config) as sim:
        driver = driver_for(sim, timeout_s=timeout_s, **options)
        result = await driver.measure(events.append)
    return result, driver, events, sim
