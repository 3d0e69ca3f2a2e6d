"""Writing the bitácora from the service: one call per audited action, off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from cart.store.accounts import Principal
from cart.store.audit import AuditLog

__all__ = ["record"]


async def record(
    audit: AuditLog,
    action: str,
    principal: Principal | None = None,
    *,
    object_type: str | None = None,
    object_id: object = None,
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
    username: str | None = None,
) -> None:
    """Append one event: ids, kinds and counts only, never a name, CURP or value."""
    await asyncio.to_thread(
        audit.append,
        action,
        user_id=principal.user_id if principal is not None else None,
        username=principal.username if principal is not None else username,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        detail=detail,
    )
