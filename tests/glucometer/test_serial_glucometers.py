"""Serial glucometers end-to-end over real ptys: downloads, faults, every record, clocks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cart import wallclock
from cart.attribution import Window
from cart.devices import DeviceConfig, Role
from cart.drivers.factory import build_driver
from cart.drivers.serial_glucometer import NO_NEW_RECORDS_ES, SerialGlucometerDriver
from cart.errors import (
    CartError,
    ConfigError,
    ConnectionLost,
    DeviceReportedError,
    DeviceTimeout,
    NotAttributed,
)
from cart.measurement import Special
from cart.screening import measure_devices
from cart.store import Store, create_db_engine, migrate
from cart.store.models import Screening
from simulators.faults import Fault
from simulators.serial_glucometer import (
    FAMILIES,
    GlucometerConfig,
    GlucometerSimulator,
    MeterRecord,
    simulator_for,
)

#: short link timers so the fault drills stay fast
OPTIONS: dict[str, Any] = {"reply_s": 0.25, "retries": 2}
#: families with a set-clock command in cart.protocols (Contour has none)
SETTABLE = ["onetouch.ultra2", "onetouch.ultraeasy", "taidoc.td42xx", "freestyle.optium"]
#: families whose format carries a meal marker
MEAL_FAMILIES = {"onetouch.ultra2", "taidoc.td42xx", "contour.astm"}
#: (value, meal) of the default memory: three older readings, then the new one
EXPECTED = [(96.0, "preprandial"), (142.0, "postprandial"), (118.0, None), (104.0, None)]


def _sim(family: str, **config: Any) -> GlucometerSimulator:
    return simulator_for(family, GlucometerConfig.fast(**config))


def _cfg(
    family: str, port: str, device_id: str = "gluco", timeout_s: float = 2.0, **options: Any
) -> DeviceConfig:
    return DeviceConfig(
        id=device_id,
        role=Role.GLUCOMETER,
        driver=family,
        transport="serial",
        port=port,
        timeout_s=timeout_s,
        options={**OPTIONS, **options},
    )


def _driver(family: str, sim: GlucometerSimulator, **options: Any) -> SerialGlucometerDriver:
    driver = build_driver(_cfg(family, sim.port, **options))
    assert isinstance(driver, SerialGlucometerDriver)
    return driver


def _values(measurements: list[Any], family: str) -> list[tuple[float | None, str | None]]:
    out = []
    for m in measurements:
        meal = m.context.get("meal") if family in MEAL_FAMILIES else None
        out.append((m.value, meal))
    return out


def _expected(family: str) -> list[tuple[float | None, str | None]]:
    return [(v, meal if family in MEAL_FAMILIES else None) for v, meal in EXPECTED]


# --------------------------------------------------------------------------- downloads


@pytest.mark.parametrize("family", FAMILIES)
async def test_family_downloads_the_stored_readings_newest_last(family, no_leaked_tasks):
    async with _sim(family) as sim:
        driver = _driver(family, sim)
        progress: list[str] = []
        measurements = await driver.measure(lambda p: progress.append(p.stage.value))
    assert _values(measurements, family) == _expected(family)
    newest = sim.records[-1]
    assert measurements[-1].measured_at == newest.measured_at  # the screening keeps the last
    assert driver.keeps_records
    assert driver.last_clock is not None
    assert driver.last_clock.set_to is None  # set_clock is off by default
    assert driver.last_clock.cart_time.tzinfo is not None
    assert all(m.kind.value == "glucose" and m.unit == "mg/dL" for m in measurements)
    assert all("clock_skew" not in m.flags for m in measurements)
    assert driver.last_clock_skew_s is not None
    assert abs(driver.last_clock_skew_s) < 120
    assert measurements[0].device is not None
    assert measurements[0].device.device_id == "gluco"
    assert driver.last_raw
    assert {f.protocol for f in driver.last_raw} == {family}
    assert progress[0] == "connecting"
    assert progress[-1] == "done"
    assert "progress" in progress  # records downloaded so far


# --------------------------------------------------------------------------- fault matrix

# (fault, fault_replies) -> expected error; missing = the download succeeds (recovery)
FAULT_CASES: list[tuple[Fault, int | None, type[CartError] | None]] = [
    (Fault.NONE, None, None),
    (Fault.NOISE, None, None),
    (Fault.CHECKSUM, 1, None),
    (Fault.CHECKSUM, None, DeviceReportedError),
    (Fault.BROKEN_FRAME, 1, None),
    (Fault.BROKEN_FRAME, None, DeviceReportedError),
    (Fault.TRUNCATED, 1, None),
    (Fault.TRUNCATED, None, DeviceReportedError),
    (Fault.SILENCE, None, DeviceTimeout),
    (Fault.UNPLUG, None, ConnectionLost),
]


def _case_id(case: tuple[Fault, int | None, type[CartError] | None]) -> str:
    fault, replies, _ = case
    return f"{fault}-{'once' if replies == 1 else 'always'}"


@pytest.mark.parametrize("case", FAULT_CASES, ids=_case_id)
@pytest.mark.parametrize("family", FAMILIES)
async def test_family_against_fault(family, case, no_leaked_tasks):
    fault, replies, expected_error = case
    # an UltraEasy resends its response itself; here it does so well inside the driver's
    # 0.25 s reply window, so every retry meets a (faulty) resend whatever the machine's load
    resend: dict[str, Any] = {"retransmit_s": 0.1} if family == "onetouch.ultraeasy" else {}
    async with _sim(family, fault=fault, fault_replies=replies, seed=7, **resend) as sim:
        driver = _driver(family, sim)
        if expected_error is None:
            measurements = await driver.measure()
            assert _values(measurements, family) == _expected(family)
            assert driver.last_raw
            if replies is not None or fault is Fault.NOISE:
                assert sim.faults_injected >= 1  # the fault really hit, and was survived
        else:
            with pytest.raises(expected_error) as info:
                await driver.measure()
            assert info.value.device_id == "gluco"
            assert "glucómetro" in info.value.nurse_message
            assert driver.last_raw == []  # nothing partial
            if fault in (Fault.CHECKSUM, Fault.BROKEN_FRAME, Fault.TRUNCATED):
                assert sim.faults_injected > OPTIONS["retries"]  # retried, then gave up


@pytest.mark.parametrize("family", ["onetouch.ultra2", "onetouch.ultraeasy", "freestyle.optium"])
async def test_silence_tells_the_nurse_to_check_cable_and_transfer_mode(family, no_leaked_tasks):
    async with _sim(family, fault=Fault.SILENCE) as sim:
        with pytest.raises(DeviceTimeout) as info:
            await _driver(family, sim, timeout_s=10.0).measure()
    message = info.value.nurse_message
    assert message.startswith("El glucómetro no responde: revise el cable")
    assert "Reintentar" in message


async def test_a_download_that_outlasts_timeout_s_is_a_timeout(no_leaked_tasks):
    start = wallclock.now().replace(second=0, microsecond=0) - timedelta(days=30)
    history = tuple(MeterRecord(start + timedelta(hours=i), 100 + i) for i in range(60))
    async with _sim("taidoc.td42xx", history=history, reply_delay_s=0.01) as sim:
        driver = _driver("taidoc.td42xx", sim, timeout_s=0.3)
        with pytest.raises(DeviceTimeout):
            await driver.measure()
    assert driver.last_raw == []


async def test_unplug_mid_dump_tells_the_nurse_nothing_was_kept(no_leaked_tasks):
    async with _sim("onetouch.ultra2", fault=Fault.UNPLUG) as sim:
        with pytest.raises(ConnectionLost) as info:
            await _driver("onetouch.ultra2", sim).measure()
        assert sim.unplugged
    assert "se desconectó durante la descarga" in info.value.nurse_message


@pytest.mark.parametrize("family", ["onetouch.ultra2", "onetouch.ultraeasy", "freestyle.optium"])
async def test_reading_above_range_is_a_special_not_a_number(family, no_leaked_tasks):
    async with _sim(family, fault=Fault.OVERLOAD) as sim:
        measurements = await _driver(family, sim).measure()
    newest = measurements[-1]
    assert newest.value is None
    assert newest.special is Special.POS_INF
    assert "above_range" in newest.flags


async def test_contour_reading_above_range_is_a_special(no_leaked_tasks):
    async with _sim("contour.astm", fault=Fault.OVERLOAD) as sim:
        measurements = await _driver("contour.astm", sim).measure()
    assert measurements[-1].special is Special.POS_INF


@pytest.mark.parametrize("family", ["onetouch.ultra2", "freestyle.optium"])
async def test_echoed_commands_are_skipped(family, no_leaked_tasks):
    async with _sim(family, echo=True) as sim:
        measurements = await _driver(family, sim).measure()
    assert _values(measurements, family) == _expected(family)


# --------------------------------------------------------------------------- every record


@pytest.mark.parametrize("family", FAMILIES)
async def test_every_download_returns_every_record_running_or_restarted(family, no_leaked_tasks):
    """No in-memory mark: a running cart and a restarted one (a new driver) get the same."""
    async with _sim(family) as sim:
        running = _driver(family, sim)
        first = await running.measure()
        assert len(first) == 4
        sim.add_reading(131)
        again = await running.measure()
        restarted = await _driver(family, sim).measure()
    assert [m.value for m in again] == [v for v, _ in EXPECTED] + [131.0]
    assert [(m.value, m.measured_at) for m in restarted] == [
        (m.value, m.measured_at) for m in again
    ]


@pytest.mark.parametrize("family", FAMILIES)
async def test_replayed_records_are_deduplicated(family, no_leaked_tasks):
    async with _sim(family, replay=True) as sim:
        measurements = await _driver(family, sim).measure()
    assert _values(measurements, family) == _expected(family)


async def test_retired_options_are_accepted_and_ignored(no_leaked_tasks):
    """devices.toml files of earlier versions keep working; the store decides now."""
    async with _sim("onetouch.ultra2") as sim:
        mark = sim.records[1].measured_at
        driver = _driver("onetouch.ultra2", sim, high_water_mark=mark.isoformat(), latest_only=True)
        assert [m.value for m in await driver.measure()] == [v for v, _ in EXPECTED]


@pytest.mark.parametrize("family", ["onetouch.ultra2", "contour.astm"])
async def test_control_solution_is_not_returned(family, no_leaked_tasks):
    now = wallclock.now().replace(second=0, microsecond=0)
    history = (
        MeterRecord(now - timedelta(hours=3), 99),
        MeterRecord(now - timedelta(hours=2), 110, control_solution=True),
    )
    async with _sim(family, history=history, new_reading_mg_dl=None) as sim:
        driver = _driver(family, sim)
        assert [m.value for m in await driver.measure()] == [99.0]


async def test_a_meter_with_only_control_tests_asks_for_a_measurement(no_leaked_tasks):
    now = wallclock.now().replace(second=0, microsecond=0)
    history = (MeterRecord(now - timedelta(hours=2), 110, control_solution=True),)
    async with _sim("onetouch.ultra2", history=history, new_reading_mg_dl=None) as sim:
        with pytest.raises(DeviceReportedError) as info:
            await _driver("onetouch.ultra2", sim).measure()
    assert info.value.nurse_message == NO_NEW_RECORDS_ES


# --------------------------------------------------------------------------- clock skew


@pytest.mark.parametrize("family", FAMILIES)
async def test_meter_clock_skew_is_flagged(family, no_leaked_tasks):
    async with _sim(family, clock_skew_s=-7200) as sim:
        driver = _driver(family, sim, clock_skew_s=600)
        measurements = await driver.measure()
    assert len(measurements) == 4
    for m in measurements:
        assert "clock_skew" in m.flags
        assert abs(int(m.context["clock_skew_s"]) + 7200) <= 61  # minute-resolution clocks
    assert driver.last_clock_skew_s is not None
    assert driver.last_clock_skew_s < -7000


@pytest.mark.parametrize("family", FAMILIES)
async def test_meter_clock_read_at_connect_three_days_off(family, no_leaked_tasks):
    async with _sim(family, clock_skew_s=3 * 86400) as sim:
        driver = _driver(family, sim)
        await driver.measure()
        still = sim.meter_now()
    clock = driver.last_clock
    assert clock is not None
    offset = clock.device_time.replace(tzinfo=clock.cart_time.tzinfo) - clock.cart_time
    assert abs(offset.total_seconds() - 3 * 86400) <= 61  # minute-resolution clocks
    assert clock.set_to is None
    assert abs((still - wallclock.now()).total_seconds() - 3 * 86400) <= 61  # left alone


@pytest.mark.parametrize("family", SETTABLE)
async def test_meter_clock_set_only_when_allowed(family, no_leaked_tasks):
    async with _sim(family, clock_skew_s=-3 * 86400) as sim:
        driver = _driver(family, sim, set_clock=True)
        measurements = await driver.measure()
        after = sim.meter_now()
    assert abs((after - wallclock.now()).total_seconds()) <= 61  # the meter now agrees
    clock = driver.last_clock
    assert clock is not None
    assert clock.set_to is not None
    assert abs((clock.set_to - wallclock.now()).total_seconds()) <= 61
    # the records were stamped by the clock as read: the check keeps that reading
    offset = clock.device_time.replace(tzinfo=clock.cart_time.tzinfo) - clock.cart_time
    assert abs(offset.total_seconds() + 3 * 86400) <= 61
    assert len(measurements) == 4


async def test_contour_clock_is_read_from_its_header_and_never_set(no_leaked_tasks):
    async with _sim("contour.astm", clock_skew_s=-3 * 86400) as sim:
        driver = _driver("contour.astm", sim, set_clock=True)
        await driver.measure()
    clock = driver.last_clock
    assert clock is not None  # the header carries the meter's time
    assert clock.set_to is None  # ASTM has no set-clock message
    offset = clock.device_time.replace(tzinfo=clock.cart_time.tzinfo) - clock.cart_time
    assert abs(offset.total_seconds() + 3 * 86400) <= 61


async def test_skew_under_the_threshold_is_not_flagged(no_leaked_tasks):
    async with _sim("onetouch.ultraeasy", clock_skew_s=120) as sim:
        measurements = await _driver("onetouch.ultraeasy", sim, clock_skew_s=600).measure()
    assert all("clock_skew" not in m.flags for m in measurements)


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"reply_s": "soon"}, "reply_s"),
        ({"retries": 1.5}, "retries"),
        ({"set_clock": "yes"}, "set_clock"),
        ({"user_id": "one"}, "user_id"),
        ({"clock_skew": 60}, "clock_skew"),
        ({"baudrate": "fast"}, "baudrate|serial"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(options, named):
    cfg = DeviceConfig(
        "gluco", Role.GLUCOMETER, "taidoc.td42xx", "serial", port="/dev/null", options=options
    )
    with pytest.raises(ConfigError, match="gluco") as info:
        build_driver(cfg)
    assert any(word in info.value.message for word in named.split("|"))


def test_family_default_baudrates():
    for family, baud in [("taidoc.td42xx", 19200), ("freestyle.optium", 19200)]:
        driver = build_driver(DeviceConfig("g", Role.GLUCOMETER, family, "serial", port="x"))
        assert driver._serial_settings.baudrate == baud  # type: ignore[attr-defined]
    driver = build_driver(
        DeviceConfig(
            "g", Role.GLUCOMETER, "freestyle.optium", "serial", port="x", options={"baudrate": 9600}
        )
    )
    assert driver._serial_settings.baudrate == 9600  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- screening


async def test_two_glucometers_into_one_screening_nothing_partial(tmp_path, no_leaked_tasks):
    """Two meters download concurrently; a third, unplugged mid-dump, stores nothing."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    migrate(engine)
    store = Store(engine)
    sid = store.add_screening(Screening()).id
    assert sid is not None
    async with (
        _sim("onetouch.ultra2", new_reading_mg_dl=121) as ultra2,
        _sim("contour.astm", new_reading_mg_dl=133) as contour,
        _sim("onetouch.ultraeasy", fault=Fault.UNPLUG) as broken,
    ):
        drivers = [
            build_driver(_cfg("onetouch.ultra2", ultra2.port, "gluco1")),
            build_driver(_cfg("contour.astm", contour.port, "gluco2")),
            build_driver(_cfg("onetouch.ultraeasy", broken.port, "gluco3")),
        ]
        outcomes = await measure_devices(store, sid, drivers)
    by_device = {o.device_id: o for o in outcomes}
    assert by_device["gluco1"].ok
    assert by_device["gluco2"].ok
    assert isinstance(by_device["gluco3"].error, ConnectionLost)
    rows = store.measurements_of(sid)
    assert {r.device_id for r in rows} == {"gluco1", "gluco2"}  # nothing from the unplugged one
    assert {r.kind for r in rows} == {"glucose"}
    newest = {d: [r.value for r in rows if r.device_id == d][-1] for d in ("gluco1", "gluco2")}
    assert newest == {"gluco1": 121.0, "gluco2": 133.0}
    assert len(store.raw_frames_of(sid)) > 0
    engine.dispose()


def _store(tmp_path: Path) -> Store:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    migrate(engine)
    return Store(engine)


def _window() -> Window:
    zone = wallclock.zone()
    return Window(start=wallclock.now_aware() - timedelta(minutes=5), zone=zone)


async def test_screening_takes_the_new_reading_and_a_restart_never_takes_it_again(
    tmp_path, no_leaked_tasks
):
    """Patient A's reading, then a restart (new store handle, new driver) and patient B:
    B's screening refuses A's record (the store's memory), and the nurse is told why."""
    store = _store(tmp_path)
    a = store.add_screening(Screening()).id
    assert a is not None
    async with _sim("onetouch.ultra2", new_reading_mg_dl=236) as sim:
        (outcome,) = await measure_devices(
            store, a, [_driver("onetouch.ultra2", sim)], window=_window()
        )
        assert outcome.ok
        assert [r.value for r in store.measurements_of(a)] == [236.0]

        restarted = _store(tmp_path)  # the same database after a power cycle
        b = restarted.add_screening(Screening()).id
        assert b is not None
        (outcome,) = await measure_devices(
            restarted, b, [_driver("onetouch.ultra2", sim)], window=_window()
        )
    assert isinstance(outcome.error, NotAttributed)
    assert outcome.error.reason == "already_seen"
    assert "Reintentar" in outcome.error.nurse_message
    assert restarted.measurements_of(b) == []
