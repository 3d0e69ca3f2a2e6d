"""GET /devices: the configured devices and their live state."""

from __future__ import annotations

import os

from fastapi import APIRouter

from cart.errors import DeviceNotFound
from service.api.deps import DevicesDep
from service.device_manager import DeviceStatus
from service.schemas import DevicePublic

router = APIRouter(prefix="/devices", tags=["devices"])


def _state(s: DeviceStatus) -> tuple[str, str | None]:
    """The live state, except that a serial port missing right now is offline at once
    (the kiosk must not show "ready" until the first Medir fails)."""
    cfg = s.config
    port = cfg.port
    serial_path = cfg.transport in ("serial", "modbus") and port and port.startswith("/")
    if s.state.value == "ready" and serial_path and not os.path.exists(port or ""):
        missing = DeviceNotFound(port or "", device_id=cfg.id, role=cfg.role.value)
        return "offline", missing.nurse_message
    return s.state.value, s.message


@router.get("", response_model=list[DevicePublic])
async def list_devices(devices: DevicesDep) -> list[DevicePublic]:
    out = []
    for s in devices.statuses():
        state, message = _state(s)
        out.append(
            DevicePublic(
                id=s.config.id,
                role=s.config.role.value,
                driver=s.config.driver,
                transport=s.config.transport,
                location=s.config.location,
                state=state,  # type: ignore[arg-type]
                last_seen=s.last_seen,
                message=message,
            )
        )
    return out
