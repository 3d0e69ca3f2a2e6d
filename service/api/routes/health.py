"""GET /health: is the service, its database and each device usable."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy import text

import cart
from service.api.deps import StateDep
from service.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic)
async def health(state: StateDep) -> HealthPublic:
    def ping() -> str:
        try:
            with state.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # report, don't crash: health must always answer
            return f"error: {type(exc).__name__}"
        return "ok"

    database = await asyncio.to_thread(ping)
    devices = {s.config.id: s.state.value for s in state.devices.statuses()}
    return HealthPublic(
        status="ok" if database == "ok" else "degraded",
        version=cart.__version__,
        database=database,
        devices=devices,
    )
