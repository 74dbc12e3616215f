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
import functools
import os
import sqlite3
import hashlib
import json
import time
from pathlib import Path

from .. import __version__
from ..config import Config
from ..database import Database, Migrations
from ..errors import QtgenError

# Raise when a rule or a validation changes what it finds for the same bytes and settings.
RULES_VERSION = "2026-12-01.3"

migrations = Migrations()


@migrations
def m001_assessments(db) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS assessments (key TEXT PRIMARY KEY, data TEXT NOT NULL, "
               "used REAL NOT NULL)")


_SECRET = {"api_key", "base_url", "source", "root"}  # never hashed: secrets, and what says nothing of the rules


# the modules whose code decides what a page's checks find: their source is part of every key
_RULE_MODULES = ("qtgen.format.validate", "qtgen.format.page", "qtgen.format.reader", "qtgen.format.seo",
                 "qtgen.checks.lint", "qtgen.checks.rules", "qtgen.checks.prompt_text", "qtgen.drafts.queue",
                 "qtgen.site.sitemath", "qtgen.site.render", "qtgen.site.sanitise")


@functools.lru_cache(maxsize=1)
def _rules_source() -> str:
    """A hash of the rule modules' source, found by module name (never by a path that a move would leave stale:
    a module that cannot be found is an error, not a silently constant key)."""
    import importlib.util

    h = hashlib.sha256()
    for name in _RULE_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            raise QtgenError(f"qtgen is incomplete: the rule module {name} is missing")
        h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()


def _templates(config: Config) -> str:
    """The prompt templates' names and text (QT024 compares answers with them), site's and packaged."""
    from ..llm.prompts import packaged_prompts

    h = hashlib.sha256()
    for folder in (config.prompts, packaged_prompts()):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*.j2")):
            try:
                h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
            except OSError:
                continue
    return h.hexdigest()


def fingerprint(config: Config) -> str:
    """Every setting a check could read (not the key, not the server), the prompt templates and the rules'
    code, as one hash."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in _SECRET}
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(f"{__version__}\0{RULES_VERSION}\0{_rules_source()}\0{_templates(config)}\0{text}"
                          .encode()).hexdigest()


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
        self.broken = False  # the file failed under us: the rest of this command runs without it

    @classmethod
    def opened(cls, config: Config) -> "Assessments":
        """The store of this drafts folder; only a store, so a damaged file is moved aside and started afresh, and
        one a newer qtgen made (or one that cannot be opened at all) is left alone for a store in memory."""
        path = config.state("assessments.sqlite")  # refused if a symlink leads it out of the drafts folder
        try:
            store = cls(config, path)
            store.db.execute("SELECT COUNT(*) FROM assessments").fetchone()
            return store
        except QtgenError as exc:
            if "newer qtgen" in str(exc):
                return cls(config, Path(":memory:"))
        except sqlite3.DatabaseError:
            pass
        aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        try:
            os.replace(path, aside)
            for extra in ("-wal", "-shm"):
                Path(str(path) + extra).unlink(missing_ok=True)
            return cls(config, path)
        except (OSError, QtgenError, sqlite3.DatabaseError):
            return cls(config, Path(":memory:"))

    def _safely(self, work, default):
        if self.broken:
            return default
        try:
            return work()
        except sqlite3.DatabaseError:
            self.broken = True  # damaged while in use: the findings are computed, only not kept
            return default

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        return self._safely(lambda: self.json_by_key("assessments", "data", keys), {})

    def put_many(self, found: dict[str, dict]) -> None:
        if not found:
            return
        now = time.time()

        def work():
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT OR REPLACE INTO assessments (key, data, used) VALUES (?, ?, ?)",
                                    [(k, json.dumps(v, ensure_ascii=False), now) for k, v in found.items()])
        self._safely(work, None)

    def touch(self, keys: list[str]) -> None:
        """Mark these as in use, and drop what has not been used for KEEP_DAYS."""
        now = time.time()

        def work():
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("UPDATE assessments SET used = ? WHERE key = ? AND used < ?",
                                    [(now, k, now - 86400) for k in keys])
                self.db.execute("DELETE FROM assessments WHERE used < ?", (now - self.KEEP_DAYS * 86400,))
        self._safely(work, None)
