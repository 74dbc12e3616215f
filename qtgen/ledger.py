"""The batch ledger (SQLite in the drafts folder): every question's state, attempts, tokens, latency,
model and error, committed at each change so that a run killed at any moment resumes where it was."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .store import Store

PENDING, RUNNING, DONE, FAILED, SKIPPED, INVALID = "pending", "running", "done", "failed", "skipped", "invalid"
LEFT = (PENDING, RUNNING, FAILED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, input TEXT NOT NULL, input_sha TEXT NOT NULL, started REAL NOT NULL,
    finished REAL, status TEXT NOT NULL, options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL, key TEXT NOT NULL, line INTEGER, question TEXT, subject TEXT, page_id INTEGER,
    date TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0, latency REAL, model TEXT, error TEXT, path TEXT, updated REAL,
    PRIMARY KEY (run_id, key)
);
"""

ITEM_FIELDS = ("run_id", "key", "line", "question", "subject", "page_id", "date", "state", "attempts", "tokens_in",
               "tokens_out", "latency", "model", "error", "path", "updated")


@dataclass
class Item:
    run_id: str
    key: str
    line: int | None
    question: str | None
    subject: str | None
    page_id: int | None
    date: str | None
    state: str
    attempts: int
    tokens_in: int
    tokens_out: int
    latency: float | None
    model: str | None
    error: str | None
    path: str | None
    updated: float | None

    def report(self) -> dict:
        return {"line": self.line, "question": self.question, "subject": self.subject, "status": self.state,
                "path": self.path, "error": self.error, "tokens": self.tokens_in + self.tokens_out,
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "latency": self.latency,
                "attempts": self.attempts, "id": self.page_id, "model": self.model}


class Ledger(Store):
    synchronous = "FULL"  # a finished draft is never forgotten

    def __init__(self, path: Path):
        super().__init__(path, _SCHEMA)
        self._lock = threading.Lock()

    # -- runs ----------------------------------------------------------------------------------
    def open_run(self, input_path: str, input_sha: str, options: dict) -> tuple[str, bool]:
        """The unfinished run of this same input (resumed), or a new one; (run_id, resumed)."""
        with self._lock:
            row = self.db.execute("SELECT run_id FROM runs WHERE input = ? AND input_sha = ? AND status != 'finished' "
                                  "ORDER BY started DESC LIMIT 1", (input_path, input_sha)).fetchone()
            if row:
                self.db.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", (row[0],))
                self.db.execute("UPDATE items SET state = ? WHERE run_id = ? AND state = ?", (PENDING, row[0], RUNNING))
                return row[0], True
            run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
            self.db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, NULL, 'running', ?)",
                            (run_id, input_path, input_sha, time.time(), json.dumps(options)))
            return run_id, False

    def latest_unfinished(self) -> tuple[str, str] | None:
        row = self.db.execute("SELECT run_id, input FROM runs WHERE status != 'finished' ORDER BY started DESC LIMIT 1"
                              ).fetchone()
        return (row[0], row[1]) if row else None

    def close_run(self, run_id: str) -> str:
        left = self.counts(run_id)
        status = "finished" if not any(left.get(s) for s in LEFT) else "stopped"
        with self._lock:
            self.db.execute("UPDATE runs SET status = ?, finished = ? WHERE run_id = ?", (status, time.time(), run_id))
        return status

    def runs(self) -> list[dict]:
        out = []
        for run_id, input_path, started, finished, status in self.db.execute(
                "SELECT run_id, input, started, finished, status FROM runs ORDER BY started"):
            out.append({"run": run_id, "input": input_path, "started": started, "finished": finished, "status": status,
                        **self.counts(run_id)})
        return out

    # -- items ---------------------------------------------------------------------------------
    def add(self, run_id: str, key: str, *, line: int | None, question: str | None, subject: str | None,
            state: str, error: str | None = None, page_id: int | None = None, date: str | None = None) -> bool:
        """Record a question once; an item already in the ledger keeps its state. True if it was new."""
        with self._lock:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO items (run_id, key, line, question, subject, page_id, date, state, error, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, key, line, question, subject, page_id, date, state, error, time.time()))
            return cur.rowcount == 1

    def update(self, run_id: str, key: str, **fields) -> None:
        fields["updated"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._lock:
            self.db.execute(f"UPDATE items SET {sets} WHERE run_id = ? AND key = ?", (*fields.values(), run_id, key))

    def start(self, run_id: str, key: str) -> None:
        with self._lock:
            self.db.execute("UPDATE items SET state = ?, attempts = attempts + 1, updated = ? WHERE run_id = ? AND key = ?",
                            (RUNNING, time.time(), run_id, key))

    def add_attempts(self, run_id: str, key: str, extra: int) -> None:
        if extra:
            with self._lock:
                self.db.execute("UPDATE items SET attempts = attempts + ? WHERE run_id = ? AND key = ?",
                                (extra, run_id, key))

    def items(self, run_id: str, states: tuple[str, ...] | None = None) -> list[Item]:
        sql = f"SELECT {', '.join(ITEM_FIELDS)} FROM items WHERE run_id = ?"
        args: list = [run_id]
        if states:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += list(states)
        with self._lock:
            return [Item(*row) for row in self.db.execute(sql + " ORDER BY line, key", args)]

    def counts(self, run_id: str) -> dict[str, int]:
        with self._lock:
            return dict(self.db.execute("SELECT state, COUNT(*) FROM items WHERE run_id = ? GROUP BY state", (run_id,)))

    def totals(self, run_id: str) -> tuple[int, int]:
        with self._lock:
            row = self.db.execute("SELECT COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0) FROM items "
                                  "WHERE run_id = ?", (run_id,)).fetchone()
        return row[0], row[1]
