"""Scale and BP families over real ptys: every fault maps to a typed error, nothing partial."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from cart import wallclock
from cart.attribution import Window
from cart.devices import DeviceConfig, Role
from cart.drivers.base import ClockCheck, ReadingRefused, Refusal
from cart.drivers.factory import build_driver
from cart.errors import (
    CartError,
    ConfigError,
    ConnectionLost,
    DeviceReportedError,
    DeviceTimeout,
)
from cart.measurement import Measurement
from cart.screening import measure_devices
from cart.store import Store, create_db_engine, migrate
from cart.store.models import Screening
from simulators.faults import Fault
from simulators.serial_bp import AccutorrSimulator, BPConfig, UA767Simulator
from simulators.serial_scale import ScaleConfig, SerialScaleSimulator

SCALE_OPTS = {"silence_s": 1.0}
BP_OPTS = {"poll_s": 0.05, "reply_s": 0.5}


def _sim(family: str, fault: Fault) -> Any:
    if family == "datascope.accutorr":
        return AccutorrSimulator(BPConfig.fast(fault=fault, systolic=134, diastolic=86, pulse=66))
    if family == "and.ua767":
        return UA767Simulator(BPConfig.fast(fault=fault, systolic=134, diastolic=86, pulse=66))
    return SerialScaleSimulator(
        ScaleConfig.fast(format=family, fault=fault, weight_kg=77.7, height_cm=171.0)
    )


def _cfg(family: str, port: str) -> DeviceConfig:
    bp = family in ("datascope.accutorr", "and.ua767")
    return DeviceConfig(
        id="dev",
        role=Role.BP if bp else Role.SCALE,
        driver=family,
        transport="serial",
        port=port,
        timeout_s=2.0,
        options=BP_OPTS if bp else SCALE_OPTS,
    )


EXPECTED_OK = {
    "and.weighing": {"body_weight": 77.7},
    "indicator.st_gs": {"body_weight": 77.7},
    "tanita.line": {"body_weight": 77.7, "body_height": 171.0, "bmi": 26.6},
    "datascope.accutorr": {
        "systolic_pressure": 134.0,
        "diastolic_pressure": 86.0,
        "mean_arterial_pressure": 102.0,
        "pulse_rate": 66.0,
    },
    "and.ua767": {
        "systolic_pressure": 134.0,
        "diastolic_pressure": 86.0,
        "mean_arterial_pressure": 102.0,
        "pulse_rate": 66.0,
    },
}

# (family, fault) -> expected error type; missing = the reading still succeeds
EXPECTED_ERRORS: dict[tuple[str, Fault], type[CartError]] = {
    **{(f, Fault.SILENCE): DeviceTimeout for f in EXPECTED_OK},
    ("and.weighing", Fault.OVERLOAD): DeviceReportedError,
    ("indicator.st_gs", Fault.OVERLOAD): DeviceReportedError,
    ("datascope.accutorr", Fault.OVERLOAD): DeviceReportedError,
    ("and.ua767", Fault.OVERLOAD): DeviceReportedError,
    ("and.weighing", Fault.BROKEN_FRAME): DeviceReportedError,
    ("indicator.st_gs", Fault.BROKEN_FRAME): DeviceReportedError,
    ("datascope.accutorr", Fault.BROKEN_FRAME): DeviceReportedError,
    ("and.weighing", Fault.TRUNCATED): DeviceReportedError,
    ("indicator.st_gs", Fault.TRUNCATED): DeviceReportedError,
    ("tanita.line", Fault.TRUNCATED): DeviceReportedError,
    ("datascope.accutorr", Fault.TRUNCATED): DeviceTimeout,
    ("and.ua767", Fault.TRUNCATED): DeviceTimeout,
    ("and.weighing", Fault.UNPLUG): ConnectionLost,
    ("indicator.st_gs", Fault.UNPLUG): ConnectionLost,
    ("datascope.accutorr", Fault.UNPLUG): ConnectionLost,
    ("and.ua767", Fault.UNPLUG): ConnectionLost,
    ("tanita.line", Fault.UNPLUG): ConnectionLost,  # pulled out half-way through the line
}
#: faults a format cannot express: the simulator refuses them
NOT_EXPRESSIBLE = {("tanita.line", Fault.OVERLOAD)}  # no over-range marker in the format

FAULTS = [
    Fault.NONE,
    Fault.NOISE,
    Fault.SILENCE,
    Fault.OVERLOAD,
    Fault.BROKEN_FRAME,
    Fault.TRUNCATED,
    Fault.UNPLUG,
]


@pytest.mark.parametrize("fault", FAULTS, ids=str)
@pytest.mark.parametrize("family", list(EXPECTED_OK))
async def test_family_against_fault(family, fault, no_leaked_tasks):
    if (family, fault) in NOT_EXPRESSIBLE:
        with pytest.raises(ValueError, match="cannot be sent"):
            _sim(family, fault)
        return
    async with _sim(family, fault) as sim:
        driver = build_driver(_cfg(family, sim.port))
        expected_error = EXPECTED_ERRORS.get((family, fault))
        if expected_error is None:
            measurements = await driver.measure()
            got = {m.kind.value: m.value for m in measurements}
            assert got == EXPECTED_OK[family]
            assert driver.last_raw
            assert driver.last_raw[0].protocol == family
        else:
            with pytest.raises(expected_error) as info:
                await driver.measure()
            assert info.value.device_id == "dev"
            assert info.value.nurse_message  # Spanish advice for the kiosk
            assert driver.last_raw == []


async def test_accutorr_never_takes_the_previous_patients_reading(no_leaked_tasks):
    # the monitor shows an old reading (minutes since NIBP = 12) until the cycle ends
    async with AccutorrSimulator(BPConfig(measure_s=0.4, systolic=118, diastolic=76)) as sim:
        driver = build_driver(_cfg("datascope.accutorr", sim.port))
        measurements = await driver.measure()
        assert {m.kind.value: m.value for m in measurements}["systolic_pressure"] == 118.0


async def test_ua767_acknowledges_so_the_monitor_stops_resending(no_leaked_tasks):
    async with UA767Simulator(BPConfig.fast()) as sim:
        await build_driver(_cfg("and.ua767", sim.port)).measure()
        # the simulator task reads the ACK concurrently: give it a bounded moment
        for _ in range(200):
            if sim.acks:
                break
            await asyncio.sleep(0.01)
        assert sim.acks == 1
        assert sim.packets_sent == 1


async def test_ua767_old_unacknowledged_packet_is_acknowledged_and_refused(no_leaked_tasks):
    """A packet stamped two days ago (the monitor's memory of a reading never
    acknowledged) is refused by the record check, acknowledged so it stops coming back,
    and with nothing fresh before the deadline the nurse is told why."""
    window = Window(wallclock.now_aware() - timedelta(minutes=5), wallclock.zone())

    def check(record: Sequence[Measurement], clock: ClockCheck | None) -> Refusal | None:
        return window.check(record, clock, wallclock.now_aware())

    async with UA767Simulator(BPConfig.fast(clock_skew_s=-2 * 86400)) as sim:
        driver = build_driver(_cfg("and.ua767", sim.port))
        assert driver.keeps_records
        with pytest.raises(ReadingRefused) as caught:
            await driver.measure(check=check)
        for _ in range(200):
            if sim.acks:
                break
            await asyncio.sleep(0.01)
        assert sim.acks == 1
    assert caught.value.refusal.reason == "stale"
    assert "Reintentar" in caught.value.nurse_message
    assert len(driver.last_raw) == 1  # the refused packet, for the raw log


@pytest.mark.parametrize("family", ["datascope.accutorr", "and.weighing"])
def test_bad_options_are_config_errors(family):
    cfg = _cfg(family, "/dev/null")
    bad = DeviceConfig(
        id=cfg.id,
        role=cfg.role,
        driver=cfg.driver,
        transport=cfg.transport,
        port=cfg.port,
        timeout_s=cfg.timeout_s,
        options={"poll_s": "often", "silence_s": "soon", "baudrate": "fast"},
    )
    with pytest.raises(ConfigError, match="dev"):
        build_driver(bad)


async def test_station_and_bp_measured_into_one_screening_nothing_partial(tmp_path):
    """A Tanita station and a cuff read concurrently; a failing device stores nothing."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    migrate(engine)
    store = Store(engine)
    sid = store.add_screening(Screening()).id
    assert sid is not None
    async with (
        _sim("tanita.line", Fault.NONE) as station,
        _sim("datascope.accutorr", Fault.NONE) as cuff,
        _sim("and.ua767", Fault.UNPLUG) as broken,
    ):
        drivers = [
            build_driver(_cfg("tanita.line", station.port)),
            build_driver(_cfg("datascope.accutorr", cuff.port)),
            build_driver(
                DeviceConfig("cuff2", Role.BP, "and.ua767", "serial", port=broken.port, timeout_s=2)
            ),
        ]
        outcomes = await measure_devices(store, sid, drivers)
    by_device = {o.device_id: o for o in outcomes}
    assert isinstance(by_device["cuff2"].error, ConnectionLost)
    rows = store.measurements_of(sid)
    assert {r.kind for r in rows} == {
        "body_weight",
        "body_height",
        "bmi",
        "systolic_pressure",
        "diastolic_pressure",
        "mean_arterial_pressure",
        "pulse_rate",
    }
    assert {r.device_id for r in rows} == {"dev"}  # nothing from the unplugged cuff
    assert all(r.raw for r in rows)
    engine.dispose()
