"""Cuffs and scales that replay their memory: the record check, user ids, fresh readings.

Real cuffs (Omron, A&D) and scales indicate stored measurements when a central connects,
before (or instead of) the one the patient is taking. The simulators here are the
project's BLE simulators on bumble's virtual link, with a memory in front: the stored
records are encoded with the protocol encoders and indicated like the fresh one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from bumble.device import Connection
from bumble.link import LocalLink

from cart import wallclock
from cart.attribution import Window
from cart.devices import DeviceConfig, Role
from cart.drivers.base import ClockCheck, ReadingRefused, Refusal
from cart.drivers.ble import BleBackend, BleBloodPressureDriver, BleSettings
from cart.drivers.bumble_bleak import BumbleAdapter
from cart.drivers.factory import build_driver
from cart.errors import DeviceError
from cart.measurement import Measurement, MeasurementKind
from cart.protocols.ble_blood_pressure import BloodPressureMeasurement, encode_blood_pressure
from cart.protocols.ble_common import DateTime
from cart.protocols.ble_weight import WeightMeasurement, encode_weight_measurement
from cart.protocols.ieee11073 import sfloat
from cart.screening import measure_devices
from cart.store import Store, create_db_engine, migrate
from cart.store.models import Screening
from simulators.ble.blood_pressure import BloodPressureSimulator
from simulators.ble.config import BloodPressureConfig, WeightScaleConfig
from simulators.ble.weight_scale import WeightScaleSimulator
from simulators.ble.world import VirtualBleWorld, start_virtual_ble_world

SETTINGS = BleSettings.fast(measurement_timeout_s=3.0)


def stored_bp(systolic: int, user_id: int, taken: datetime) -> bytes:
    return encode_blood_pressure(
        BloodPressureMeasurement(
            systolic=sfloat(Decimal(systolic)),
            diastolic=sfloat(Decimal(80)),
            mean_arterial_pressure=sfloat(Decimal(100)),
            time_stamp=DateTime.from_datetime(taken.replace(microsecond=0)),
            pulse_rate=sfloat(Decimal(70)),
            user_id=user_id,
        )
    )


def stored_weight(kg: float, user_id: int, taken: datetime) -> bytes:
    return encode_weight_measurement(
        WeightMeasurement(
            weight=kg,
            time_stamp=DateTime.from_datetime(taken.replace(microsecond=0)),
            user_id=user_id,
        )
    )


class MemoryCuff(BloodPressureSimulator):
    """A cuff that indicates its stored records first, on the same connection, then
    measures; ``per_connection``: one stored record per connection instead (then it
    drops the link, as cuffs do after each indication)."""

    def __init__(
        self,
        link: LocalLink,
        config: BloodPressureConfig,
        stored: Sequence[bytes],
        *,
        per_connection: bool = False,
    ) -> None:
        super().__init__(link, config)
        self.stored = list(stored)
        self.per_connection = per_connection

    def measurement_value(self) -> bytes:
        if self.per_connection and self.stored:
            return self.stored.pop(0)
        return super().measurement_value()

    async def _measure(self, connection: Connection, number: int) -> None:
        while self.stored and not self.per_connection:
            value = self.stored.pop(0)
            self.sent.append(value)
            await self.indicate(connection, self._measurement, value)
        await super()._measure(connection, number)


class MemoryScale(WeightScaleSimulator):
    """A scale that indicates its stored records first, then the patient's weight."""

    def __init__(self, link: LocalLink, config: WeightScaleConfig, stored: Sequence[bytes]):
        super().__init__(link, config)
        self.stored = list(stored)

    async def _measure(self, connection: Connection, number: int) -> None:
        while self.stored:
            value = self.stored.pop(0)
            self.sent.append(value)
            await self.indicate(connection, self._measurement, value)
        await super()._measure(connection, number)


@dataclass
class Env:
    world: VirtualBleWorld
    adapter: BumbleAdapter

    @property
    def backend(self) -> BleBackend:
        return BleBackend.from_bumble(self.adapter)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    world = await start_virtual_ble_world(fast=True, devices=())
    adapter = await BumbleAdapter.open_on_link(world.link)
    try:
        yield Env(world, adapter)
    finally:
        await adapter.close()
        await world.stop()


async def start_cuff(env: Env, cuff: MemoryCuff) -> MemoryCuff:
    await cuff.start()
    env.world.bp = cuff  # stopped with the world
    return cuff


async def start_scale(env: Env, scale: MemoryScale) -> MemoryScale:
    await scale.start()
    env.world.scale = scale
    return scale


def window_check(
    minutes_before: float = 5.0,
) -> Callable[[Sequence[Measurement], ClockCheck | None], Refusal | None]:
    """The orchestrator's freshness rule (cart.attribution.Window) as the record check."""
    window = Window(
        start=wallclock.now_aware() - timedelta(minutes=minutes_before), zone=wallclock.zone()
    )

    def check(record: Sequence[Measurement], clock: ClockCheck | None) -> Refusal | None:
        return window.check(record, clock, wallclock.now_aware())

    return check


def systolic(measurements: list[Measurement]) -> float | None:
    return next(m.value for m in measurements if m.kind is MeasurementKind.SYSTOLIC_PRESSURE)


def cuff_driver(env: Env, cuff: MemoryCuff, user_id: int | None = 1) -> BleBloodPressureDriver:
    driver = build_driver(
        DeviceConfig(
            "bp",
            Role.BP,
            "ble.blood_pressure",
            "ble",
            address=cuff.address,
            timeout_s=SETTINGS.measurement_timeout_s,
            options={} if user_id is None else {"user_id": user_id},
        ),
        backend=env.backend,
        settings=SETTINGS,
    )
    assert isinstance(driver, BleBloodPressureDriver)
    return driver


# --------------------------------------------------------------------------- user ids


async def test_other_user_record_is_skipped_and_the_fresh_one_taken(env: Env) -> None:
    now = wallclock.now()
    cuff = await start_cuff(
        env,
        MemoryCuff(
            env.world.link,
            BloodPressureConfig.fast(systolic=131, user_id=1),
            [stored_bp(171, user_id=2, taken=now - timedelta(minutes=1))],
        ),
    )
    driver = cuff_driver(env, cuff, user_id=1)
    assert driver.info.user_id == 1
    assert driver.keeps_records

    measurements = await driver.measure()

    assert systolic(measurements) == 131.0
    assert {m.user_id for m in measurements} == {1}
    # who measured, from Device Information: the store's record memory is keyed by it
    device = measurements[0].device
    assert device is not None
    assert device.model == "BLS-SIM"
    assert device.serial_number == cuff.address.replace(":", "")
    assert getattr(device, "address", None) == cuff.address
    # the refused record stays in the raw log, with the one taken
    assert len(driver.last_raw) == 2
    assert driver.last_raw[0].data == cuff.sent[0]


async def test_other_user_record_then_a_fresh_one_on_the_next_connection(env: Env) -> None:
    cuff = await start_cuff(
        env,
        MemoryCuff(
            env.world.link,
            BloodPressureConfig.fast(systolic=128, user_id=1),
            [stored_bp(171, user_id=2, taken=wallclock.now())],
            per_connection=True,
        ),
    )
    driver = cuff_driver(env, cuff)

    measurements = await driver.measure()

    assert systolic(measurements) == 128.0
    assert cuff.connections_seen == 2  # the driver waited through the cuff's disconnect


async def test_only_another_users_readings_is_reading_refused(env: Env) -> None:
    cuff = await start_cuff(
        env, MemoryCuff(env.world.link, BloodPressureConfig.fast(user_id=3), [])
    )
    driver = cuff_driver(env, cuff, user_id=1)

    with pytest.raises(ReadingRefused) as caught:
        await driver.measure()

    assert isinstance(caught.value, DeviceError)
    assert caught.value.refusal.reason == "other_user"
    assert "usuario 3" in caught.value.nurse_message
    assert "Reintentar" in caught.value.nurse_message
    assert driver.last_raw  # every refused record kept for the raw log
    assert cuff.connections_seen >= 2  # it kept waiting for a fresh one until the deadline


async def test_without_a_configured_user_any_user_is_taken(env: Env) -> None:
    cuff = await start_cuff(
        env, MemoryCuff(env.world.link, BloodPressureConfig.fast(systolic=140, user_id=4), [])
    )
    measurements = await cuff_driver(env, cuff, user_id=None).measure()
    assert systolic(measurements) == 140.0


# --------------------------------------------------------------------------- stale memory


async def test_stale_stored_cuff_record_is_refused_then_the_fresh_one_taken(env: Env) -> None:
    cuff = await start_cuff(
        env,
        MemoryCuff(
            env.world.link,
            BloodPressureConfig.fast(systolic=119, user_id=1),
            [stored_bp(165, user_id=1, taken=wallclock.now() - timedelta(days=1))],
        ),
    )
    driver = cuff_driver(env, cuff)
    refusals: list[Refusal] = []
    check = window_check()

    def recording(record: Sequence[Measurement], clock: ClockCheck | None) -> Refusal | None:
        refusal = check(record, clock)
        if refusal is not None:
            refusals.append(refusal)
        return refusal

    measurements = await driver.measure(check=recording)

    assert systolic(measurements) == 119.0
    assert [r.reason for r in refusals] == ["stale"]
    assert driver.last_clock is not None  # read from the cuff's Current Time


async def test_stale_stored_scale_record_and_nothing_fresh_is_reading_refused(env: Env) -> None:
    config = WeightScaleConfig.fast(user_id=1, settle_s=30.0, disconnect_after_s=None)
    stored = [stored_weight(88.0, 1, wallclock.now() - timedelta(days=2))]
    scale = await start_scale(env, MemoryScale(env.world.link, config, stored))
    driver = build_driver(
        DeviceConfig(
            "scale", Role.SCALE, "ble.weight_scale", "ble", address=scale.address, timeout_s=1.0
        ),
        backend=env.backend,
        settings=SETTINGS,
    )
    assert driver.keeps_records

    with pytest.raises(ReadingRefused) as caught:
        await driver.measure(check=window_check())

    assert caught.value.refusal.reason == "stale"
    assert "Reintentar" in caught.value.nurse_message
    assert len(driver.last_raw) == 1
    assert driver.last_raw[0].data == scale.sent[0]


async def test_scale_clock_offset_corrects_a_fresh_reading_from_a_skewed_clock(env: Env) -> None:
    """A scale whose clock is two days behind (not writable): its fresh reading is
    stamped two days ago, and the clock read at connect puts it back in the window."""
    config = WeightScaleConfig.fast(
        weight_kg=77.0, user_id=1, clock_skew_s=-2 * 86400, time_writable=False
    )
    scale = await start_scale(env, MemoryScale(env.world.link, config, []))
    driver = build_driver(
        DeviceConfig("scale", Role.SCALE, "ble.weight_scale", "ble", address=scale.address),
        set_clocks=True,
        backend=env.backend,
        settings=SETTINGS,
    )

    measurements = await driver.measure(check=window_check())

    weight = next(m for m in measurements if m.kind is MeasurementKind.BODY_WEIGHT)
    assert weight.value == pytest.approx(77.0)
    assert driver.last_clock is not None
    assert driver.last_clock.set_to is None  # read-only Current Time: not set
    assert scale.clock.skew.total_seconds() == pytest.approx(-2 * 86400, abs=1.0)


# --------------------------------------------------------------------------- clocks


@pytest.mark.parametrize("set_clocks", [False, True])
async def test_cuff_clock_set_only_when_allowed(env: Env, set_clocks: bool) -> None:
    cuff = await start_cuff(
        env, MemoryCuff(env.world.link, BloodPressureConfig.fast(clock_skew_s=3 * 86400.0), [])
    )
    driver = build_driver(
        DeviceConfig("bp", Role.BP, "ble.blood_pressure", "ble", address=cuff.address),
        set_clocks=set_clocks,
        backend=env.backend,
        settings=SETTINGS,
    )

    measurements = await driver.measure(check=window_check())

    clock = driver.last_clock
    assert clock is not None
    offset = (
        clock.device_time.replace(tzinfo=clock.cart_time.tzinfo) - clock.cart_time
    ).total_seconds()
    if set_clocks:
        assert clock.set_to is not None
        assert abs(offset) < 5.0  # the reading was stamped by the clock just set
        assert abs(cuff.clock.skew.total_seconds()) < 5.0
    else:
        assert clock.set_to is None
        assert offset == pytest.approx(3 * 86400, abs=5.0)
        assert cuff.clock.skew.total_seconds() == pytest.approx(3 * 86400, abs=1.0)
    assert systolic(measurements) == 118.0  # taken either way: the offset corrects it


# --------------------------------------------------------------------------- orchestrator


async def test_screening_stores_the_fresh_cuff_reading_not_the_other_users(
    env: Env, tmp_path: Any
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    migrate(engine)
    try:
        store = Store(engine)
        sid = store.add_screening(Screening()).id
        assert sid is not None
        cuff = await start_cuff(
            env,
            MemoryCuff(
                env.world.link,
                BloodPressureConfig.fast(systolic=126, diastolic=82, user_id=1),
                [
                    stored_bp(171, user_id=2, taken=wallclock.now()),
                    stored_bp(160, user_id=1, taken=wallclock.now() - timedelta(days=3)),
                ],
            ),
        )
        window = Window(start=wallclock.now_aware() - timedelta(minutes=1), zone=wallclock.zone())
        (outcome,) = await measure_devices(
            store, sid, [cuff_driver(env, cuff, user_id=1)], window=window
        )
        assert outcome.ok, outcome.error
        values = {r.kind: r.value for r in store.measurements_of(sid)}
        assert values["systolic_pressure"] == 126.0
        assert values["diastolic_pressure"] == 82.0
    finally:
        engine.dispose()
