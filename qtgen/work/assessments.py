"""What the queue found in each draft, kept by the draft's exact bytes and the rules' version.

Validating and linting a draft costs milliseconds (a YAML parse, a Markdown parse, KaTeX's checks); a queue of
thousands of revisions would re-do all of it on every listing. An assessment is stored under a key that holds
everything it depends on: the draft's bytes and place, the published page's bytes (a revision's kept values),
the rules' version and every setting. Any edit, regeneration, config change or qtgen upgrade gives another
key, so a stored assessment is never stale; nothing needs invalidating. The one check that depends on other
pages (QT011, a question another page asks) is never stored: the queue runs it for all drafts at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

from .. import __version__
from ..config import Config
from ..database import Database, Migrations

# Raise when a rule or a validation changes what it finds for the same bytes and settings.
RULES_VERSION = "2026-12-01.2"

migrations = Migrations()


@migrations
def m001_assessments(db) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS assessments (key TEXT PRIMARY KEY, data TEXT NOT NULL, "
               "used REAL NOT NULL)")


_SECRET = {"api_key", "base_url", "source", "root"}  # never hashed: secrets, and what says nothing of the rules


def fingerprint(config: Config) -> str:
    """Every setting a check could read (not the key, not the server), as one hash."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in _SECRET}
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(f"{__version__}\0{RULES_VERSION}\0{text}".encode()).hexdigest()


def key_of(fingerprint_: str, name: str, data: bytes, published: bytes | None) -> str:
    h = hashlib.sha256()
    for part in (fingerprint_.encode(), name.encode(), data, b"\0" if published is None else b"P" + published):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


class Assessments(Database):
    """The store: key -> the assessment as JSON (status, words, validation, findings, subject, question, id)."""

    migrations = migrations
    KEEP_DAYS = 30  # an assessment unused this long (its draft long gone or changed) is dropped

    def __init__(self, config: Config, path: Path | None = None):
        super().__init__(path or config.state("assessments.sqlite"))
        self._used: list[str] = []

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        out = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT key, data FROM assessments WHERE key IN ({marks})", chunk):
                out[row["key"]] = json.loads(row["data"])
        return out

    def put_many(self, found: dict[str, dict]) -> None:
        if not found:
            return
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO assessments (key, data, used) VALUES (?, ?, ?)",
                                [(k, json.dumps(v, ensure_ascii=False), now) for k, v in found.items()])

    def touch(self, keys: list[str]) -> None:
        """Mark these as in use, and drop what has not been used for KEEP_DAYS."""
        now = time.time()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("UPDATE assessments SET used = ? WHERE key = ? AND used < ?",
                                [(now, k, now - 86400) for k in keys])
            self.db.execute("DELETE FROM assessments WHERE used < ?", (now - self.KEEP_DAYS * 86400,))
