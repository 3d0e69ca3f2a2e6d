"""End to end: drivers -> bleak public API -> bumble backend -> virtual radio -> simulators.

Each BLE device is measured, and each fault gives its typed error with nothing returned.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cart.devices import DeviceConfig, Role
from cart.drivers.base import DeviceInfo, Progress, ProgressStage
from cart.drivers.ble import (
    BleBackend,
    BleBloodPressureDriver,
    BleSettings,
    BleWeightScaleDriver,
    build_from_device_config,
)
from cart.drivers.bumble_bleak import BumbleAdapter
from cart.errors import (
    ConfigError,
    ConnectionFailed,
    ConnectionLost,
    DeviceNotFound,
    DeviceReportedError,
    PairingRequired,
)
from cart.measurement import Measurement, MeasurementKind
from simulators.ble.config import BleFault, BloodPressureConfig, WeightScaleConfig
from simulators.ble.world import VirtualBleWorld


def by_kind(measurements: list[Measurement]) -> dict[MeasurementKind, float | None]:
    return {m.kind: m.value for m in measurements}


# --------------------------------------------------------------------------- scale


async def test_scale_reads_final_weight_height_and_bmi(ble: Any) -> None:
    # a 0.05 kg scale (Weight Scale Feature resolution 4): its 81.25 keeps two decimals
    scale = WeightScaleConfig.fast(weight_kg=81.25, height_cm=172.0, user_id=2, weight_resolution=4)
    env = await ble(scale=scale)
    driver = env.scale_driver()

    measurements = await driver.measure(env.record)

    values = by_kind(measurements)
    assert values[MeasurementKind.BODY_WEIGHT] == pytest.approx(81.25)
    assert values[MeasurementKind.BODY_HEIGHT] == pytest.approx(172.0)
    assert values[MeasurementKind.BMI] == pytest.approx(27.5)
    decimals = {m.kind: m.decimals for m in measurements}
    assert decimals == {
        MeasurementKind.BODY_WEIGHT: 2,  # the feature's 0.05 kg, not the field's 0.005
        MeasurementKind.BODY_HEIGHT: 1,  # 0.001 m = 0.1 cm
        MeasurementKind.BMI: 1,
    }
    assert {m.user_id for m in measurements} == {2}
    assert all(m.measured_at is not None for m in measurements)
    assert [f.protocol for f in driver.last_raw] == ["ble.weight_measurement"]
    assert env.world.scale is not None
    assert driver.last_raw[0].data == env.world.scale.sent[-1]
    assert env.stages()[0] == "connecting"
    assert "waiting" in env.stages()
    assert env.stages()[-1] == "done"


async def test_scale_in_pounds_is_converted_and_found_by_name(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(weight_kg=70.0, imperial=True))
    assert env.world.scale is not None
    driver = BleWeightScaleDriver(
        env.info(Role.SCALE, env.world.scale.name), backend=env.backend, settings=BleSettings.fast()
    )
    assert driver.name == env.world.scale.name
    assert driver.address is None

    values = by_kind(await driver.measure())

    assert values[MeasurementKind.BODY_WEIGHT] == pytest.approx(70.0, abs=0.01)
    assert values[MeasurementKind.BODY_HEIGHT] == pytest.approx(165.0, abs=0.2)


async def test_scale_found_by_service_uuid_clock_read_and_left_alone_by_default(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(clock_skew_s=3600.0))
    driver = BleWeightScaleDriver(
        env.info(Role.SCALE, ""), backend=env.backend, settings=BleSettings.fast()
    )

    await driver.measure()

    assert driver.last_clock_skew_s == pytest.approx(3600.0, abs=5.0)
    assert driver.last_clock is not None
    assert driver.last_clock.set_to is None
    assert env.world.scale is not None
    assert env.world.scale.clock.skew.total_seconds() == pytest.approx(3600.0, abs=1.0)


async def test_scale_clock_set_when_the_device_config_allows(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(clock_skew_s=3600.0))
    driver = env.scale_driver(set_clock=True)

    await driver.measure()

    assert driver.last_clock_skew_s == pytest.approx(3600.0, abs=5.0)  # as read at connect
    assert env.world.scale is not None
    assert abs(env.world.scale.clock.skew.total_seconds()) < 5.0
    clock = driver.last_clock
    assert clock is not None
    assert clock.set_to is not None
    # the reading that follows is stamped by the clock just set: the check reflects it
    offset = clock.device_time.replace(tzinfo=clock.cart_time.tzinfo) - clock.cart_time
    assert abs(offset.total_seconds()) < 5.0


async def test_scale_read_only_clock_is_read_and_left_alone(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(clock_skew_s=-600.0, time_writable=False))
    driver = env.scale_driver(set_clock=True)

    await driver.measure()

    assert driver.last_clock_skew_s == pytest.approx(-600.0, abs=5.0)
    assert driver.last_clock is not None
    assert driver.last_clock.set_to is None
    assert env.world.scale is not None
    assert env.world.scale.clock.skew.total_seconds() == pytest.approx(-600.0, abs=1.0)


async def test_scale_is_measured_twice_in_a_row(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast())
    driver = env.scale_driver()
    first = await driver.measure()
    second = await driver.measure()
    assert by_kind(first) == by_kind(second)


async def test_scale_disconnecting_before_the_result_is_connection_lost(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(fault=BleFault.DISCONNECT_MID_TRANSFER))
    driver = env.scale_driver()

    with pytest.raises(ConnectionLost) as caught:
        await driver.measure(env.record)

    assert caught.value.role == "scale"
    assert "báscula" in caught.value.nurse_message.lower()
    assert driver.last_raw == []
    assert "done" not in env.stages()
    # the fault hit the first connection only: a retry by the nurse works
    assert by_kind(await driver.measure())[MeasurementKind.BODY_WEIGHT] == pytest.approx(72.4)


async def test_scale_malformed_weight_is_device_reported_error(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(fault=BleFault.MALFORMED_VALUE))
    driver = env.scale_driver()

    with pytest.raises(DeviceReportedError) as caught:
        await driver.measure()

    assert "does not decode" in caught.value.message
    assert driver.last_raw == []


async def test_unknown_device_is_not_found(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast())
    driver = BleWeightScaleDriver(
        env.info(Role.SCALE, "Bascula que no existe"),
        backend=env.backend,
        settings=BleSettings.fast(scan_timeout_s=0.3),
    )
    with pytest.raises(DeviceNotFound) as caught:
        await driver.measure()
    assert caught.value.identifier == "Bascula que no existe"


async def test_device_that_stops_answering_fails_after_bounded_retries(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast())
    scale = env.world.scale
    assert scale is not None
    assert scale.device is not None
    settings = BleSettings.fast(connect_timeout_s=0.2, connect_attempts=3)
    driver = env.scale_driver(settings)
    attempts: list[int] = []

    async def radio_off_after_scan(event: Progress) -> None:
        # seen by the scan, then the scale goes silent before the cart connects
        if event.stage is ProgressStage.CONNECTING and "attempt" in event.detail:
            attempts.append(event.detail["attempt"])
            if scale.device is not None and scale.device.is_advertising:
                await scale.device.stop_advertising()

    with pytest.raises(ConnectionFailed) as caught:
        await driver.measure(radio_off_after_scan)

    assert attempts == [1, 2, 3]
    assert "3 attempts" in caught.value.message


# --------------------------------------------------------------------------- pairing


async def test_scale_that_needs_pairing_gives_pairing_required(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(pairing_required=True))
    driver = env.scale_driver()

    with pytest.raises(PairingRequired) as caught:
        await driver.measure()

    assert "emparejarse" in caught.value.nurse_message
    assert driver.last_raw == []


async def test_pairing_enabled_driver_bonds_and_measures(ble: Any) -> None:
    env = await ble(scale=WeightScaleConfig.fast(pairing_required=True))
    driver = env.scale_driver(BleSettings.fast(pair=True))

    values = by_kind(await driver.measure())
    assert values[MeasurementKind.BODY_WEIGHT] == pytest.approx(72.4)
    # the bond is reused (encryption with the stored key) on the next reading
    assert by_kind(await driver.measure()) == values


async def test_device_refusing_pairing_gives_pairing_required(ble: Any) -> None:
    env = await ble(bp=BloodPressureConfig.fast(pairing_required=True, accept_pairing=False))
    driver = env.bp_driver(BleSettings.fast(pair=True))

    with pytest.raises(PairingRequired):
        await driver.measure()
    assert driver.last_raw == []


# --------------------------------------------------------------------------- blood pressure


async def test_cuff_streams_pressure_then_indicates_and_disconnects(ble: Any) -> None:
    env = await ble(bp=BloodPressureConfig.fast(systolic=132, diastolic=84, pulse=66))
    driver = env.bp_driver()

    measurements = await driver.measure(env.record)

    values = by_kind(measurements)
    assert values[MeasurementKind.SYSTOLIC_PRESSURE] == 132
    assert values[MeasurementKind.DIASTOLIC_PRESSURE] == 84
    assert values[MeasurementKind.MEAN_ARTERIAL_PRESSURE] == pytest.approx(100.0)
    assert values[MeasurementKind.PULSE_RATE] == 66
    assert MeasurementKind.CUFF_PRESSURE not in values
    cuff = [
        p.measurement.value
        for p in env.progress
        if p.stage is ProgressStage.PROGRESS and p.measurement is not None
    ]
    assert env.world.bp is not None
    assert cuff == env.world.bp.cuff_pressures  # every pressure, in order, as it arrived
    assert max(cuff) == pytest.approx(162.0)  # systolic + 30
    assert all(
        p.measurement.kind is MeasurementKind.CUFF_PRESSURE
        for p in env.progress
        if p.measurement is not None
    )
    stages = env.stages()
    assert stages.index("waiting") < stages.index("progress") < stages.index("done")
    assert [f.protocol for f in driver.last_raw] == ["ble.blood_pressure"]


async def test_cuff_in_kpa_with_status_flags(ble: Any) -> None:
    env = await ble(
        bp=BloodPressureConfig.fast(unit="kPa", systolic=120, diastolic=80, status=0b101)
    )
    driver = env.bp_driver()

    measurements = await driver.measure()

    values = by_kind(measurements)
    assert values[MeasurementKind.SYSTOLIC_PRESSURE] == pytest.approx(120, abs=0.5)
    assert values[MeasurementKind.DIASTOLIC_PRESSURE] == pytest.approx(80, abs=0.5)
    systolic = next(m for m in measurements if m.kind is MeasurementKind.SYSTOLIC_PRESSURE)
    assert systolic.original is not None
    assert systolic.original.unit == "kPa"
    assert set(systolic.flags) >= {"body_movement", "irregular_pulse"}


async def test_cuff_disconnecting_while_inflating_is_connection_lost(ble: Any) -> None:
    env = await ble(bp=BloodPressureConfig.fast(fault=BleFault.DISCONNECT_MID_TRANSFER))
    driver = env.bp_driver()

    with pytest.raises(ConnectionLost) as caught:
        await driver.measure(env.record)

    assert "baumanómetro" in caught.value.nurse_message.lower()
    assert "progress" in env.stages()  # some cuff pressure had been shown
    assert "done" not in env.stages()
    assert driver.last_raw == []


async def test_cuff_malformed_result_is_device_reported_error(ble: Any) -> None:
    env = await ble(bp=BloodPressureConfig.fast(fault=BleFault.MALFORMED_VALUE))
    driver = env.bp_driver()

    with pytest.raises(DeviceReportedError):
        await driver.measure()
    assert driver.last_raw == []


async def test_three_devices_measured_concurrently(ble: Any) -> None:
    env = await ble()
    scale, bp, glucometer = env.scale_driver(), env.bp_driver(), env.glucometer_driver()
    weight, pressure, glucose = await asyncio.gather(
        scale.measure(), bp.measure(), glucometer.measure()
    )
    assert by_kind(weight)[MeasurementKind.BODY_WEIGHT] == pytest.approx(72.4)
    assert by_kind(pressure)[MeasurementKind.SYSTOLIC_PRESSURE] == 118
    assert [m.kind for m in glucose] == [MeasurementKind.GLUCOSE] * 3
    assert isinstance(bp, BleBloodPressureDriver)


async def test_world_device_configs_build_working_drivers() -> None:
    """What ``cart serve --simulate`` does: world -> devices.toml entries -> drivers."""
    async with VirtualBleWorld.running(fast=True) as world:
        adapter = await BumbleAdapter.open_on_link(world.link)
        try:
            extra = {"backend": BleBackend.from_bumble(adapter), "settings": BleSettings.fast()}
            configs = world.device_configs()
            assert [c.driver for c in configs] == [
                "ble.weight_scale",
                "ble.blood_pressure",
                "ble.glucose",
            ]
            drivers = [
                build_from_device_config(
                    c, DeviceInfo(c.id, c.role, c.driver, c.transport, c.location), extra
                )
                for c in configs
            ]
            readings = await asyncio.gather(*(d.measure() for d in drivers))
            assert [len(r) for r in readings] == [3, 4, 3]
            assert all(d.last_raw for d in drivers)
        finally:
            await adapter.close()


def test_bad_ble_options_are_config_errors() -> None:
    cfg = DeviceConfig(
        "g", Role.GLUCOMETER, "ble.glucose", "ble", name="x", options={"connect_attempts": 0}
    )
    with pytest.raises(ConfigError, match="bad BLE option"):
        build_from_device_config(
            cfg, DeviceInfo("g", Role.GLUCOMETER, "ble.glucose", "ble", "x"), {}
        )
    unknown = DeviceConfig("t", Role.SCALE, "ble.thermometer", "ble", name="x")
    with pytest.raises(ConfigError, match="no BLE driver"):
        build_from_device_config(
            unknown, DeviceInfo("t", Role.SCALE, "ble.thermometer", "ble", "x"), {}
        )
