"""GET /sync: what is waiting to go to SIC, what went, what SIC refused."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter

from service.api.deps import StoreDep
from service.schemas import SyncStatus

router = APIRouter(tags=["sync"])


def _field(source: Any, name: str) -> Any:
    return source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)


@router.get("/sync", response_model=SyncStatus)
async def sync_status(store: StoreDep) -> SyncStatus:
    """Counts of the SIC outbox (pending, sent, rejected) and the last error.

    Reads ``Store.sync_status()`` (the SIC outbox); a build without the outbox reports
    zeros with ``available: false``.
    """
    reader = getattr(store, "sync_status", None)
    if reader is None:
        return SyncStatus(pending=0, sent=0, rejected=0, last_error=None, available=False)
    raw = await asyncio.to_thread(reader)
    last = _field(raw, "last_error")
    if last is not None and not isinstance(last, Mapping):
        last = {"message": str(last)}
    rejections = _field(raw, "rejections") or []
    return SyncStatus(
        pending=int(_field(raw, "pending") or 0),
        sent=int(_field(raw, "sent") or 0),
        rejected=int(_field(raw, "rejected") or 0),
        last_error=dict(last) if last is not None else None,
        oldest_pending_at=_field(raw, "oldest_pending_at"),
        last_sent_at=_field(raw, "last_sent_at"),
        rejections=[dict(r) for r in rejections if isinstance(r, Mapping)],
        available=True,
    )
