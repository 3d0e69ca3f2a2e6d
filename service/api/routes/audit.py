"""The bitácora for administrators: who did what, when (no PHI values in it)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from cart.store.audit import public
from service.api.deps import StateDep
from service.auditing import record
from service.auth import AdminUser

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEventPublic(BaseModel):
    id: int
    at: str
    user_id: int | None
    username: str | None
    action: str
    object_type: str | None
    object_id: str | None
    outcome: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    events: list[AuditEventPublic]
    next_after_id: int | None
    """Pass as ``after_id`` for the next page (None: this was the last)."""


class AuditVerification(BaseModel):
    ok: bool
    count: int
    head: str
    first_bad_id: int | None
    problem: str | None


@router.get("", response_model=AuditPage)
async def audit_events(
    state: StateDep,
    user: AdminUser,
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Events in order, ``limit`` at a time after ``after_id``. Reading them is audited."""
    rows = await asyncio.to_thread(state.audit.events, after_id, limit)
    await record(state.audit, "audit_view", user, detail={"after_id": after_id, "rows": len(rows)})
    events = [AuditEventPublic(**public(r)) for r in rows]
    return AuditPage(events=events, next_after_id=rows[-1].id if len(rows) == limit else None)


@router.get("/verify", response_model=AuditVerification)
async def audit_verify(state: StateDep, user: AdminUser) -> AuditVerification:
    """Walk the hash chain: the first row edited, deleted or out of place, if any."""
    result = await asyncio.to_thread(state.audit.verify)
    await record(state.audit, "audit_verify", user, outcome="ok" if result.ok else "broken")
    return AuditVerification(**result.to_json())
