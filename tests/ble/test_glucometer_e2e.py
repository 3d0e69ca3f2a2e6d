"""End to end: the glucometer driver downloading stored records through RACP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cart import wallclock
from cart.drivers.ble import BleSettings
from cart.errors import ConnectionLost, DeviceReportedError, DeviceTimeout, PairingRequired
from cart.measurement import MeasurementKind
from cart.protocols.ble_racp import OpCode, Operator, RacpRequest
from simulators.ble.config import BleFault, GlucometerConfig, GlucoseRecord

RECORDS = (
    GlucoseRecord(98.0, timedelta(days=2), meal="fasting"),
    GlucoseRecord(142.0, timedelta(hours=20), meal="postprandial"),
    GlucoseRecord(187.0, timedelta(hours=3)),
    GlucoseRecord(104.0, timedelta(minutes=2), meal="fasting"),
)


def values(measurements: list[Any]) -> list[tuple[int, float]]:
    return [(m.sequence, m.value) for m in measurements]


async def test_first_download_reads_every_record_with_context(ble: Any) -> None:
    env = await ble(glucometer=GlucometerConfig.fast(records=RECORDS, first_sequence_number=7))
    driver = env.glucometer_driver()

    measurements = await driver.measure(env.record)

    assert values(measurements) == [(7, 98.0), (8, 142.0), (9, 187.0), (10, 104.0)]
    assert [m.context.get("meal") for m in measurements] == [
        "fasting",
        "postprandial",
        None,
        "fasting",
    ]
    assert all(m.kind is MeasurementKind.GLUCOSE for m in measurements)
    assert all(m.context["sample"] == "capillary_whole_blood" for m in measurements)
    assert all(m.loinc == "41653-7" for m in measurements)
    newest = measurements[-1].measured_at
    assert newest is not None
    assert abs(newest - (wallclock.now() - timedelta(minutes=2))) < timedelta(seconds=30)
    assert list(env.world.glucometer.requests) == [RacpRequest.report_all()]
    assert [f.protocol for f in driver.last_raw] == [
        "ble.glucose_measurement",
        "ble.glucose_context",
        "ble.glucose_measurement",
        "ble.glucose_context",
        "ble.glucose_measurement",
        "ble.glucose_measurement",
        "ble.glucose_context",
    ]
    downloaded = [p.detail.get("records") for p in env.progress if p.stage.value == "progress"]
    assert downloaded == [1, 2, 3, 4]


async def test_every_download_returns_every_record_running_or_restarted(ble: Any) -> None:
    """No in-memory mark: a restarted cart (a new driver) gets what a running one gets,
    and the store's record memory decides what is new."""
    env = await ble(glucometer=GlucometerConfig.fast(records=RECORDS, first_sequence_number=7))
    meter = env.world.glucometer
    running = env.glucometer_driver()
    assert running.keeps_records

    first = await running.measure()
    assert values(first) == [(7, 98.0), (8, 142.0), (9, 187.0), (10, 104.0)]

    meter.add_record(GlucoseRecord(120.0, timedelta(0), meal="casual"))
    again = await running.measure()
    restarted = await env.glucometer_driver().measure()

    expected = [(7, 98.0), (8, 142.0), (9, 187.0), (10, 104.0), (11, 120.0)]
    assert values(again) == expected
    assert values(restarted) == expected
    assert again[-1].context["meal"] == "casual"
    assert list(meter.requests) == [RacpRequest.report_all()] * 3


async def test_no_patient_records_is_a_clear_error_or_an_empty_list(ble: Any) -> None:
    only_control = (GlucoseRecord(130.0, timedelta(minutes=1), control_solution=True),)
    env = await ble(glucometer=GlucometerConfig.fast(records=only_control))
    strict = env.glucometer_driver()

    with pytest.raises(DeviceReportedError) as caught:
        await strict.measure()
    assert "no tiene mediciones nuevas" in caught.value.nurse_message

    lenient = env.glucometer_driver(require_new=False)
    assert await lenient.measure() == []


async def test_control_solution_is_skipped_and_every_patient_record_returned(ble: Any) -> None:
    records = (
        GlucoseRecord(101.0, timedelta(hours=5)),
        GlucoseRecord(99.0, timedelta(minutes=3)),
        GlucoseRecord(130.0, timedelta(minutes=1), control_solution=True),
    )
    env = await ble(glucometer=GlucometerConfig.fast(records=records, first_sequence_number=1))
    driver = env.glucometer_driver()

    assert values(await driver.measure()) == [(1, 101.0), (2, 99.0)]


async def test_mmol_meter_is_converted_to_mg_dl(ble: Any) -> None:
    records = (GlucoseRecord(180.0, timedelta(minutes=1)),)
    env = await ble(glucometer=GlucometerConfig.fast(records=records, unit="mol/L"))
    measurement = (await env.glucometer_driver().measure())[0]
    assert measurement.value == pytest.approx(180.0, abs=1.0)
    assert measurement.original is not None
    assert measurement.original.unit == "mol/L"


async def test_disconnect_mid_download_then_resume(ble: Any) -> None:
    config = GlucometerConfig.fast(
        records=RECORDS,
        first_sequence_number=7,
        fault=BleFault.DISCONNECT_MID_TRANSFER,
        disconnect_after_records=2,
    )
    env = await ble(glucometer=config)
    meter = env.world.glucometer
    driver = env.glucometer_driver()

    with pytest.raises(ConnectionLost) as caught:
        await driver.measure(env.record)
    assert "glucómetro" in caught.value.nurse_message.lower()
    assert driver.last_raw == []  # nothing delivered
    assert list(meter.sent_sequence_numbers) == [7, 8]

    measurements = await driver.measure()

    # the second download asked only for what the first one had not completed
    assert meter.requests[-1] == RacpRequest.report_from(9)
    assert list(meter.sent_sequence_numbers) == [7, 8, 9, 10]
    assert values(measurements) == [(7, 98.0), (8, 142.0), (9, 187.0), (10, 104.0)]
    assert measurements[1].context["meal"] == "postprandial"
    # then a whole download again (the resume was an optimisation, not a memory)
    assert values(await driver.measure()) == values(measurements)
    assert meter.requests[-1] == RacpRequest.report_all()


async def test_malformed_record_fails_the_download_and_aborts(ble: Any) -> None:
    config = GlucometerConfig.fast(records=RECORDS, fault=BleFault.MALFORMED_VALUE)
    env = await ble(glucometer=config)
    meter = env.world.glucometer
    driver = env.glucometer_driver()

    with pytest.raises(DeviceReportedError) as caught:
        await driver.measure()

    assert "does not decode" in caught.value.message
    assert driver.last_raw == []
    assert meter.requests[-1] == RacpRequest.abort()
    # the fault was on the first connection only: the next download is whole
    assert len(await driver.measure()) == len(RECORDS)


async def test_no_racp_response_times_out_and_aborts(ble: Any) -> None:
    config = GlucometerConfig.fast(records=RECORDS, fault=BleFault.NO_RACP_RESPONSE)
    env = await ble(glucometer=config)
    meter = env.world.glucometer
    driver = env.glucometer_driver(BleSettings.fast(response_timeout_s=0.3))

    with pytest.raises(DeviceTimeout) as caught:
        await driver.measure(env.record)

    assert "no responde" in caught.value.nurse_message
    assert driver.last_raw == []
    assert [type(r).__name__ for r in list(meter.requests)] == ["RacpRequest", "RacpRequest"]
    assert meter.requests[0].op_code == OpCode.REPORT_STORED_RECORDS
    assert meter.requests[0].operator == Operator.ALL_RECORDS
    assert meter.requests[1] == RacpRequest.abort()
    assert "done" not in env.stages()


async def test_glucometer_needing_pairing(ble: Any) -> None:
    env = await ble(glucometer=GlucometerConfig.fast(pairing_required=True))

    with pytest.raises(PairingRequired):
        await env.glucometer_driver().measure()

    bonded = env.glucometer_driver(BleSettings.fast(pair=True))
    assert len(await bonded.measure()) == 3


async def test_meter_clock_is_read_and_not_set_by_default(ble: Any) -> None:
    env = await ble(glucometer=GlucometerConfig.fast(clock_skew_s=-7200.0))
    driver = env.glucometer_driver()
    await driver.measure()
    assert driver.last_clock_skew_s == pytest.approx(-7200.0, abs=5.0)
    assert driver.last_clock is not None
    assert driver.last_clock.set_to is None
    assert env.world.glucometer.clock.skew.total_seconds() == pytest.approx(-7200.0, abs=1.0)


async def test_meter_clock_is_set_when_allowed_and_records_keep_the_old_clock(ble: Any) -> None:
    env = await ble(glucometer=GlucometerConfig.fast(clock_skew_s=-7200.0))
    driver = env.glucometer_driver(set_clock=True)
    measurements = await driver.measure()
    assert abs(env.world.glucometer.clock.skew.total_seconds()) < 5.0
    clock = driver.last_clock
    assert clock is not None
    assert clock.set_to is not None
    # the stored records were stamped by the clock as read before the set: the check
    # keeps that reading, so the offset corrects them
    offset = clock.device_time.replace(tzinfo=clock.cart_time.tzinfo) - clock.cart_time
    assert offset.total_seconds() == pytest.approx(-7200.0, abs=5.0)
    assert abs((clock.set_to - wallclock.now()).total_seconds()) < 5.0
    newest = measurements[-1].measured_at
    assert newest is not None
    assert newest < wallclock.now() - timedelta(hours=1, minutes=55)


async def test_restart_between_patients_never_attributes_a_record_twice(ble: Any, tmp_path) -> None:
    """Patient A's reading; the cart restarts (new driver, same database); patient B's
    screening downloads the same memory and takes nothing of A's."""
    from cart.attribution import Window
    from cart.errors import NotAttributed
    from cart.screening import measure_devices
    from cart.store import Store, create_db_engine, migrate
    from cart.store.models import Screening

    env = await ble(glucometer=GlucometerConfig.fast(records=RECORDS, first_sequence_number=7))
    engine = create_db_engine(f"sqlite:///{tmp_path / 'cart.db'}")
    migrate(engine)
    try:
        store = Store(engine)

        def window() -> Window:
            return Window(wallclock.now_aware() - timedelta(minutes=5), wallclock.zone())

        a = store.add_screening(Screening()).id
        assert a is not None
        (taken,) = await measure_devices(store, a, [env.glucometer_driver()], window=window())
        assert taken.ok, taken.error
        assert [r.value for r in store.measurements_of(a)] == [104.0]

        b = store.add_screening(Screening()).id
        assert b is not None
        (refused,) = await measure_devices(store, b, [env.glucometer_driver()], window=window())
        assert isinstance(refused.error, NotAttributed)
        assert refused.error.reason == "already_seen"
        assert store.measurements_of(b) == []
    finally:
        engine.dispose()
