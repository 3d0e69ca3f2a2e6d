"""The cart's database for a command that reads or writes it (users, audit)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def open_database(command: str, database_url: str | None) -> Engine | None:
    """The migrated database of the settings (or ``database_url``); None after printing
    why the settings are invalid (the command then exits 2). The caller disposes it."""
    from pydantic import ValidationError as SettingsError

    from cart.config import load_settings
    from cart.store import create_db_engine, migrate

    overrides = {"database_url": database_url} if database_url else {}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"cart {command}: invalid settings: {exc}", file=sys.stderr)
        return None
    engine = create_db_engine(settings.database_url)
    try:
        migrate(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
