"""The bitácora (NOM-024-SSA3-2012: a record of access and changes), tamper-evident.

Every row carries the SHA-256 of its own fields and of the previous row's hash::

    hash(n) = SHA-256( canonical JSON of {id, at, user_id, username, action, object_type,
                                         object_id, outcome, detail, prev_hash = hash(n-1)} )

with ``hash(0)`` = 64 zeros. Editing a row changes its hash; deleting one breaks the
link of the next; renumbering leaves a gap or a wrong id in the hashed fields.
Database triggers refuse UPDATE and DELETE; the chain shows what was done around them
(a copy of the file edited elsewhere). Truncating the newest rows leaves a valid
shorter chain: compare the head (``cart audit verify`` prints it) with one written
down or exported earlier (``--expect-head``).

Rows never hold PHI: ids of objects, counts and kinds, not names, CURPs or values.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cart.store.models import AuditEvent, utcnow

__all__ = ["GENESIS", "AuditLog", "Verification", "event_hash", "public"]

GENESIS: Final = "0" * 64
_APPEND_ATTEMPTS: Final = 20


def _fields(row: AuditEvent) -> dict[str, Any]:
    """What an event says (everything but its own hash): hashed, and exported."""
    return {
        "id": row.id,
        "at": row.at.isoformat(timespec="microseconds"),
        "user_id": row.user_id,
        "username": row.username,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "outcome": row.outcome,
        "detail": row.detail,
        "prev_hash": row.prev_hash,
    }


def event_hash(row: AuditEvent) -> str:
    payload = _fields(row)
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Verification:
    ok: bool
    count: int
    head: str
    """The last row's hash (GENESIS when empty): keep it off the cart to detect truncation."""
    first_bad_id: int | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "count": self.count,
            "head": self.head,
            "first_bad_id": self.first_bad_id,
            "problem": self.problem,
        }


class AuditLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()  # one writer per process; UNIQUE(prev_hash) across them

    def append(
        self,
        action: str,
        *,
        user_id: int | None = None,
        username: str | None = None,
        object_type: str | None = None,
        object_id: object = None,
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Add one event at the head of the chain (retried if another process wins)."""
        for _ in range(_APPEND_ATTEMPTS):
            with self._lock, Session(self.engine, expire_on_commit=False) as s:
                last = s.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()
                row = AuditEvent(
                    id=(last.id + 1) if last is not None else 1,
                    at=utcnow(),
                    user_id=user_id,
                    username=username,
                    action=action,
                    object_type=object_type,
                    object_id=None if object_id is None else str(object_id),
                    outcome=outcome,
                    detail=dict(detail or {}),
                    prev_hash=last.hash if last is not None else GENESIS,
                    hash="",
                )
                row.hash = event_hash(row)
                s.add(row)
                try:
                    s.commit()
                except IntegrityError:
                    s.rollback()  # another process appended first: chain onto its row
                    continue
                return row
        raise RuntimeError("could not append to the audit trail")

    def events(self, after_id: int = 0, limit: int = 100) -> list[AuditEvent]:
        with Session(self.engine) as s:
            return list(
                s.exec(
                    select(AuditEvent)
                    .where(col(AuditEvent.id) > after_id)
                    .order_by(col(AuditEvent.id))
                    .limit(limit)
                )
            )

    def iter_all(self, batch: int = 1000) -> Iterator[AuditEvent]:
        after = 0
        while True:
            rows = self.events(after, batch)
            if not rows:
                return
            yield from rows
            after = rows[-1].id

    def verify(self, expect_head: str | None = None) -> Verification:
        """Walk the chain from the first row; the first row that does not fit is reported."""
        prev, count, expected_id = GENESIS, 0, 1
        for row in self.iter_all():
            problem = None
            if row.id != expected_id:
                problem = f"row {expected_id} is missing (next is {row.id})"
            elif row.prev_hash != prev:
                problem = "does not follow the previous row (a row was deleted or edited)"
            elif event_hash(row) != row.hash:
                problem = "its contents do not match its hash (the row was edited)"
            if problem is not None:
                return Verification(False, count, prev, row.id, problem)
            prev, count, expected_id = row.hash, count + 1, row.id + 1
        if expect_head is not None and expect_head != prev:
            return Verification(
                False, count, prev, None, "the head differs from the expected one (truncated?)"
            )
        return Verification(True, count, prev)


def public(row: AuditEvent) -> dict[str, Any]:
    """An event as JSON (the API and `cart audit export`)."""
    return {**_fields(row), "hash": row.hash}
