"""Bluetooth LE health-device drivers: Weight Scale, Blood Pressure and Glucose profiles.

All of them use bleak's public API with an injectable backend (:class:`BleBackend`):
``None`` is the operating system's stack; ``BleBackend.from_bumble(adapter)`` the bumble
backend of :mod:`cart.drivers.bumble_bleak` (simulators, or a USB dongle).

``devices.toml`` driver ids: ``ble.weight_scale``, ``ble.blood_pressure``, ``ble.glucose``
(see :data:`BLE_DRIVERS` and :func:`build_ble_driver`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from cart.devices import DeviceConfig
from cart.drivers.base import DeviceInfo
from cart.drivers.ble._base import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    BACKOFF_JITTER,
    MAX_CONNECT_ATTEMPTS,
    BleBackend,
    BleDriver,
    BleSettings,
    backoff_delay,
    is_pairing_error,
)
from cart.drivers.ble.blood_pressure import BleBloodPressureDriver
from cart.drivers.ble.glucometer import BleGlucometerDriver
from cart.drivers.ble.weight_scale import BleWeightScaleDriver
from cart.errors import ConfigError

__all__ = [
    "BACKOFF_BASE_S",
    "BACKOFF_CAP_S",
    "BACKOFF_JITTER",
    "BLE_DRIVERS",
    "MAX_CONNECT_ATTEMPTS",
    "BleBackend",
    "BleBloodPressureDriver",
    "BleDriver",
    "BleGlucometerDriver",
    "BleSettings",
    "BleWeightScaleDriver",
    "backoff_delay",
    "build",
    "build_ble_driver",
    "build_from_device_config",
    "is_pairing_error",
]

#: devices.toml ``driver`` id -> driver class (transport ``ble``)
BLE_DRIVERS: Final[dict[str, type[BleDriver]]] = {
    "ble.weight_scale": BleWeightScaleDriver,
    "ble.blood_pressure": BleBloodPressureDriver,
    "ble.glucose": BleGlucometerDriver,
}


def build_ble_driver(
    info: DeviceInfo,
    *,
    address: str | None = None,
    name: str | None = None,
    backend: BleBackend | None = None,
    settings: BleSettings | None = None,
    **options: Any,
) -> BleDriver:
    """The driver for ``info.driver`` (one of :data:`BLE_DRIVERS`).

    ``options`` go to the driver class (e.g. ``require_new=`` for the glucometer).
    Raises KeyError for an unknown driver id.
    """
    cls = BLE_DRIVERS[info.driver]
    return cls(info, address=address, name=name, backend=backend, settings=settings, **options)


#: devices.toml options read into :class:`BleSettings` (seconds / counts / flags)
_SETTING_OPTIONS: Final = {
    "scan_timeout_s": float,
    "connect_timeout_s": float,
    "response_timeout_s": float,
    "connect_attempts": int,
    "pair": bool,
    "sync_time": bool,
}
#: devices.toml options passed to the glucometer driver
_GLUCOMETER_OPTIONS: Final = {"require_new": bool}


def build_from_device_config(
    cfg: DeviceConfig, info: DeviceInfo, extra: Mapping[str, Any]
) -> BleDriver:
    """A ``cart.drivers.factory`` builder for ``transport = "ble"`` entries.

    ``address``/``name`` come from the entry, ``timeout_s`` is the measurement deadline,
    options ``scan_timeout_s``, ``connect_timeout_s``, ``response_timeout_s``,
    ``connect_attempts``, ``pair``, ``sync_time`` (and for ``ble.glucose``:
    ``require_new``) tune it; ``user_id`` and ``set_clock`` arrive in ``info``. ``extra["backend"]``
    is a :class:`BleBackend` (None: the OS stack); ``extra["settings"]`` a base
    :class:`BleSettings` (e.g. ``BleSettings.fast()`` in simulate mode).
    """
    if info.driver not in BLE_DRIVERS:
        known = ", ".join(sorted(BLE_DRIVERS))
        raise ConfigError(f"device {cfg.id!r}: no BLE driver {info.driver!r}; known: {known}")
    base: BleSettings = extra.get("settings") or BleSettings()
    changes: dict[str, Any] = {"measurement_timeout_s": cfg.timeout_s}
    options: dict[str, Any] = {}
    try:
        for key, kind in _SETTING_OPTIONS.items():
            if key in cfg.options:
                changes[key] = kind(cfg.options[key])
        if info.driver == "ble.glucose":
            for key, kind in _GLUCOMETER_OPTIONS.items():
                if key in cfg.options:
                    options[key] = kind(cfg.options[key])
        settings = replace(base, **changes)
        return build_ble_driver(
            info,
            address=cfg.address,
            name=cfg.name,
            backend=extra.get("backend"),
            settings=settings,
            **options,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"device {cfg.id!r}: bad BLE option: {exc}") from exc


def build(cfg: DeviceConfig, info: DeviceInfo, **extra: Any) -> BleDriver:
    """The :mod:`cart.drivers.factory` entry point (keyword ``extra``: backend, settings)."""
    return build_from_device_config(cfg, info, extra)
