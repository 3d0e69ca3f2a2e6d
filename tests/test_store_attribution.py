"""The store proves attribution: runs own screenings, records are remembered (issue 11).

Each test is a clinic situation that put a reading in the wrong screening before.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from cart.errors import NotAttributed, ScreeningConflict
from cart.measurement import Measurement
from cart.store import RawEntry, Store, create_db_engine, migrate
from cart.store.models import Screening, utcnow
from cart.store.repo import MemoryEntry

METER = "sn:LifeScan/Ultra2:C123"


def _store(database_url: str) -> Store:
    engine = create_db_engine(database_url)
    migrate(engine)
    return Store(engine)


def _screening(store: Store) -> int:
    sid = store.add_screening(Screening()).id
    assert sid is not None
    return sid


def _glucose(value: float, at: datetime) -> list[Measurement]:
    return [Measurement.create("glucose", value, "mg/dL", measured_at=at)]


def _store_glucose(store: Store, sid: int, run: str | None, value: float, key: str) -> None:
    store.record_reading(
        sid,
        _glucose(value, datetime(2026, 12, 5, 10, 0)),
        device_id="glucometro",
        protocol="onetouch.ultra2",
        raw=[RawEntry("onetouch.ultra2", f"P {value}".encode())],
        run_id=run,
        memory=[MemoryEntry(METER, key, datetime(2026, 12, 5, 10, 0), attributed=True)],
    )


def test_a_record_seen_once_is_never_attributed_again_even_after_a_restart(
    database_url: str,
) -> None:
    first = _store(database_url)
    a = _screening(first)
    run_a = first.start_run(a, ["glucometro"])
    _store_glucose(first, a, run_a, 236, "t:2026-12-05T10:00|glucose=236.0")
    first.end_run(run_a)
    first.engine.dispose()

    restarted = _store(database_url)  # a new process: nothing in memory, only the database
    b = _screening(restarted)
    run_b = restarted.start_run(b, ["glucometro"])
    assert restarted.seen(METER, ["t:2026-12-05T10:00|glucose=236.0"])
    with pytest.raises(NotAttributed) as refused:
        _store_glucose(restarted, b, run_b, 236, "t:2026-12-05T10:00|glucose=236.0")
    assert refused.value.reason == "already_seen"
    assert [r.value for r in restarted.measurements_of(a)] == [236]
    assert restarted.measurements_of(b) == []
    # the refused frames stay in B's raw log, marked not accepted
    (kept,) = restarted.raw_frames_of(b)
    assert not kept.accepted


def test_a_reading_after_cancel_or_from_another_run_is_refused(database_url: str) -> None:
    store = _store(database_url)
    sid = _screening(store)
    run = store.start_run(sid, ["glucometro"])
    assert store.cancel_run(sid) == run
    with pytest.raises(NotAttributed) as refused:
        _store_glucose(store, sid, run, 120, "k1")
    assert refused.value.reason == "run_closed"
    assert refused.value.nurse_message
    assert store.measurements_of(sid) == []
    newer = store.start_run(sid, ["glucometro"])
    with pytest.raises(NotAttributed):
        _store_glucose(store, sid, run, 120, "k2")  # the old run's late reading
    _store_glucose(store, sid, newer, 121, "k3")
    assert [r.value for r in store.measurements_of(sid)] == [121]


def test_a_screening_has_one_run_at_a_time(database_url: str) -> None:
    store = _store(database_url)
    sid = _screening(store)
    store.start_run(sid, ["bascula"])
    with pytest.raises(ScreeningConflict) as busy:
        store.start_run(sid, ["bascula"])
    assert busy.value.reason == "measuring"


def test_complete_while_measuring_is_a_conflict_or_cancels_the_run(database_url: str) -> None:
    store = _store(database_url)
    sid = _screening(store)
    run = store.start_run(sid, ["glucometro"])
    with pytest.raises(ScreeningConflict):
        store.complete(sid, {"ruleset": "nom"})
    done = store.complete(sid, {"ruleset": "nom"}, cancel_run=True)
    assert done is not None
    assert done.status == "completed"
    assert store.get_run(run).status == "cancelled"  # type: ignore[union-attr]
    with pytest.raises(NotAttributed) as late:
        _store_glucose(store, sid, run, 99, "late")
    assert late.value.reason == "completed"
    with pytest.raises(NotAttributed):
        _store_glucose(store, sid, None, 99, "manual-late")
    assert store.measurements_of(sid) == []


def test_abandoned_runs_own_nothing_after_a_restart(database_url: str) -> None:
    store = _store(database_url)
    sid = _screening(store)
    run = store.start_run(sid, ["baumanometro"])
    assert store.abandon_runs() == 1
    with pytest.raises(NotAttributed):
        _store_glucose(store, sid, run, 99, "k")
    assert store.get_run(run).status == "abandoned"  # type: ignore[union-attr]


def test_measure_and_complete_raced_fifty_times_never_store_into_a_completed_screening(
    database_url: str,
) -> None:
    """The stored classification always saw every reading the screening holds."""
    store = _store(database_url)
    outcomes: dict[str, int] = {"stored": 0, "refused": 0, "completed": 0, "conflict": 0}
    for n in range(50):
        sid = _screening(store)
        run = store.start_run(sid, ["glucometro"])
        barrier = threading.Barrier(2)

        def reading(
            sid: int = sid, run: str = run, n: int = n, barrier: threading.Barrier = barrier
        ) -> None:
            barrier.wait()
            try:
                _store_glucose(store, sid, run, 100 + n, f"race-{n}")
                outcomes["stored"] += 1
            except NotAttributed:
                outcomes["refused"] += 1

        def completion(sid: int = sid, n: int = n, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                store.complete(
                    sid,
                    lambda rows: {"values": [r.value for r in rows.measurements]},
                    cancel_run=n % 2 == 0,
                )
                outcomes["completed"] += 1
            except ScreeningConflict:
                outcomes["conflict"] += 1

        threads = [threading.Thread(target=reading), threading.Thread(target=completion)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        row = store.get_screening(sid)
        assert row is not None
        stored = [r.value for r in store.measurements_of(sid)]
        if row.status == "completed":
            assert row.classification == {"values": stored}, n
        assert len(stored) <= 1
    assert outcomes["stored"] + outcomes["refused"] == 50
    assert outcomes["completed"] + outcomes["conflict"] == 50


def test_the_floor_is_the_last_work_on_another_screening(database_url: str) -> None:
    store = _store(database_url)
    a = _screening(store)
    assert store.attribution_floor(a) is None  # the first screening of a cart
    b = _screening(store)
    floor_b = store.attribution_floor(b)
    row_b = store.get_screening(b)
    assert row_b is not None
    # A is still open: B's window starts at B's own opening, no grace before it
    assert floor_b == row_b.created_at
    before = utcnow()
    store.complete(a, {})
    assert store.attribution_floor(b) >= before  # type: ignore[operator]
    # and for A (were it resumed), everything up to B's opening was B's time
    assert store.attribution_floor(a) >= row_b.created_at  # type: ignore[operator]


def test_the_floor_moves_with_a_hand_entry_on_another_screening(database_url: str) -> None:
    store = _store(database_url)
    a = _screening(store)
    c = _screening(store)
    first = store.attribution_floor(a)
    assert first is not None
    typed_at = utcnow()
    store.record_reading(
        c,
        _glucose(140, datetime(2026, 12, 5, 10, 0)),
        device_id=None,
        protocol=None,
        manual_entry=True,
    )
    later = store.attribution_floor(a)
    assert later is not None
    assert later >= typed_at > first - timedelta(microseconds=1)
