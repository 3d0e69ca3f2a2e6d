"""Settings and devices.toml options reach every driver: set_clock, user_id, clock skew."""

from __future__ import annotations

import pytest

from cart.devices import DeviceConfig, Role
from cart.drivers.factory import build_driver
from cart.drivers.serial_glucometer import SerialGlucometerDriver
from cart.errors import ConfigError
from service.device_manager import DeviceManager, DeviceState

METER = DeviceConfig("gluco", Role.GLUCOMETER, "taidoc.td42xx", "serial", port="/dev/null")
CUFF = DeviceConfig(
    "bp",
    Role.BP,
    "ble.blood_pressure",
    "ble",
    address="C1:5A:1E:00:00:02",
    options={"user_id": 2, "set_clock": False},
)
SCALE = DeviceConfig("scale", Role.SCALE, "and.weighing", "serial", port="/dev/null")


def test_device_manager_passes_the_clock_settings_and_the_device_options() -> None:
    manager = DeviceManager([METER, CUFF, SCALE], set_clocks=True, clock_skew_s=90.0)
    meter, cuff, scale = (manager.get(i).driver for i in ("gluco", "bp", "scale"))
    assert meter is not None
    assert cuff is not None
    assert scale is not None
    assert meter.info.set_clock  # the setting
    assert not cuff.info.set_clock  # the device's own set_clock wins
    assert cuff.info.user_id == 2
    assert scale.info.user_id is None
    assert isinstance(meter, SerialGlucometerDriver)
    assert meter.options.clock_skew_s == 90.0
    assert meter.keeps_records
    assert cuff.keeps_records
    assert not scale.keeps_records  # a live weight stream has no memory to replay


def test_set_clocks_defaults_to_off() -> None:
    assert not build_driver(METER).info.set_clock


@pytest.mark.parametrize(
    "options", [{"user_id": "one"}, {"user_id": 300}, {"user_id": True}, {"set_clock": "yes"}]
)
def test_bad_user_id_or_set_clock_is_a_config_error(options: dict[str, object]) -> None:
    bad = DeviceConfig("bp", Role.BP, "ble.blood_pressure", "ble", options=options)
    with pytest.raises(ConfigError, match="bp"):
        build_driver(bad)
    manager = DeviceManager([bad])
    assert manager.get("bp").state is DeviceState.ERROR
