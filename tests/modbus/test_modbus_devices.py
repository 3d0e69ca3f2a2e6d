"""Modbus RTU end to end: pymodbus server on a pty bridge -> cart.drivers.modbus -> measurements."""

from __future__ import annotations

import pytest
import serial

from cart.devices import DeviceConfig, Role
from cart.drivers.base import ProgressStage
from cart.drivers.factory import build_driver
from cart.errors import (
    ConnectionLost,
    DeviceBusy,
    DeviceNotFound,
    DeviceReportedError,
    DeviceTimeout,
)
from cart.measurement import Measurement
from cart.protocols import modbus_rtu
from simulators.faults import Fault
from simulators.modbus_device import (
    ModbusDeviceConfig,
    ModbusDeviceSimulator,
    start_modbus_height_rod,
)
from tests.modbus._util import FAILING_LINK, driver_for, measure

fast = ModbusDeviceConfig.fast


async def test_height_rod_reports_measuring_then_the_settled_height(no_leaked_tasks):
    result, driver, events, sim = await measure(fast(profile="height_rod", value=170.3))
    (height,) = result
    assert (height.kind, height.value, height.unit, height.flags) == (
        "body_height",
        170.3,
        "cm",
        (),
    )
    assert (height.original.value, height.original.unit) == (1703.0, "mm")
    stages = [e.stage for e in events]
    assert stages[:2] == [ProgressStage.CONNECTING, ProgressStage.WAITING]
    assert stages[-1] is ProgressStage.DONE
    measuring = [e for e in events if e.message == "measuring"]
    assert measuring, "the rod says 'measuring' before the value settles"
    assert all("unstable" in e.measurement.flags for e in measuring if e.measurement)
    assert all(e.measurement.value < 170.3 for e in measuring if e.measurement)
    # the raw log holds the answer ADU, which the pure codec decodes back
    (raw,) = driver.last_raw
    assert raw.protocol == "modbus.rtu"
    adu = modbus_rtu.parse_adu(raw.data, direction="response")
    assert (adu.device_id, adu.function, adu.registers) == (1, 0x03, (1703, 0))
    assert sim.reads >= 3


@pytest.mark.parametrize(
    ("profile", "map_options", "weight_kg"),
    [
        ("cas_ci600d", {}, 72.45),
        ("cas_ci600d", {"reading": "net", "decimals": 1}, 58.3),
        ("eagle_ei", {}, 72.4),
        ("eagle_ei", {"unit": "lb", "channel": 2}, 81.25),
    ],
)
async def test_weighing_indicator_profiles(profile, map_options, weight_kg, no_leaked_tasks):
    config = fast(profile=profile, map_options=map_options, value=weight_kg)
    result, driver, events, _ = await measure(config)
    (weight,) = result
    assert (weight.kind, weight.value, weight.unit) == ("body_weight", weight_kg, "kg")
    # the indicator's value moves while the patient settles; two equal reads end it
    settling = [e.measurement.value for e in events if e.message == "settling" and e.measurement]
    assert settling[0] < weight_kg
    assert settling[-1] == weight_kg
    adu = modbus_rtu.parse_adu(driver.last_raw[0].data, direction="response")
    served = Measurement.create("body_weight", weight_kg, "kg")  # converted to the map's unit
    assert list(adu.registers or ()) == config.register_map().encode(served)


@pytest.mark.parametrize(
    ("profile", "map_options", "value"),
    [
        ("cas_ci600d", {"word_order": "little"}, 72.45),
        ("eagle_ei", {"word_order": "little"}, 72.4),
        ("eagle_ei", {"word_order": "little", "byte_order": "little"}, 72.4),
        ("height_rod", {"datatype": "uint32", "word_order": "little"}, 181.2),
    ],
)
async def test_word_order_options_reach_both_ends(profile, map_options, value, no_leaked_tasks):
    config = fast(profile=profile, map_options=map_options, value=value)
    result, driver, _, _ = await measure(config)
    assert [m.value for m in result] == [value]
    registers = modbus_rtu.parse_adu(driver.last_raw[0].data).registers
    big = fast(profile=profile, map_options={**map_options, "word_order": "big"}, value=value)
    assert list(registers or ()) != big.register_map().encode(value)


async def test_word_order_mismatch_gives_a_wrong_value_not_a_crash(no_leaked_tasks):
    config = fast(profile="cas_ci600d", map_options={"word_order": "little"}, value=72.45)
    async with ModbusDeviceSimulator(config) as sim:
        driver = driver_for(sim, word_order="big")
        (weight,) = await driver.measure()
    assert weight.value == 4748083.2  # 0x1C4D_0000 / 100: why word_order is per device


async def test_noise_on_the_cable_is_hunted_through(no_leaked_tasks):
    result, _, _, sim = await measure(fast(value=158.7, fault=Fault.NOISE, seed=5))
    assert [m.value for m in result] == [158.7]
    assert sim.noise_bytes > 0


FAULTS = [
    pytest.param({"fault": Fault.SILENCE}, DeviceTimeout, "no answer", "no responde", id="silence"),
    pytest.param(
        {"fault": Fault.CHECKSUM}, DeviceReportedError, "bad CRC", "datos dañados", id="crc"
    ),
    pytest.param(
        {"fault": Fault.BROKEN_FRAME},
        DeviceReportedError,
        "bad CRC",
        "revise el cable y la configuración",
        id="broken_frame",
    ),
    pytest.param(
        {"fault": Fault.TRUNCATED},
        DeviceReportedError,
        "truncated answers",
        "datos dañados",
        id="truncated",
    ),
    pytest.param(
        {"fault": Fault.OVERLOAD},
        DeviceReportedError,
        "out of range",
        "marca fuera de rango",
        id="overload",
    ),
    pytest.param(
        {"fault": Fault.UNPLUG}, ConnectionLost, "disappeared", "se desconectó", id="unplug"
    ),
    pytest.param(
        {"exception_code": 4},
        DeviceReportedError,
        "exception 4 (server_device_failure)",
        "falla interna (código 4)",
        id="exception-4",
    ),
    pytest.param(
        {"exception_code": 2},
        DeviceReportedError,
        "exception 2 (illegal_data_address)",
        "avise al técnico",
        id="exception-2",
    ),
    pytest.param(
        {"exception_code": 6},
        DeviceReportedError,
        "exception 6 (server_device_busy)",
        "está ocupado",
        id="exception-6-after-retries",
    ),
]


@pytest.mark.parametrize(("fault", "error", "message", "nurse"), FAULTS)
async def test_faults_give_typed_errors_and_nothing_partial(
    fault, error, message, nurse, no_leaked_tasks
):
    events = []
    async with ModbusDeviceSimulator(fast(value=170.3, **fault)) as sim:
        driver = driver_for(sim, **FAILING_LINK)
        with pytest.raises(error) as caught:
            await driver.measure(events.append)
    assert message in str(caught.value)
    assert caught.value.nurse_message.startswith("El estadímetro")
    assert nurse in caught.value.nurse_message
    assert caught.value.device_id == "equipo"
    assert driver.last_raw == []
    assert ProgressStage.DONE not in [e.stage for e in events]
    if fault.get("fault") is Fault.UNPLUG:
        assert sim.answers_delivered == 2  # lost mid-reading, after two "measuring" answers
        assert any(e.message == "measuring" for e in events)


async def test_overload_on_a_float_indicator(no_leaked_tasks):
    config = fast(profile="eagle_ei", value=72.4, fault=Fault.OVERLOAD)
    with pytest.raises(DeviceReportedError) as caught:
        await measure(config)
    assert caught.value.nurse_message.startswith("La báscula marca sobrecarga")


async def test_nobody_under_the_rod_times_out_with_specific_advice(no_leaked_tasks):
    with pytest.raises(DeviceTimeout) as caught:
        await measure(fast(value=None), timeout_s=0.5)
    assert "no_target" in str(caught.value)
    assert "no detecta a la persona" in caught.value.nurse_message


async def test_empty_platform_times_out_asking_the_patient_to_step_on(no_leaked_tasks):
    with pytest.raises(DeviceTimeout) as caught:
        await measure(fast(profile="cas_ci600d", value=None), timeout_s=0.5)
    assert "no detecta peso" in caught.value.nurse_message


async def test_wrong_device_id_is_silence(no_leaked_tasks):
    with pytest.raises(DeviceTimeout) as caught:
        await measure(fast(value=170.3, device_id=7), **{**FAILING_LINK, "device_id": 8})
    assert "no answer from Modbus device 8" in str(caught.value)


async def test_missing_port_is_device_not_found(tmp_path, no_leaked_tasks):
    # a path that never existed: a stopped simulator's /dev/pts/N may be reused at once
    missing = str(tmp_path / "ttyUSB7")
    cfg = DeviceConfig(
        id="equipo",
        role=Role.STADIOMETER,
        driver="modbus.rtu",
        transport="modbus",
        port=missing,
        options={"profile": "height_rod"},
    )
    driver = build_driver(cfg)
    with pytest.raises(DeviceNotFound) as caught:
        await driver.measure()
    assert caught.value.identifier == missing
    assert caught.value.nurse_message.startswith("El estadímetro no se encuentra")


async def test_port_held_by_another_program_is_busy(no_leaked_tasks):
    async with ModbusDeviceSimulator(fast()) as sim:
        holder = serial.Serial(sim.port, exclusive=True)
        try:
            driver = driver_for(sim)
            with pytest.raises(DeviceBusy):
                await driver.measure()
        finally:
            holder.close()
        (height,) = await driver.measure()  # released: the next reading works
    assert height.value == 165.0


async def test_driver_is_reusable_and_a_new_patient_is_measured_again(no_leaked_tasks):
    async with ModbusDeviceSimulator(fast(value=150.0)) as sim:
        driver = driver_for(sim)
        first = await driver.measure()
        sim.set_value(172.6)
        events = []
        second = await driver.measure(events.append)
    assert [m.value for m in first + second] == [150.0, 172.6]
    assert any(e.message == "measuring" for e in events)


async def test_probe_describes_the_block(no_leaked_tasks):
    async with ModbusDeviceSimulator(fast(profile="cas_ci600d", value=64.5)) as sim:
        text = await driver_for(sim).probe()
    assert "cas_ci600d at 40008" in text
    assert "registers [" in text


async def test_world_helper_starts_a_height_rod(no_leaked_tasks):
    sim, cfg = await start_modbus_height_rod(True, 168.4)
    try:
        assert (cfg.transport, cfg.driver, cfg.role.value) == (
            "modbus",
            "modbus.rtu",
            "stadiometer",
        )
        assert cfg.port == sim.port
        assert cfg.options["profile"] == "height_rod"
        (height,) = await build_driver(cfg).measure()
        assert height.value == 168.4
    finally:
        await sim.stop()
