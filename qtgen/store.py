"""A SQLite file shared by threads and processes: WAL, autocommit, created with its schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class Store:
    """Base for qtgen's SQLite files (the site index, the batch ledger); usable as a context manager."""

    synchronous = "NORMAL"

    def __init__(self, path: Path, schema: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={self.synchronous}")
        self.db.executescript(schema)

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
