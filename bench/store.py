"""The store at scale: a screening and a patient's history out of 1,000,000 measurements.

Method.

* **Data**: an SQLite database made by :func:`cart.store.migrate` (the real schema at
  Alembic head, WAL, the engine of :func:`cart.store.create_db_engine`) filled through
  SQLAlchemy Core bulk inserts (``executemany`` in batches, one transaction each) with
  ``--measurements`` rows (default 1,000,000): ``measurements / 20`` patients, patient
  ``i`` screened ``1 + i % 4`` times (2.5 on average) over two years in chronological
  rounds, so a patient's screenings are far apart in the table as they are on a real
  cart; 8 measurements per screening (weight, height, waist, systolic, diastolic, mean
  arterial pressure, pulse, glucose in 5 device readings with their raw bytes), with the
  canonical unit and LOINC code of each kind. Seeded, so every run builds the same data.
* **Cache**: the file is kept under ``var/bench/`` (``--cache-dir``) named by the schema
  revision (Alembic head), the row count and the generator's version, so reruns skip
  the generation and a new migration makes a new file. ``--fresh`` rebuilds it.
* **Queries**: a new engine and :class:`cart.store.Store` on the file (its own
  connection pool; the OS file cache is warm from the generation or earlier runs), a
  warm-up, then ``--samples`` operations of each kind at random (seeded), timed with
  ``time.perf_counter``:

  - ``screening``: what ``GET /api/v1/screenings/{id}`` reads, ``get_screening``,
    ``get_patient`` and ``measurements_of``;
  - ``history``: a patient's history, ``screenings_of_patient`` and
    ``measurements_of`` for each of those screenings.

  Reported per operation: p50, p99, mean and max in ms; target (issue 8): p99 <= 20 ms.
* **Query plans**: the SQL those Store methods send is captured from the engine and
  run under ``EXPLAIN QUERY PLAN``; the plan of each statement is reported with
  ``full_scan`` true if SQLite would scan a table instead of searching an index.

``python -m bench.store [--measurements N] [--samples N] [--quick]`` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import event, insert
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from bench.measure_overhead import percentile
from cart.measurement import Measurement, MeasurementKind
from cart.store import Store, create_db_engine, migrate
from cart.store.db import alembic_config

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = ROOT / "var" / "bench"
GENERATOR_VERSION = 1
TARGET_P99_MS = 20.0
BATCH = 20_000
SPAN = timedelta(days=730)

K = MeasurementKind
#: (reading index, kind, typical value, spread) for the 8 measurements of a screening
SCREENING: tuple[tuple[int, MeasurementKind, float, float], ...] = (
    (0, K.BODY_WEIGHT, 72.0, 14.0),
    (1, K.BODY_HEIGHT, 160.0, 9.0),
    (2, K.WAIST_CIRCUMFERENCE, 92.0, 12.0),
    (3, K.SYSTOLIC_PRESSURE, 124.0, 16.0),
    (3, K.DIASTOLIC_PRESSURE, 79.0, 10.0),
    (3, K.MEAN_ARTERIAL_PRESSURE, 94.0, 11.0),
    (3, K.PULSE_RATE, 74.0, 10.0),
    (4, K.GLUCOSE, 105.0, 25.0),
)
#: reading index -> (device id, protocol); the waist is typed in by the nurse
READING: dict[int, tuple[str | None, str]] = {
    0: ("bascula", "and.weighing"),
    1: ("estadimetro", "modbus.rtu"),
    2: (None, "manual"),
    3: ("baumanometro", "ble.blood_pressure"),
    4: ("glucometro", "ble.glucose"),
}
TABLES = SQLModel.metadata.tables  # cart.store's models are registered on import


def schema_head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head or "none"


def db_path(cache_dir: Path, measurements: int) -> Path:
    return cache_dir / f"store-rev{schema_head()}-m{measurements}-g{GENERATOR_VERSION}.db"


# --------------------------------------------------------------------------- generation


def _insert(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        with engine.begin() as conn:
            conn.execute(insert(table), rows[start : start + BATCH])


def generate(path: Path, measurements: int, seed: int = 8) -> dict[str, int]:
    """Write the database to ``path`` (built beside it, renamed when complete)."""
    rng = random.Random(seed)
    tmp = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    engine = create_db_engine(f"sqlite:///{tmp}")
    migrate(engine)
    per_screening = len(SCREENING)
    n_patients = max(1, measurements // 20)
    start = datetime.now(UTC) - SPAN
    patients = [
        {
            "id": i,
            "curp": f"B{i:09d}HDFRRR00",
            "given_name": f"Paciente {i}",
            "family_name": "Banco Prueba",
            "birth_date": date(1940 + i % 60, 1 + i % 12, 1 + i % 28),
            "sex": "female" if i % 2 else "male",
            "created_at": start,
        }
        for i in range(1, n_patients + 1)
    ]
    _insert(engine, TABLES["patient"], patients)
    # chronological rounds: every patient's 1st screening, then the 2nd ones, ...
    owners = [i for r in range(4) for i in range(1, n_patients + 1) if 1 + (i - 1) % 4 > r]
    n_screenings = -(-measurements // per_screening)
    owners = (owners * (n_screenings // len(owners) + 1))[:n_screenings]
    step = SPAN / max(1, n_screenings)
    screenings: list[dict[str, Any]] = [
        {
            "id": sid,
            "patient_id": owner,
            "status": "completed",
            "glucose_context": "casual",
            "known_diagnoses": [],
            "ruleset": "nom",
            "classification": None,
            "created_at": start + step * sid,
            "completed_at": start + step * sid + timedelta(minutes=6),
        }
        for sid, owner in enumerate(owners, start=1)
    ]
    _insert(engine, TABLES["screening"], screenings)
    templates = {kind: Measurement.create(kind, typical) for _, kind, typical, _ in SCREENING}
    rows: list[dict[str, Any]] = []
    written = 0
    for sid in range(1, n_screenings + 1):
        when = start + step * sid
        readings = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in READING]
        for reading, kind, typical, spread in SCREENING:
            if written == measurements:
                break
            device_id, protocol = READING[reading]
            value = round(rng.gauss(typical, spread / 2), 1)
            rows.append(
                {
                    "screening_id": sid,
                    "reading_id": readings[reading],
                    "device_id": device_id,
                    "protocol": protocol,
                    "kind": kind.value,
                    "value": value,
                    "unit": templates[kind].unit,
                    "loinc": templates[kind].loinc,
                    "special": None,
                    "flags": ["manual_entry"] if device_id is None else [],
                    "original_value": None,
                    "original_unit": None,
                    "measured_at": None,
                    "received_at": when + timedelta(seconds=reading * 20),
                    "sequence": None,
                    "user_id": None,
                    "context": {},
                    "device": None,
                    "manual_entry": device_id is None,
                    "raw": None if device_id is None else f"ST,+{value:08.2f}  kg\r\n".encode(),
                }
            )
            written += 1
        if len(rows) >= BATCH:
            _insert(engine, TABLES["measurement"], rows)
            rows = []
    _insert(engine, TABLES["measurement"], rows)
    engine.dispose()
    tmp.rename(path)
    return {"patients": n_patients, "screenings": n_screenings, "measurements": written}


# --------------------------------------------------------------------------- queries


def _screening(store: Store, sid: int) -> int:
    row = store.get_screening(sid)
    assert row is not None
    assert row.patient_id is not None
    store.get_patient(row.patient_id)
    return len(store.measurements_of(sid))


def _history(store: Store, pid: int) -> int:
    return sum(len(store.measurements_of(s.id)) for s in store.screenings_of_patient(pid) if s.id)


def query_plans(store: Store, sid: int, pid: int) -> list[dict[str, Any]]:
    """EXPLAIN QUERY PLAN of every statement the two operations send."""
    seen: dict[str, tuple[Any, ...]] = {}

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.setdefault(statement, tuple(parameters or ()))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        _screening(store, sid)
        _history(store, pid)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    plans = []
    with store.engine.connect() as conn:
        for statement, parameters in seen.items():
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            details = [str(r[-1]) for r in rows]
            plans.append(
                {
                    "sql": re.sub(
                        r"^SELECT .*? FROM ", "SELECT ... FROM ", " ".join(statement.split())
                    ),
                    "plan": details,
                    "full_scan": any(d.startswith("SCAN ") for d in details),
                }
            )
    return plans


def _time(store: Store, op: Any, ids: list[int]) -> tuple[list[float], int]:
    seconds: list[float] = []
    rows = 0
    for key in ids:
        began = time.perf_counter()
        rows += op(store, key)
        seconds.append(time.perf_counter() - began)
    return seconds, rows


def _figures(seconds: list[float], rows: int) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    p99 = percentile(ms, 99)
    return {
        "samples": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(p99, 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "max_ms": round(max(ms), 3),
        "rows_per_op": round(rows / len(ms), 1),
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": p99 <= TARGET_P99_MS,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.store")
    parser.add_argument("--measurements", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2000, help="timed operations per kind")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached database")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="smoke test: 20,000 rows")
    args = parser.parse_args(argv if argv is not None else [])
    if args.quick:
        args.measurements, args.samples = 20_000, 200
    if args.measurements < 20:
        parser.error("--measurements must be at least 20")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    path = db_path(args.cache_dir, args.measurements)
    if args.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    generation: dict[str, Any] = {"cached": path.exists()}
    if not path.exists():
        began = time.perf_counter()
        generation |= generate(path, args.measurements, args.seed)
        generation["seconds"] = round(time.perf_counter() - began, 1)
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        store = Store(engine)
        with engine.connect() as conn:
            counts = {
                table: conn.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar() or 0
                for table in ("patient", "screening", "measurement")
            }
        rng = random.Random(args.seed)
        screening_ids = [rng.randint(1, counts["screening"]) for _ in range(args.samples)]
        patient_ids = [rng.randint(1, counts["patient"]) for _ in range(args.samples)]
        plans = query_plans(store, screening_ids[0], patient_ids[0])
        warm = max(10, args.samples // 20)
        _time(store, _screening, screening_ids[:warm])
        _time(store, _history, patient_ids[:warm])
        screening = _figures(*_time(store, _screening, screening_ids))
        history = _figures(*_time(store, _history, patient_ids))
    finally:
        engine.dispose()
    return {
        "database": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "schema_revision": schema_head(),
        "size_mb": round(path.stat().st_size / 2**20, 1),
        "rows": counts,
        "generation": generation,
        "operations": {"screening": screening, "history": history},
        "query_plans": plans,
        "indexes_ok": not any(p["full_scan"] for p in plans),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
