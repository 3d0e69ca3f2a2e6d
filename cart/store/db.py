"""Engine creation and schema migration.

SQLite (the default) runs in WAL mode with foreign keys on, and its file is created
with mode 0600 because it holds patient data. Any other SQLAlchemy URL works as given;
PostgreSQL goes through psycopg 3 (``pip install mido-cart[postgresql]``). The schema is
always brought to Alembic's head at startup.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import create_engine

__all__ = [
    "create_db_engine",
    "database_url",
    "downgrade",
    "drift",
    "migrate",
    "revisions",
    "sqlite_path",
]

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_path(url: str) -> Path | None:
    """The file behind an SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def database_url(url: str) -> str:
    """``postgresql://`` without a driver means psycopg 3 (the ``postgresql`` extra), not
    SQLAlchemy's default psycopg2, which the cart does not install."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    url = database_url(url)
    path = sqlite_path(url)
    connect_args: dict[str, Any] = {}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # create it private before SQLite does with the umask's mode
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        connect_args = {"check_same_thread": False, "timeout": 30}
    engine = create_engine(url, echo=echo, connect_args=connect_args)
    if make_url(url).get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision``."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    _private(engine)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database behind ``engine`` down to ``revision`` (``base``: empty)."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def revisions(engine: Engine) -> tuple[str | None, str | None]:
    """(the database's current revision or None if none applied, the newest migration)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head


def drift(engine: Engine) -> list[Any]:
    """What differs between the database's schema and cart/store/models.py (``[]``: none),
    compared as `alembic check` does, with the options of migrations/env.py."""
    from sqlmodel import SQLModel

    import cart.store.models  # noqa: F401  - registers the tables

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs: list[Any] = compare_metadata(context, SQLModel.metadata)
    return diffs


def _private(engine: Engine) -> None:
    path = sqlite_path(str(engine.url))
    if path is not None:
        for suffix in ("", "-wal", "-shm"):
            sidecar = Path(f"{path}{suffix}")
            if sidecar.exists():
                sidecar.chmod(0o600)
