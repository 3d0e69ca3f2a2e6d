"""What the SIC worker is doing, for `GET /api/v1/health`, and errors told without PHI.

A pass that raises (the database is unreachable, a table is missing, a bug) must not
end the worker, and must not end it silently: the worker logs it, backs off, retries,
and reports ``failing`` with the error until a pass succeeds again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import DBAPIError

__all__ = ["WorkerState", "WorkerStatus", "describe_error"]

WorkerState = Literal["starting", "idle", "sending", "paused", "failing", "stopped"]
"""``paused``: the destination is down or asked for quiet (see `GET /sync` for why);
``failing``: the worker's own pass failed (database, bug) and is being retried;
``stopped``: not running (the service is stopping, or the task ended unexpectedly)."""

_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    state: WorkerState
    failures: int
    """Consecutive passes that raised (0 once a pass succeeds)."""
    last_error: str | None
    """The last failed pass's error, without PHI; kept after recovery as history."""
    last_error_at: datetime | None
    last_pass_at: datetime | None
    """When the last pass finished without raising."""

    @property
    def healthy(self) -> bool:
        return self.state not in ("failing", "stopped")

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "last_pass_at": self.last_pass_at.isoformat() if self.last_pass_at else None,
        }


def describe_error(exc: BaseException) -> str:
    """The error's type and a message safe to log and show: never the SQL statement or its
    parameters (a CURP, a name), and no quoted literal a database echoes back from data."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        orig = exc.orig
        diag = getattr(orig, "diag", None)
        primary = (
            getattr(diag, "message_primary", None) or (str(orig).strip().splitlines() or [""])[0]
        )
        sqlstate = getattr(orig, "sqlstate", None)
        code = f" [SQLSTATE {sqlstate}]" if sqlstate else ""
        return f"{type(exc).__name__}: {type(orig).__name__}{code}: {_QUOTED.sub('…', primary)}"[
            :300
        ]
    return type(exc).__name__
