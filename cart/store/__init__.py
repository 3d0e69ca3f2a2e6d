"""Local-first storage: SQLModel over SQLite (WAL) by default, any SQLAlchemy URL by setting."""

from cart.store.db import create_db_engine, migrate
from cart.store.repo import MemoryEntry, RawEntry, Store, StoredReading, to_measurement

__all__ = [
    "MemoryEntry",
    "RawEntry",
    "Store",
    "StoredReading",
    "create_db_engine",
    "migrate",
    "to_measurement",
]
