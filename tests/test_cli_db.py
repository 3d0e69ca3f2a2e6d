"""`cart db upgrade|current|downgrade|check` and the repository's alembic.ini, on SQLite and
PostgreSQL: migrations run by hand, the schema checked against the models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from cart.cli import main
from cart.store import create_db_engine

ROOT = Path(__file__).resolve().parent.parent


def _db(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str]:
    code = main(["db", "--database-url", url, *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_current_downgrade_check(database_url: str, capsys: pytest.CaptureFixture[str]):
    code, out = _db(capsys, database_url, "current")
    assert (code, out.split(": ", 1)[1].strip()) == (
        0,
        "empty (no migration applied) (head is 0003: run `cart db upgrade`)",
    )
    password = make_url(database_url).password
    if password:
        assert password not in out
    assert _db(capsys, database_url, "upgrade")[0] == 0
    code, out = _db(capsys, database_url, "current")
    assert out.strip().endswith(": 0003 (head)")
    assert _db(capsys, database_url, "check") == (
        0,
        f"{out.split(': 0003')[0]}: the schema matches the models\n",
    )

    assert _db(capsys, database_url, "downgrade", "-1")[0] == 0
    assert "measure_run" not in _tables(database_url)
    code, out = _db(capsys, database_url, "current")
    assert out.strip().endswith(": 0002 (head is 0003: run `cart db upgrade`)")
    code, out = _db(capsys, database_url, "check")
    assert code == 1
    assert "add_table measure_run" in out
    assert "add_column measurement device_time" in out

    assert _db(capsys, database_url, "downgrade", "base")[0] == 0
    assert _tables(database_url) <= {"alembic_version"}
    assert _db(capsys, database_url, "upgrade", "0002")[0] == 0
    assert "outbox" in _tables(database_url)
    assert _db(capsys, database_url, "upgrade")[0] == 0
    assert _db(capsys, database_url, "check")[0] == 0

    code, out = _db(capsys, database_url, "downgrade", "0009")
    assert code == 1
    assert "Can't locate revision" in out


def test_alembic_ini_runs_against_the_carts_database(database_url: str):
    """`alembic upgrade head` / `alembic check` from the repository root use CART_DATABASE_URL."""
    env = {**os.environ, "CART_DATABASE_URL": database_url}
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini")]
    for args in (["upgrade", "head"], ["check"], ["current"]):
        done = subprocess.run(
            [*alembic, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    assert "0003 (head)" in done.stdout
    assert {"outbox", "measure_run", "seen_record"} <= _tables(database_url)
