"""The simulated cart `make run` starts: every device measured through its real transport."""

from __future__ import annotations

from cart.drivers.factory import build_driver
from cart.drivers.radio import driver_extras
from cart.screening import measure_devices
from cart.store import Store, create_db_engine, migrate
from cart.store.models import Screening
from simulators.world import PatientScript, SimulatedCart


async def test_default_cart_measures_every_device_into_one_screening(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    migrate(engine)
    store = Store(engine)
    sid = store.add_screening(Screening()).id
    assert sid is not None
    patient = PatientScript(
        weight_kg=91.3, height_cm=158.5, systolic=152, diastolic=97, pulse=80, glucose_mg_dl=188
    )
    try:
        async with SimulatedCart(fast=True, patient=patient) as cart:
            roles = {d.role.value for d in cart.devices}
            assert roles == {"scale", "stadiometer", "bp", "glucometer"}
            async with driver_extras(cart.devices, link=cart.ble_link, fast=True) as extras:
                drivers = [build_driver(cfg, **extras) for cfg in cart.devices]
                outcomes = await measure_devices(store, sid, drivers)
        assert all(o.ok for o in outcomes), [(o.device_id, o.error) for o in outcomes]
        values = {r.kind: r.value for r in store.measurements_of(sid)}
        assert values["body_weight"] == 91.3
        assert values["body_height"] == 158.5
        assert values["systolic_pressure"] == 152.0
        assert values["diastolic_pressure"] == 97.0
        assert values["glucose"] == 188.0
    finally:
        engine.dispose()


async def test_no_bluetooth_is_touched_without_ble_devices():
    async with SimulatedCart(fast=True, bp="serial", glucometer=False) as cart:
        assert {d.transport for d in cart.devices} == {"serial", "modbus"}
        assert cart.ble_link is None
        async with driver_extras(cart.devices) as extras:
            assert extras == {}


async def test_each_screening_gets_a_fresh_glucose_reading():
    """A long-running demo: the second patient's glucometer download has a newer record
    (the meter's whole memory comes back each time; the store decides what is new)."""
    async with SimulatedCart(fast=True, bp="serial") as cart:
        (meter,) = [d for d in cart.devices if d.role.value == "glucometer"]
        async with driver_extras(cart.devices, link=cart.ble_link, fast=True) as extras:
            driver = build_driver(meter, **extras)  # one long-lived driver, as in the service
            first = await driver.measure()
            second = await driver.measure()
    assert {m.kind.value for m in first} == {"glucose"}
    assert {m.kind.value for m in second} == {"glucose"}
    assert [m.sequence for m in second[: len(first)]] == [m.sequence for m in first]
    assert len(second) == len(first) + 1
    assert second[-1].measured_at is not None
    assert first[-1].measured_at is not None
    assert second[-1].measured_at >= first[-1].measured_at
