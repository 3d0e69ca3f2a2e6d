"""Pure parts of the BLE stack: backoff, error classification, settings, simulator configs."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from bleak.exc import BleakDBusError, BleakError, BleakGATTProtocolError

from cart.devices import Role
from cart.drivers.base import DeviceInfo
from cart.drivers.ble import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    BLE_DRIVERS,
    BleGlucometerDriver,
    BleSettings,
    BleWeightScaleDriver,
    backoff_delay,
    build_ble_driver,
    is_pairing_error,
)
from cart.drivers.bumble_bleak import BumbleConnectionLostError, BumblePairingError
from simulators.ble.config import (
    BleFault,
    BloodPressureConfig,
    GlucometerConfig,
    GlucoseRecord,
    WeightScaleConfig,
)
from simulators.ble.world import BLE_DRIVER_IDS, VirtualBleWorld


def test_backoff_doubles_from_the_base_up_to_the_cap_without_jitter() -> None:
    delays = [backoff_delay(n, jitter=0) for n in range(1, 7)]
    assert delays == [BACKOFF_BASE_S, 1.0, 2.0, BACKOFF_CAP_S, BACKOFF_CAP_S, BACKOFF_CAP_S]
    assert backoff_delay(1000, jitter=0) == BACKOFF_CAP_S


def test_backoff_jitter_stays_within_bounds_and_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 8):
        nominal = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        for _ in range(200):
            delay = backoff_delay(attempt, jitter=0.25, rng=rng)
            assert nominal * 0.75 <= delay <= min(nominal * 1.25, BACKOFF_CAP_S)
    spread = {round(backoff_delay(1, rng=rng), 6) for _ in range(20)}
    assert len(spread) > 1


@pytest.mark.parametrize(
    "kwargs", [{"attempt": 0}, {"attempt": 1, "jitter": 1.0}, {"attempt": 1, "base": -1}]
)
def test_backoff_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        backoff_delay(**kwargs)


def test_pairing_errors_are_recognised_on_every_backend() -> None:
    assert is_pairing_error(BumblePairingError("PAIRING_NOT_SUPPORTED_ERROR"))
    assert is_pairing_error(BleakGATTProtocolError(0x05))
    assert is_pairing_error(BleakGATTProtocolError(0x0F))
    assert is_pairing_error(BleakDBusError("org.bluez.Error.AuthenticationFailed", []))
    wrapped = BleakError("start_notify failed")
    wrapped.__cause__ = BleakGATTProtocolError(0x0F)
    assert is_pairing_error(wrapped)
    assert not is_pairing_error(BleakGATTProtocolError(0xFD))
    assert not is_pairing_error(BumbleConnectionLostError("gone"))
    assert not is_pairing_error(TimeoutError())
    assert not is_pairing_error(None)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        BleSettings(connect_attempts=0)
    with pytest.raises(ValueError):
        BleSettings(scan_timeout_s=0)
    assert BleSettings.fast().scan_timeout_s < BleSettings().scan_timeout_s


def test_driver_target_comes_from_the_device_info() -> None:
    by_address = BleWeightScaleDriver(
        DeviceInfo("b", Role.SCALE, "ble.weight_scale", "ble", "c1:5a:1e:00:00:01")
    )
    assert by_address.address == "c1:5a:1e:00:00:01"
    assert by_address.name is None
    by_name = BleWeightScaleDriver(DeviceInfo("b", Role.SCALE, "ble.weight_scale", "ble", "UC-352"))
    assert by_name.name == "UC-352"
    assert by_name.address is None
    by_service = BleWeightScaleDriver(DeviceInfo("b", Role.SCALE, "ble.weight_scale", "ble", "?"))
    assert (by_service.address, by_service.name) == (None, None)


def test_drivers_of_devices_with_a_memory_say_so() -> None:
    for driver_id, role in (
        ("ble.glucose", Role.GLUCOMETER),
        ("ble.blood_pressure", Role.BP),
        ("ble.weight_scale", Role.SCALE),
    ):
        driver = build_ble_driver(DeviceInfo("d", role, driver_id, "ble", ""))
        assert driver.keeps_records, driver_id
    assert isinstance(
        build_ble_driver(DeviceInfo("g", Role.GLUCOMETER, "ble.glucose", "ble", "")),
        BleGlucometerDriver,
    )


def test_driver_ids_match_between_simulators_and_drivers() -> None:
    assert set(BLE_DRIVER_IDS.values()) == set(BLE_DRIVERS)
    world = VirtualBleWorld(fast=True)
    assert world.device_configs() == []


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (WeightScaleConfig, {"weight_kg": 0}),
        (WeightScaleConfig, {"height_cm": 20}),
        (WeightScaleConfig, {"address": "00:11:22:33:44:55"}),
        (WeightScaleConfig, {"name": ""}),
        (WeightScaleConfig, {"fault": BleFault.NO_RACP_RESPONSE}),
        (WeightScaleConfig, {"advertising_interval_ms": 5}),
        (BloodPressureConfig, {"systolic": 80, "diastolic": 90}),
        (BloodPressureConfig, {"unit": "psi"}),
        (BloodPressureConfig, {"inflate_to_mmhg": 100}),
        (BloodPressureConfig, {"cuff_update_s": 0}),
        (BloodPressureConfig, {"fault_connections": 0}),
        (GlucometerConfig, {"first_sequence_number": 70000}),
        (GlucometerConfig, {"unit": "mg/dL"}),
        (GlucometerConfig, {"clock_skew_s": float("nan")}),
    ],
)
def test_simulator_configs_reject_bad_values(factory: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        factory(**kwargs)


def test_glucose_records_are_validated() -> None:
    with pytest.raises(ValueError):
        GlucoseRecord(0)
    with pytest.raises(ValueError):
        GlucoseRecord(100, meal="lunch")
    with pytest.raises(ValueError):
        GlucoseRecord(100, age=timedelta(minutes=-1))


def test_fault_hits_only_the_configured_connections() -> None:
    once = WeightScaleConfig(fault=BleFault.MALFORMED_VALUE)
    assert [once.fault_applies(n) for n in (1, 2, 3)] == [True, False, False]
    always = WeightScaleConfig(fault=BleFault.MALFORMED_VALUE, fault_connections=None)
    assert [always.fault_applies(n) for n in (1, 2, 3)] == [True, True, True]
    assert not WeightScaleConfig().fault_applies(1)


def test_fast_configs_keep_the_patient_values() -> None:
    cfg = BloodPressureConfig.fast(systolic=140, diastolic=90)
    assert (cfg.systolic, cfg.diastolic, cfg.map_mmhg, cfg.peak_mmhg) == (140, 90, 106.7, 170)
    assert cfg.inflate_s < BloodPressureConfig().inflate_s
    assert WeightScaleConfig(weight_kg=70, height_cm=175).bmi == 22.9
