"""Alembic environment: run against the connection handed over by cart.store.db (the
service's start-up, `cart db`), or, for the `alembic` command, against the cart's database."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import cart.store.models  # noqa: F401  - registers the tables on SQLModel.metadata

target_metadata = SQLModel.metadata
config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # the `alembic` command (alembic.ini at the repository root): the ini's URL if it
        # has one, else the cart's own setting (CART_DATABASE_URL, .env, the default)
        from cart.config import load_settings
        from cart.store.db import create_db_engine

        if config.config_file_name is not None:
            fileConfig(config.config_file_name, disable_existing_loggers=False)
        url = config.get_main_option("sqlalchemy.url") or load_settings().database_url
        engine = create_db_engine(url)
        try:
            with engine.begin() as conn:
                _run(conn)
        finally:
            engine.dispose()
    else:
        _run(connection)


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
