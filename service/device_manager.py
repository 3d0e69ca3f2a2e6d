"""Long-lived drivers and their live state, owned by the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cart.devices import DeviceConfig
from cart.drivers.base import Driver, Progress, ProgressStage
from cart.drivers.factory import build_driver
from cart.errors import CartError, ConfigError, DeviceError, DeviceNotFound
from cart.store.models import utcnow

__all__ = ["DeviceManager", "DeviceState", "DeviceStatus"]

log = logging.getLogger(__name__)


class DeviceState(StrEnum):
    READY = "ready"
    BUSY = "busy"
    OFFLINE = "offline"
    ERROR = "error"


@dataclass
class DeviceStatus:
    config: DeviceConfig
    driver: Driver | None
    state: DeviceState = DeviceState.READY
    last_seen: datetime | None = None
    message: str | None = None
    """Spanish, for the kiosk: what is wrong and what to do."""


class DeviceManager:
    def __init__(
        self,
        configs: list[DeviceConfig],
        *,
        set_clocks: bool = False,
        clock_skew_s: float = 300.0,
        **driver_extra: Any,
    ) -> None:
        """``set_clocks`` / ``clock_skew_s``: the ``set_device_clocks`` and ``clock_skew_s``
        settings, each device's defaults (see :func:`cart.drivers.factory.build_driver`)."""
        driver_extra = {**driver_extra, "set_clocks": set_clocks, "clock_skew_s": clock_skew_s}
        self._status: dict[str, DeviceStatus] = {}
        for cfg in configs:
            try:
                driver: Driver | None = build_driver(cfg, **driver_extra)
                status = DeviceStatus(cfg, driver)
            except ConfigError as exc:
                log.error("device %s not usable: %s", cfg.id, exc.message)
                status = DeviceStatus(
                    cfg, None, DeviceState.ERROR, message="Configuración inválida: avise al técnico"
                )
            self._status[cfg.id] = status
        self._lock = asyncio.Lock()

    def statuses(self) -> list[DeviceStatus]:
        return list(self._status.values())

    def get(self, device_id: str) -> DeviceStatus:
        try:
            return self._status[device_id]
        except KeyError:
            raise DeviceNotFound(device_id, device_id=device_id) from None

    def drivers(self, ids: list[str] | None = None) -> list[Driver]:
        """The usable drivers among ``ids`` (all configured when None)."""
        selected = [self.get(i) for i in ids] if ids is not None else self.statuses()
        return [s.driver for s in selected if s.driver is not None]

    def on_progress(self, event: Progress) -> None:
        status = self._status.get(event.device_id)
        if status is None:
            return
        if event.stage is ProgressStage.DONE:
            status.state = DeviceState.READY
            status.message = None
            status.last_seen = utcnow()
        else:
            status.state = DeviceState.BUSY
            if event.stage is not ProgressStage.CONNECTING:
                status.last_seen = utcnow()

    def on_error(self, device_id: str, error: CartError) -> None:
        status = self._status.get(device_id)
        if status is None:
            return
        if isinstance(error, DeviceError):
            status.state = DeviceState.OFFLINE if _is_offline(error) else DeviceState.ERROR
            status.message = error.nurse_message
        else:
            status.state = DeviceState.READY
            status.message = None

    async def close(self) -> None:
        for status in self._status.values():
            if status.driver is not None:
                try:
                    await status.driver.close()
                except Exception:  # a driver failing to close must not block shutdown
                    log.exception("closing %s", status.config.id)


def _is_offline(error: DeviceError) -> bool:
    from cart.errors import ConnectionFailed, ConnectionLost, DeviceTimeout

    return isinstance(error, DeviceNotFound | DeviceTimeout | ConnectionFailed | ConnectionLost)
