"""Bluetooth LE health-device simulators: real GATT servers on bumble's virtual radio.

A weight scale (Weight Scale Service), a blood pressure cuff (Blood Pressure Service with
intermediate cuff pressure) and a glucometer (Glucose Service with RACP), each a bumble
peripheral on its own virtual controller joined to one :class:`bumble.link.LocalLink`.
Start them together with :func:`start_virtual_ble_world`; the cart reaches them with
``BumbleAdapter.open_on_link(world.link)`` from :mod:`cart.drivers.bumble_bleak`.
"""

from simulators.ble.blood_pressure import BloodPressureSimulator
from simulators.ble.config import (
    BleFault,
    BloodPressureConfig,
    DeviceOptions,
    GlucometerConfig,
    GlucoseRecord,
    WeightScaleConfig,
)
from simulators.ble.glucometer import GlucometerSimulator
from simulators.ble.weight_scale import WeightScaleSimulator
from simulators.ble.world import BLE_DRIVER_IDS, VirtualBleWorld, start_virtual_ble_world

__all__ = [
    "BLE_DRIVER_IDS",
    "BleFault",
    "BloodPressureConfig",
    "BloodPressureSimulator",
    "DeviceOptions",
    "GlucometerConfig",
    "GlucometerSimulator",
    "GlucoseRecord",
    "VirtualBleWorld",
    "WeightScaleConfig",
    "WeightScaleSimulator",
    "start_virtual_ble_world",
]
