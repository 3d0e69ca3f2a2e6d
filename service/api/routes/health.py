"""GET /health: is the service, its database, each device and the SIC worker usable."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from sqlalchemy import text

import cart
from service.api.deps import StateDep
from service.schemas import HealthPublic, SicWorkerHealth

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
    worker = state.sic_worker.status() if state.sic_worker is not None else None
    healthy = database == "ok" and (worker is None or worker.healthy)
    return HealthPublic(
        status="ok" if healthy else "degraded",
        version=cart.__version__,
        database=database,
        devices=devices,
        sic_worker=(
            SicWorkerHealth.model_validate(worker, from_attributes=True)
            if worker is not None
            else None
        ),
    )
