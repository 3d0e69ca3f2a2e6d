"""Build a driver from a ``devices.toml`` entry. Transport libraries are imported lazily."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cart.devices import DeviceConfig
from cart.drivers.base import DeviceInfo, Driver
from cart.errors import ConfigError

__all__ = ["DRIVERS", "build_driver", "serial_settings"]

Builder = Callable[[DeviceConfig, DeviceInfo, dict[str, Any]], Driver]


def serial_settings(cfg: DeviceConfig) -> Any:
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


def _serial_stream_scale(stream_factory: Callable[[], Any]) -> Builder:
    def build(cfg: DeviceConfig, info: DeviceInfo, extra: dict[str, Any]) -> Driver:
        from cart.drivers.serial_scale import ScaleOptions, SerialScaleDriver

        opts = cfg.options
        return SerialScaleDriver(
            info,
            stream_factory,
            serial_settings=serial_settings(cfg),
            options=ScaleOptions(
                timeout_s=cfg.timeout_s,
                min_weight_kg=float(opts.get("min_weight_kg", 2.0)),
                silence_s=float(opts.get("silence_s", min(5.0, cfg.timeout_s))),
            ),
        )

    return build


def _and_weighing_stream() -> Any:
    from cart.protocols.and_weighing import WeighingStream

    return WeighingStream()


#: (transport, driver id) -> builder
DRIVERS: dict[tuple[str, str], Builder] = {
    ("serial", "and.weighing"): _serial_stream_scale(_and_weighing_stream),
}


def build_driver(cfg: DeviceConfig, **extra: Any) -> Driver:
    """A driver for one configured device; ``extra`` passes e.g. a BLE ``backend``."""
    info = DeviceInfo(cfg.id, cfg.role, cfg.driver, cfg.transport, cfg.location)
    try:
        builder = DRIVERS[(cfg.transport, cfg.driver)]
    except KeyError:
        known = ", ".join(f"{t}/{d}" for t, d in sorted(DRIVERS))
        raise ConfigError(
            f"device {cfg.id!r}: no driver for {cfg.transport}/{cfg.driver}; known: {known}"
        ) from None
    return builder(cfg, info, extra)
