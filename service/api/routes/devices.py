"""GET /devices: the configured devices and their live state."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import DevicesDep
from service.schemas import DevicePublic

router = APIRouter(prefix="/devices", tags=["devices"])


@router.get("", response_model=list[DevicePublic])
async def list_devices(devices: DevicesDep) -> list[DevicePublic]:
    return [
        DevicePublic(
            id=s.config.id,
            role=s.config.role.value,
            driver=s.config.driver,
            transport=s.config.transport,
            location=s.config.location,
            state=s.state.value,
            last_seen=s.last_seen,
            message=s.message,
        )
        for s in devices.statuses()
    ]
