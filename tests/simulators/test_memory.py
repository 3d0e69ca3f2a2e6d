"""Device memory and clocks: what a scenario's devices send on connect, through real links.

BLE: bumble peripherals on a virtual link, read by bleak over the project's bumble
backend (as any central would). Serial: a meter on a pty, read by the project's driver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import serial
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_16

from cart import wallclock
from cart.devices import DeviceConfig, Role
from cart.drivers.bumble_bleak import BumbleAdapter
from cart.drivers.factory import build_driver
from cart.protocols import ble_time
from cart.protocols.ble_blood_pressure import parse_blood_pressure
from cart.protocols.ble_common import DateTime
from cart.protocols.ble_weight import parse_weight_measurement
from simulators.ble.config import (
    BloodPressureConfig,
    StoredBloodPressure,
    StoredWeight,
    WeightScaleConfig,
)
from simulators.ble.world import VirtualBleWorld, start_virtual_ble_world
from simulators.scenario import Scenario, apply_flags
from simulators.scenario_configs import PatientScript, ScenarioConfigs
from simulators.serial_glucometer import simulator_for
from simulators.world import SimulatedCart

BP = normalize_uuid_16(0x2A35)
WEIGHT = normalize_uuid_16(0x2A9D)
CURRENT_TIME = normalize_uuid_16(0x2A2B)
CUFF_MEMORY = (
    StoredBloodPressure(150.0, 95.0, timedelta(days=1), pulse=88.0, user_id=2),
    StoredBloodPressure(139.0, 91.0, timedelta(hours=3), user_id=1),
)

World = Callable[..., Awaitable[tuple[VirtualBleWorld, BumbleAdapter]]]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    made: list[tuple[VirtualBleWorld, BumbleAdapter]] = []

    async def make(**configs: Any) -> tuple[VirtualBleWorld, BumbleAdapter]:
        w = await start_virtual_ble_world(fast=True, devices=(), **configs)
        adapter = await BumbleAdapter.open_on_link(w.link)
        made.append((w, adapter))
        return w, adapter

    yield make
    for w, adapter in reversed(made):
        await adapter.close()
        await w.stop()


async def indications(adapter: BumbleAdapter, address: str, uuid: str) -> list[bytes]:
    """Subscribe like a cart does and collect every indication until the device hangs up."""
    device = await BleakScanner.find_device_by_address(
        address, timeout=5, backend=adapter.scanner_backend
    )
    assert device is not None
    gone = asyncio.Event()
    values: list[bytes] = []
    async with BleakClient(
        device, lambda _c: gone.set(), timeout=5, backend=adapter.client_backend
    ) as client:
        await client.start_notify(uuid, lambda _c, data: values.append(bytes(data)))
        await asyncio.wait_for(gone.wait(), 10)
    return values


def near(when: datetime | None, expected: datetime) -> bool:
    assert when is not None
    return abs(when - expected) < timedelta(minutes=2)


async def test_cuff_sends_its_memory_oldest_first_then_the_new_reading(world: World) -> None:
    w, adapter = await world(bp=BloodPressureConfig.fast(stored=CUFF_MEMORY, user_id=1))
    assert w.bp is not None
    first = [parse_blood_pressure(v) for v in await indications(adapter, w.bp.address, BP)]

    assert [(m.systolic.value, m.user_id) for m in first] == [(150, 2), (139, 1), (118, 1)]
    now = wallclock.now()
    stamps = [m.time_stamp.to_datetime() if m.time_stamp else None for m in first]
    assert near(stamps[0], now - timedelta(days=1))
    assert near(stamps[1], now - timedelta(hours=3))
    assert near(stamps[2], now)
    assert first[0].pulse_rate is not None
    assert first[0].pulse_rate.value == 88

    # transferred records leave the memory: the next patient gets the new reading only
    second = [parse_blood_pressure(v) for v in await indications(adapter, w.bp.address, BP)]
    assert [(m.systolic.value, m.user_id) for m in second] == [(118, 1)]


async def test_cuff_that_replays_memory_sends_it_on_every_connection(world: World) -> None:
    w, adapter = await world(
        bp=BloodPressureConfig.fast(stored=CUFF_MEMORY, replay_memory=True, new_reading=False)
    )
    assert w.bp is not None
    for _ in range(2):
        values = [parse_blood_pressure(v) for v in await indications(adapter, w.bp.address, BP)]
        # no new reading: only the memory, then the cuff hangs up
        assert [(m.systolic.value, m.user_id) for m in values] == [(150, 2), (139, 1)]


async def test_scale_memory_of_another_user_and_no_new_weight(world: World) -> None:
    memory = (StoredWeight(81.5, timedelta(days=2), user_id=3),)
    w, adapter = await world(
        scale=WeightScaleConfig.fast(stored=memory, new_reading=False, user_id=1)
    )
    assert w.scale is not None
    values = [
        parse_weight_measurement(v) for v in await indications(adapter, w.scale.address, WEIGHT)
    ]
    assert [(m.weight, m.user_id) for m in values] == [(81.5, 3)]
    assert values[0].time_stamp is not None
    assert near(values[0].time_stamp.to_datetime(), wallclock.now() - timedelta(days=2))


async def _read_clock(client: BleakClient) -> datetime | None:
    raw = await client.read_gatt_char(CURRENT_TIME)
    return ble_time.parse_current_time(bytes(raw)).date_time.to_datetime()


def _clock_value(when: datetime) -> bytes:
    return ble_time.encode_current_time(
        ble_time.CurrentTime(DateTime.from_datetime(when), when.isoweekday(), 0, 0)
    )


async def test_stuck_clock_reads_the_same_and_a_read_only_clock_refuses_writes(
    world: World,
) -> None:
    stuck = datetime(2020, 1, 1, 8, 0)
    w, adapter = await world(
        scale=WeightScaleConfig.fast(fixed_clock=stuck, time_writable=False),
        bp=BloodPressureConfig.fast(fixed_clock=stuck),
    )
    assert w.scale is not None
    assert w.bp is not None
    for peripheral, writable in ((w.scale, False), (w.bp, True)):
        device = await BleakScanner.find_device_by_address(
            peripheral.address, timeout=5, backend=adapter.scanner_backend
        )
        assert device is not None
        async with BleakClient(device, timeout=5, backend=adapter.client_backend) as client:
            assert await _read_clock(client) == stuck
            await asyncio.sleep(1.1)  # a running clock would have moved on by now
            assert await _read_clock(client) == stuck
            later = datetime(2026, 3, 4, 10, 30)
            if writable:
                await client.write_gatt_char(CURRENT_TIME, _clock_value(later), response=True)
                assert await _read_clock(client) == later  # set, and still stuck
            else:
                with pytest.raises(BleakError):
                    await client.write_gatt_char(CURRENT_TIME, _clock_value(later), response=True)
                assert await _read_clock(client) == stuck


async def test_serial_meter_from_a_scenario_stuck_clock_and_memory_only(no_leaked_tasks) -> None:
    scenario = apply_flags(
        Scenario(glucometer="onetouch.ultraeasy"),
        stored=["glucometro=236@2m,98@1d"],
        no_new_reading=["glucometro"],
        fixed_clock=["glucometro=2021-06-01T09:30"],
        read_only_clock=["glucometro"],
    )
    configs = ScenarioConfigs(scenario, PatientScript(), fast=True)
    async with simulator_for("onetouch.ultraeasy", configs.serial_glucometer()) as meter:
        assert [r.mg_dl for r in meter.records] == [98, 236]  # no new reading taken
        assert meter.records[-1].measured_at == datetime(2021, 6, 1, 9, 28)
        meter.set_clock(datetime(2026, 1, 1))  # the meter ignores it
        assert meter.meter_now() == datetime(2021, 6, 1, 9, 30)
        driver = build_driver(
            DeviceConfig(
                id="glucometro",
                role=Role.GLUCOMETER,
                driver="onetouch.ultraeasy",
                transport="serial",
                port=meter.port,
                timeout_s=10.0,
                options={"latest_only": False},
            )
        )
        measurements = await driver.measure()
    # the ages count back from the stuck clock, as the meter stamped them
    assert sorted((m.measured_at, m.value) for m in measurements) == [
        (datetime(2021, 5, 31, 9, 30), 98.0),
        (datetime(2021, 6, 1, 9, 28), 236.0),
    ]


async def test_simulated_cart_plays_a_scenario_on_every_device(no_leaked_tasks) -> None:
    scenario = apply_flags(
        Scenario(),
        stored=["baumanometro=150/95@1d:u2", "glucometro=236@3h"],
        replay_memory=["baumanometro"],
        no_new_reading=["glucometro"],
        clock_skew=["glucometro=+3d"],
        fault=["bascula=overload"],
    )
    async with SimulatedCart(fast=True, scenario=scenario) as cart:
        assert {d.id for d in cart.devices} == {
            "bascula",
            "estadimetro",
            "baumanometro",
            "glucometro",
        }
        assert cart.ble is not None
        assert cart.ble.bp is not None
        assert cart.ble.glucometer is not None
        assert [(t, r.user_id) for t, r in cart.ble.bp.memory] == [
            (t, 2) for t, _ in cart.ble.bp.memory
        ]
        assert cart.ble.bp.config.replay_memory is True
        meter = cart.ble.glucometer
        assert meter.clock.skew == timedelta(days=3)
        assert [r.spec.mg_dl for r in meter.records] == [236.0]
        assert meter.config.reading_on_connect is None


async def test_scenario_faults_reach_the_devices(no_leaked_tasks) -> None:
    scenario = apply_flags(
        Scenario(), fault=["bascula=overload", "glucometro=silence", "baumanometro=truncation"]
    )
    async with SimulatedCart(fast=True, scenario=scenario) as cart:
        # a switched-off meter is still configured: the cart looks for it and finds nothing
        (meter,) = [d for d in cart.devices if d.id == "glucometro"]
        assert meter.transport == "ble"
        assert cart.ble is not None
        assert cart.ble.glucometer is None
        assert cart.ble.bp is not None
        assert cart.ble.bp.config.fault.value == "malformed_value"
        (scale,) = [d for d in cart.devices if d.id == "bascula"]
        with serial.Serial(scale.port, 9600, timeout=5) as port:
            line = await asyncio.to_thread(port.readline)
    assert line.startswith(b"OL,")  # the A&D over-range header, no weight
