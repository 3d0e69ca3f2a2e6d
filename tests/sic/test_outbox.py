"""The outbox in the store: written with the completion, paged oldest first, leased, counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from cart.sic.sample import CLASSIFICATION, sample_screening
from cart.store import Store, create_db_engine, migrate
from cart.store.db import alembic_config
from cart.store.models import Screening, ScreeningStatus
from tests.sic.support import next_index


def _now() -> datetime:
    return datetime.now(UTC)


def test_complete_writes_the_outbox_row_in_the_same_transaction(store: Store):
    sid = sample_screening(store, next_index(), complete=False)
    assert store.outbox_entry(sid) is None
    row = store.complete(sid, dict(CLASSIFICATION))
    assert row is not None
    assert row.status == ScreeningStatus.COMPLETED
    entry = store.outbox_entry(sid)
    assert entry is not None
    assert entry.status == "pending"
    assert entry.destination == "sic"
    assert store.complete(999_999, {}) is None


def test_a_failed_outbox_write_leaves_the_screening_open(store: Store):
    sid = sample_screening(store, next_index(), complete=False)
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE outbox"))
    with pytest.raises(DBAPIError):  # SQLite: OperationalError; PostgreSQL: ProgrammingError
        store.complete(sid, dict(CLASSIFICATION))
    row = store.get_screening(sid)
    assert row is not None
    assert row.status == ScreeningStatus.OPEN
    assert row.completed_at is None


def test_completing_again_requeues_once(store: Store):
    sid = sample_screening(store, next_index())
    entry = store.outbox_entry(sid)
    assert entry is not None
    assert entry.id is not None
    store.outbox_reject(entry.id, error="HTTP 400: bad", status_code=400, outcome=None)
    store.complete(sid, dict(CLASSIFICATION))
    again = store.outbox_entry(sid)
    assert again is not None
    assert (again.id, again.status, again.attempts) == (entry.id, "pending", 0)
    assert store.sync_status()["pending"] == 1


def test_due_entries_come_oldest_first_in_pages_and_leases_keep_workers_apart(store: Store):
    ids = [sample_screening(store, next_index()) for _ in range(5)]
    now = _now()
    first = store.outbox_due(now, limit=2)
    assert [e.screening_id for e in first] == ids[:2]
    second = store.outbox_due(now, after_id=first[-1].id or 0, limit=2)
    assert [e.screening_id for e in second] == ids[2:4]
    entry_id = first[0].id
    assert entry_id is not None
    assert store.outbox_claim(entry_id, now, now + timedelta(seconds=60))
    assert not store.outbox_claim(entry_id, now, now + timedelta(seconds=60))  # held
    assert [e.screening_id for e in store.outbox_due(now)] == ids[1:]
    later = now + timedelta(seconds=61)  # the holder died: its lease expired
    assert store.outbox_claim(entry_id, later, later + timedelta(seconds=60))
    store.outbox_retry(entry_id, error="boom", next_attempt_at=later + timedelta(seconds=30))
    assert ids[0] not in [e.screening_id for e in store.outbox_due(later)]
    assert store.outbox_next_due() is not None


def test_sync_status_counts_and_shows_the_errors(store: Store):
    a, b, c = (sample_screening(store, next_index()) for _ in range(3))
    entries = {sid: store.outbox_entry(sid) for sid in (a, b, c)}
    ea, eb = entries[a], entries[b]
    assert ea is not None
    assert ea.id is not None
    assert eb is not None
    assert eb.id is not None
    status = store.sync_status()
    assert (status["pending"], status["sent"], status["rejected"]) == (3, 0, 0)
    assert status["last_error"] is None
    store.outbox_sent(ea.id, status_code=200, summary={"created": 15, "existing": 0})
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    store.outbox_reject(eb.id, error="HTTP 412: multiple matches", status_code=412, outcome=outcome)
    status = store.sync_status()
    assert (status["pending"], status["sent"], status["rejected"]) == (1, 1, 1)
    assert status["last_error"]["message"] == "HTTP 412: multiple matches"
    assert status["rejections"][0]["outcome"] == outcome
    assert status["rejections"][0]["screening_id"] == b
    assert status["last_sent_at"] is not None
    assert status["oldest_pending_at"] is not None
    assert store.outbox_requeue_rejected() == 1
    assert store.sync_status()["pending"] == 2


def test_screening_without_patient_is_enqueued_too(store: Store):
    sid = store.add_screening(Screening()).id
    assert sid is not None
    store.complete(sid, {})
    assert store.sync_status()["pending"] == 1


def test_migration_0002_upgrades_and_downgrades(database_url: str):
    engine = create_db_engine(database_url)
    try:
        migrate(engine, "0001")
        assert "outbox" not in inspect(engine).get_table_names()
        migrate(engine)
        assert "outbox" in inspect(engine).get_table_names()
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert "outbox" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_next_due_is_the_earliest_free_entry_or_lease_end(store: Store):
    """Each entry is due at the later of its next attempt and its lease's end (on both DBs:
    the SIC worker computes its sleep from this; PostgreSQL has no two-argument max())."""
    a, b, c = (sample_screening(store, next_index()) for _ in range(3))
    ids = {}
    for sid in (a, b, c):
        entry = store.outbox_entry(sid)
        assert entry is not None
        assert entry.id is not None
        ids[sid] = entry.id
    base = datetime(2031, 1, 1, 12, tzinfo=UTC)
    now = _now()
    store.outbox_retry(ids[a], error="5xx", next_attempt_at=base + timedelta(seconds=30))
    # b: leased past its next attempt -> due when the lease ends
    store.outbox_retry(ids[b], error="5xx", next_attempt_at=base + timedelta(seconds=5))
    assert store.outbox_claim(ids[b], now, base + timedelta(seconds=10))
    # c: next attempt past its lease -> due at the next attempt
    store.outbox_retry(ids[c], error="5xx", next_attempt_at=base + timedelta(seconds=20))
    assert store.outbox_claim(ids[c], now, base + timedelta(seconds=15))
    due = store.outbox_next_due()
    assert due == base + timedelta(seconds=10)
    assert due.tzinfo is not None
    store.outbox_sent(ids[b], status_code=200, summary={})
    assert store.outbox_next_due() == base + timedelta(seconds=20)
    store.outbox_sent(ids[c], status_code=200, summary={})
    assert store.outbox_next_due() == base + timedelta(seconds=30)
    store.outbox_sent(ids[a], status_code=200, summary={})
    assert store.outbox_next_due() is None
