"""qtgen's SQLite files (the site index, the batch ledger): WAL, autocommit, rows by column name, and a
schema version with numbered migrations, each a small named function applied once (`PRAGMA user_version`).

A file made by an older qtgen is brought up to date when it is opened; one made by a newer qtgen is
refused with one line rather than misread.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable

from .errors import QtgenError

Migration = Callable[[sqlite3.Connection], None]


class Migrations:
    """An ordered list of schema changes; the n-th one brings a file to version n."""

    def __init__(self) -> None:
        self.steps: list[Migration] = []

    def __call__(self, step: Migration) -> Migration:
        self.steps.append(step)
        return step

    @property
    def version(self) -> int:
        return len(self.steps)

    def apply(self, db: sqlite3.Connection, path: Path) -> None:
        current = db.execute("PRAGMA user_version").fetchone()[0]
        if current > self.version:
            raise QtgenError(f"{path}: made by a newer qtgen (schema {current}, this one knows {self.version}); "
                             "upgrade qtgen")
        if current == self.version:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            current = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have just done it
            for number, step in enumerate(self.steps[current:], current + 1):
                step(db)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}


class Database:
    """Base for qtgen's SQLite files; usable as a context manager."""

    synchronous = "NORMAL"
    migrations: Migrations = Migrations()

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        deadline = time.monotonic() + 60
        while True:
            try:
                self.db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
                self.db.row_factory = sqlite3.Row
                self.db.execute("PRAGMA journal_mode=WAL")  # may answer "locked" at once while another process opens it
                self.db.execute(f"PRAGMA synchronous={self.synchronous}")
                self.migrations.apply(self.db, path)
                return
            except sqlite3.OperationalError as exc:
                if getattr(self, "db", None) is not None:  # connect itself may be what failed (a folder, no rights)
                    self.db.close()
                    self.db = None
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise QtgenError(f"{path}: cannot be opened as a qtgen database ({exc})") from None
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                raise QtgenError(f"{path}: cannot be opened as a qtgen database ({exc})") from None

    def json_by_key(self, table: str, column: str, keys: list[str]) -> dict[str, dict]:
        """The JSON held in `column` of the rows of `table` whose `key` is one of `keys`, by key (500 a query)."""
        import json

        out: dict[str, dict] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT key, {column} FROM {table} WHERE key IN ({marks})", chunk):
                out[row["key"]] = json.loads(row[column])
        return out

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
