"""The BLE devices built from devices.toml entries through the factory, stored by a screening."""

from __future__ import annotations

from cart.drivers.ble import BleBackend, BleSettings
from cart.drivers.bumble_bleak import BumbleAdapter
from cart.drivers.factory import build_driver
from cart.screening import measure_devices
from cart.store import Store, create_db_engine, migrate
from cart.store.models import Screening
from simulators.ble.world import start_virtual_ble_world


async def test_three_ble_devices_from_config_into_one_screening(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    migrate(engine)
    store = Store(engine)
    sid = store.add_screening(Screening()).id
    assert sid is not None
    world = await start_virtual_ble_world(fast=True)
    adapter = await BumbleAdapter.open_on_link(world.link)
    try:
        backend = BleBackend.from_bumble(adapter)
        drivers = [
            build_driver(cfg, backend=backend, settings=BleSettings.fast(response_timeout_s=1.0))
            for cfg in world.device_configs()
        ]
        progress = []
        outcomes = await measure_devices(store, sid, drivers, progress=progress.append)
    finally:
        await adapter.close()
        await world.stop()
        engine.dispose()
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    kinds = {r.kind for r in store.measurements_of(sid)}
    assert {"body_weight", "systolic_pressure", "diastolic_pressure", "glucose"} <= kinds
    glucose = [r for r in store.measurements_of(sid) if r.kind == "glucose"]
    assert len(glucose) == 1  # the newest reading only: older records are not this screening's
    cuff = [
        e for e in progress if e.measurement is not None and e.measurement.kind == "cuff_pressure"
    ]
    assert cuff  # live cuff pressure reached the progress callback
    assert "cuff_pressure" not in kinds  # progress only, never stored as a result
