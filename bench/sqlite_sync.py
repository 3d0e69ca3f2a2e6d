"""The cost of ``PRAGMA synchronous=FULL`` (issue 14): an acknowledged write survives power loss.

Method. Two fresh SQLite databases at Alembic head, made by the service's own
:func:`cart.store.create_db_engine` (WAL, ``synchronous=FULL``) in ``--dir`` (default
``var/bench/``, on the disk that holds the cart's data: a tmpfs would hide the fsync);
the second engine gets ``synchronous=NORMAL`` (what the cart ran before) on each
connection after the service's own pragmas. On each, ``--writes`` acknowledged writes,
each one :meth:`cart.store.Store.add_patient` (one INSERT and one COMMIT, what
registering a patient or storing a reading costs), timed with ``time.perf_counter``,
the two modes interleaved write by write so both see the same disk load.

Reported per mode: p50, p99, mean, max in ms; and ``full_minus_normal_p50_ms``, the
price of each acknowledged write. With WAL, NORMAL syncs only at checkpoints, so a
power cut can lose the last commits the nurse saw confirmed; FULL syncs the WAL on
every commit.

``python -m bench.sqlite_sync [--writes N] [--dir DIR] [--quick]`` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.measure_overhead import summary_ms
from cart.private import private_dir
from cart.store import Store, create_db_engine, migrate
from cart.store.models import Patient

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "var" / "bench"


def _normal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _engine(path: Path, mode: str) -> Engine:
    engine = create_db_engine(f"sqlite:///{path}")
    if mode == "normal":
        event.listen(engine, "connect", _normal)  # runs after the service's pragmas
    migrate(engine)
    return engine


def _patient(i: int) -> Patient:
    # distinct fictional identifiers; the store does not validate CURPs, the API does
    return Patient(
        curp=f"BENC{i:06d}HDFXXX0{i % 10}",
        given_name="Prueba",
        family_name="Banco",
        birth_date=date(1970, 1, 1),
        sex="male",
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="bench.sqlite_sync")
    parser.add_argument("--writes", type=int, default=2000, help="acknowledged writes per mode")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--quick", action="store_true", help="smoke test: 100 writes")
    args = parser.parse_args(argv if argv is not None else [])
    if args.quick:
        args.writes = 100
    private_dir(args.dir)
    timings: dict[str, list[float]] = {"full": [], "normal": []}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="sync-") as work:
        engines = {mode: _engine(Path(work) / f"{mode}.db", mode) for mode in timings}
        try:
            stores = {mode: Store(engine) for mode, engine in engines.items()}
            modes: dict[str, Any] = {}
            for mode, engine in engines.items():
                with engine.connect() as conn:
                    modes[mode] = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            for i in range(args.writes):
                for mode, store in stores.items():
                    row = _patient(i)
                    began = time.perf_counter()
                    store.add_patient(row)
                    timings[mode].append(time.perf_counter() - began)
        finally:
            for engine in engines.values():
                engine.dispose()
    full, normal = summary_ms(timings["full"]), summary_ms(timings["normal"])
    return {
        "writes": args.writes,
        "dir": str(args.dir),
        "pragma_synchronous": modes,
        "full": full,
        "normal": normal,
        "full_minus_normal_p50_ms": round(full["p50_ms"] - normal["p50_ms"], 3),
        "full_over_normal_p50": round(full["p50_ms"] / normal["p50_ms"], 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
