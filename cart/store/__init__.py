"""Local-first storage: SQLModel over SQLite (WAL) by default, any SQLAlchemy URL by setting."""

from cart.store.db import create_db_engine, migrate
from cart.store.repo import RawEntry, Store, StoredReading, to_measurement

__all__ = ["RawEntry", "Store", "StoredReading", "create_db_engine", "migrate", "to_measurement"]
