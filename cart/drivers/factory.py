"""Build a driver from a ``devices.toml`` entry.

``DRIVERS`` maps (transport, driver id) to ``"module:function"``; the module is imported
only when a device of that kind is configured, so a cart without BLE never imports
bleak and one without Modbus never imports pymodbus (bleak's lazy backend selection).
Each builder has the signature ``build(cfg: DeviceConfig, info: DeviceInfo, **extra) -> Driver``.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Any

from cart.devices import DeviceConfig
from cart.drivers.base import DeviceInfo, Driver
from cart.errors import ConfigError

__all__ = ["COMMON_OPTIONS", "DRIVERS", "build_driver", "serial_settings"]

DRIVERS: dict[tuple[str, str], str] = {
    # serial streams (scales, scale + height-rod stations)
    ("serial", "and.weighing"): "cart.drivers.serial_scale:build_and_weighing",
    ("serial", "indicator.st_gs"): "cart.drivers.serial_scale:build_indicator",
    ("serial", "tanita.line"): "cart.drivers.serial_scale:build_tanita",
    # serial blood-pressure monitors
    ("serial", "datascope.accutorr"): "cart.drivers.serial_bp:build_accutorr",
    ("serial", "and.ua767"): "cart.drivers.serial_bp:build_ua767",
    # Bluetooth LE (Bluetooth SIG profiles through bleak; backend injectable)
    ("ble", "ble.weight_scale"): "cart.drivers.ble:build",
    ("ble", "ble.blood_pressure"): "cart.drivers.ble:build",
    ("ble", "ble.glucose"): "cart.drivers.ble:build",
    # serial glucometers (stored-record downloads)
    ("serial", "onetouch.ultra2"): "cart.drivers.serial_glucometer:build_ultra2",
    ("serial", "onetouch.ultraeasy"): "cart.drivers.serial_glucometer:build_ultraeasy",
    ("serial", "taidoc.td42xx"): "cart.drivers.serial_glucometer:build_td42xx",
    ("serial", "freestyle.optium"): "cart.drivers.serial_glucometer:build_optium",
    ("serial", "contour.astm"): "cart.drivers.serial_glucometer:build_contour",
    # Modbus RTU (weighing indicators, height rods)
    ("modbus", "modbus.rtu"): "cart.drivers.modbus:build",
}


def serial_settings(cfg: DeviceConfig) -> Any:
    """The device's line settings from its devices.toml entry."""
    from cart.drivers.serial_transport import SerialSettings

    opts = cfg.options
    try:
        return SerialSettings(
            baudrate=int(opts.get("baudrate", 9600)),
            bytesize=int(opts.get("bytesize", 8)),  # type: ignore[arg-type]
            parity=str(opts.get("parity", "N")),  # type: ignore[arg-type]
            stopbits=int(opts.get("stopbits", 1)),  # type: ignore[arg-type]
            xonxoff=bool(opts.get("xonxoff", False)),
            rtscts=bool(opts.get("rtscts", False)),
            dtr=opts.get("dtr"),
            rts=opts.get("rts"),
            exclusive=bool(opts.get("exclusive", True)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"device {cfg.id!r}: bad serial settings: {exc}") from exc


#: devices.toml options every driver understands (read here into DeviceInfo)
COMMON_OPTIONS = ("user_id", "set_clock")


def _common(cfg: DeviceConfig, set_clocks: bool) -> tuple[int | None, bool]:
    user_id = cfg.options.get("user_id")
    if user_id is not None and (
        isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 <= user_id <= 0xFF
    ):
        raise ConfigError(f"device {cfg.id!r}: user_id must be a whole number 0-255")
    set_clock = cfg.options.get("set_clock", set_clocks)
    if not isinstance(set_clock, bool):
        raise ConfigError(f"device {cfg.id!r}: set_clock must be true or false")
    return user_id, set_clock


def build_driver(
    cfg: DeviceConfig,
    *,
    set_clocks: bool = False,
    clock_skew_s: float = 300.0,
    **extra: Any,
) -> Driver:
    """A driver for one configured device; ``extra`` passes e.g. a BLE ``backend``.

    ``set_clocks`` (the ``set_device_clocks`` setting) is each device's ``set_clock``
    unless its devices.toml entry says otherwise; ``clock_skew_s`` is the default skew
    above which a driver flags its readings. ``user_id`` (0-255) is the device user slot
    whose records are this cart's.
    """
    user_id, set_clock = _common(cfg, set_clocks)
    info = DeviceInfo(
        cfg.id,
        cfg.role,
        cfg.driver,
        cfg.transport,
        cfg.location,
        user_id=user_id,
        set_clock=set_clock,
    )
    cfg = replace(cfg, options={k: v for k, v in cfg.options.items() if k not in COMMON_OPTIONS})
    extra["clock_skew_s"] = clock_skew_s
    try:
        target = DRIVERS[(cfg.transport, cfg.driver)]
    except KeyError:
        known = ", ".join(f"{t}/{d}" for t, d in sorted(DRIVERS))
        raise ConfigError(
            f"device {cfg.id!r}: no driver for {cfg.transport}/{cfg.driver}; known: {known}"
        ) from None
    module_name, _, function = target.partition(":")
    builder = getattr(importlib.import_module(module_name), function)
    driver: Driver = builder(cfg, info, **extra)
    return driver
