"""devices.toml options of the Modbus driver and the simulator's own validation."""

from __future__ import annotations

import pytest

from cart.devices import DeviceConfig, Role
from cart.drivers.factory import build_driver
from cart.drivers.modbus import MAX_RETRIES, ModbusDriver
from cart.errors import ConfigError
from simulators.faults import Fault
from simulators.modbus_device import ModbusDeviceConfig


def _cfg(**options: object) -> DeviceConfig:
    return DeviceConfig(
        id="rod",
        role=Role.STADIOMETER,
        driver="modbus.rtu",
        transport="modbus",
        port="/dev/ttyUSB0",
        options={"profile": "height_rod", **options},
    )


def test_options_are_parsed():
    driver = build_driver(
        _cfg(device_id=17, baudrate=19200, parity="E", retries=3, word_order="little")
    )
    assert isinstance(driver, ModbusDriver)
    assert (driver.options.device_id, driver.options.baudrate, driver.options.parity) == (
        17,
        19200,
        "E",
    )
    assert driver.options.retries == 3
    assert driver.register_map.word_order == "little"
    assert driver.register_map.address == 0


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"profile": "laser_rod"}, "laser_rod"),
        ({"profile": None}, "profile"),
        ({"colour": "red"}, "colour"),
        ({"word_order": "middle"}, "word_order"),
        ({"decimals": 9}, "decimals"),
        ({"device_id": 0}, "device_id"),
        ({"device_id": "1"}, "device_id"),
        ({"retries": MAX_RETRIES + 1}, "retries"),
        ({"retries": True}, "retries"),
        ({"parity": "X"}, "parity"),
        ({"bytesize": 7}, "bytesize"),
        ({"request_timeout_s": 0}, "request_timeout_s"),
        ({"dtr": True}, "dtr"),
        ({"exclusive": False}, "exclusive"),
        ({"handle_local_echo": "yes"}, "handle_local_echo"),
    ],
)
def test_bad_options_raise_config_error_naming_the_option(options, named):
    with pytest.raises(ConfigError) as caught:
        build_driver(_cfg(**options))
    assert named in str(caught.value)
    assert "'rod'" in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"profile": "nope"},
        {"device_id": 0},
        {"exception_code": 99},
        {"value": -1.0},
        {"map_options": {"word_order": "middle"}},
        {"profile": "cas_ci600d", "fault": Fault.OVERLOAD},  # no status word to say it
        {"profile": "height_rod", "value": 7000.0},  # 70 000 mm does not fit uint16
    ],
)
def test_simulator_config_is_validated(kwargs):
    with pytest.raises(ValueError):
        ModbusDeviceConfig(**kwargs)


def test_simulator_config_is_frozen_and_fast():
    config = ModbusDeviceConfig.fast(map_options={"word_order": "little"})
    assert config.settle_s == 0.0
    with pytest.raises(TypeError):
        config.map_options["word_order"] = "big"  # type: ignore[index]
    assert config.driver_options() == {
        "device_id": 1,
        "profile": "height_rod",
        "baudrate": 9600,
        "word_order": "little",
    }
