"""The batch ledger (SQLite in drafts/.qtgen): every question's state, attempts, tokens, latency, model
and error, committed at each change, so a run killed at any moment resumes where it was.

Two processes may work on one run: a question is taken only under a lease (the holder's host, pid and
a heartbeat), so no question is requested twice. A lease whose holder is gone (its pid is dead, or
its heartbeat is older than LEASE_SECONDS) is free again; only the holder records the result.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from ..config import Config
from ..database import Database, Migrations
from ..llm.pricing import BATCH_API, Lane
from .entries import (DRAFT, FAILED, ITEM_COLUMNS, LEFT, OPEN, PENDING, RUNNING, SUBMITTED, BatchItem, Chunk,
                      ChunkState, Run)

LEASE_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0

migrations = Migrations()


def ledger_path(config: Config) -> Path:
    """The site's one ledger."""
    return config.state("batch.sqlite")


@migrations
def m001_runs_and_items(db) -> None:
    """The first schema (files made before schema versions have it already: IF NOT EXISTS)."""
    db.execute("CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, input TEXT NOT NULL, input_sha TEXT NOT NULL, "
               "started REAL NOT NULL, finished REAL, status TEXT NOT NULL, options TEXT NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS items (run_id TEXT NOT NULL, key TEXT NOT NULL, line INTEGER, question TEXT, "
               "subject TEXT, page_id INTEGER, date TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
               "tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0, latency REAL, model TEXT, "
               "error TEXT, path TEXT, updated REAL, PRIMARY KEY (run_id, key))")


@migrations
def m002_item_leases(db) -> None:
    """Who holds a question being drafted, and when it last said it is alive."""
    db.execute("ALTER TABLE items ADD COLUMN holder TEXT")
    db.execute("ALTER TABLE items ADD COLUMN heartbeat REAL")
    db.execute("UPDATE items SET heartbeat = updated WHERE state = 'running'")
    db.execute("CREATE INDEX IF NOT EXISTS items_key ON items(key)")


@migrations
def m003_item_kinds(db) -> None:
    """A run may revise published pages: each item says what it does and which file it starts from."""
    db.execute("ALTER TABLE items ADD COLUMN kind TEXT NOT NULL DEFAULT 'draft'")
    db.execute("ALTER TABLE items ADD COLUMN source TEXT")


@migrations
def m004_batch_api(db) -> None:
    """The Batch API lane: each question's lane and batch, every file and batch sent, what was learned."""
    db.execute("ALTER TABLE items ADD COLUMN lane TEXT NOT NULL DEFAULT 'online'")
    db.execute("ALTER TABLE items ADD COLUMN chunk TEXT")
    db.execute("ALTER TABLE items ADD COLUMN api_failures INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE runs ADD COLUMN api_token_cap INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN api_max_bytes INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN cancelled REAL")
    db.execute("CREATE TABLE api_batches (chunk TEXT PRIMARY KEY, run_id TEXT NOT NULL, kind TEXT NOT NULL, "
               "state TEXT NOT NULL, created REAL NOT NULL, updated REAL, requests INTEGER NOT NULL, "
               "bytes INTEGER NOT NULL, tokens INTEGER NOT NULL, file_id TEXT, batch_id TEXT, status TEXT, "
               "completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, output_file_id TEXT, "
               "error_file_id TEXT, error TEXT, mode TEXT, path TEXT)")
    db.execute("CREATE INDEX api_batches_run ON api_batches(run_id)")
    db.execute("CREATE INDEX items_chunk ON items(chunk)")


@migrations
def m005_published(db) -> None:
    """Every page approve published, with what made it (the commit carries the same as trailers)."""
    db.execute("CREATE TABLE published (id INTEGER PRIMARY KEY, page TEXT NOT NULL, [commit] TEXT, provenance TEXT NOT "
               "NULL, created REAL NOT NULL)")
    db.execute("CREATE INDEX published_page ON published(page)")


@migrations
def m006_reasoning_and_cached_tokens(db) -> None:
    """Of each answer's tokens: those spent on reasoning (part of tokens_out, billed as output) and those read
    from the provider's prompt cache (part of tokens_in, billed at the cached rate)."""
    db.execute("ALTER TABLE items ADD COLUMN tokens_reasoning INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE items ADD COLUMN tokens_cached INTEGER NOT NULL DEFAULT 0")




def new_holder() -> str:
    """This process's name in leases: host, pid and a token that a reused pid will not have."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_alive(holder: str | None, heartbeat: float | None, now: float | None = None) -> bool:
    if not holder:
        return False
    now = time.time() if now is None else now
    if heartbeat is None or now - heartbeat > LEASE_SECONDS:
        return False
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's process: trust its heartbeat
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Ledger(Database):
    synchronous = "FULL"  # a finished draft is never forgotten
    migrations = migrations

    def __init__(self, path: Path):
        super().__init__(path)
        self._lock = threading.Lock()

    def _item(self, row) -> BatchItem:
        return BatchItem(**{k: row[k] for k in ITEM_COLUMNS})

    # -- runs ----------------------------------------------------------------------------------
    def open_run(self, input_path: str, input_sha: str, options: dict) -> tuple[Run, bool]:
        """The unfinished run of this same input (resumed), or a new one. Items another process
        holds stay with it; a resumed run keeps the options it was started with."""
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT run_id FROM runs WHERE input = ? AND input_sha = ? AND status != 'finished' "
                                  "ORDER BY started DESC LIMIT 1", (input_path, input_sha)).fetchone()
            if row:
                self.db.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", (row["run_id"],))
                run_id, resumed = row["run_id"], True
            else:
                run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
                self.db.execute("INSERT INTO runs (run_id, input, input_sha, started, finished, status, options) "
                                "VALUES (?, ?, ?, ?, NULL, 'running', ?)",
                                (run_id, input_path, input_sha, time.time(), json.dumps(options)))
                resumed = False
        return self.run(run_id), resumed

    def run(self, run_id: str) -> Run:
        row = self.db.execute("SELECT run_id, input, input_sha, started, finished, status, options FROM runs "
                              "WHERE run_id = ?", (run_id,)).fetchone()
        try:
            options = json.loads(row["options"] or "{}")
        except ValueError:
            options = {}
        return Run(row["run_id"], row["input"], row["input_sha"], row["started"], row["finished"], row["status"],
                   options if isinstance(options, dict) else {})

    def unfinished_options(self, input_path: str, input_sha: str) -> dict | None:
        """The options of the latest unfinished run of this very list (its path and bytes), or None."""
        row = self.db.execute("SELECT options FROM runs WHERE input = ? AND input_sha = ? AND status != 'finished' "
                              "ORDER BY started DESC LIMIT 1", (input_path, input_sha)).fetchone()
        return None if row is None else json.loads(row["options"] or "{}")

    def find_run(self, run_id: str) -> Run:
        """The run of this id, or InputError naming it."""
        from ..errors import InputError

        if self.db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
            raise InputError(f"run {run_id!r}: no such run (qtgen runs lists them)")
        return self.run(run_id)

    def unfinished(self) -> list[Run]:
        rows = self.db.execute("SELECT run_id FROM runs WHERE status != 'finished' ORDER BY started").fetchall()
        return [self.run(r["run_id"]) for r in rows]

    def latest_unfinished(self) -> Run | None:
        row = self.db.execute("SELECT run_id FROM runs WHERE status != 'finished' ORDER BY started DESC LIMIT 1"
                              ).fetchone()
        return self.run(row["run_id"]) if row else None

    def close_run(self, run_id: str, holder: str) -> str:
        """The run's status once this process is done with it: finished, running (another process
        still holds questions) or stopped (resumable)."""
        with self._lock:
            self.db.execute("UPDATE items SET state = ?, holder = NULL WHERE run_id = ? AND holder = ? AND state = ?",
                            (PENDING, run_id, holder, RUNNING))
            held = [r for r in self.db.execute("SELECT holder, heartbeat FROM items WHERE run_id = ? AND state = ?",
                                               (run_id, RUNNING))]
        left = self.counts(run_id)
        if any(holder_alive(r["holder"], r["heartbeat"]) for r in held):
            status = "running"
        elif left.get(SUBMITTED) and not any(left.get(s) for s in LEFT):
            status = SUBMITTED  # waiting for the provider's batches (or an exported file's results)
        else:
            status = "finished" if not any(left.get(s) for s in OPEN) else "stopped"
        with self._lock:
            self.db.execute("UPDATE runs SET status = ?, finished = ? WHERE run_id = ?", (status, time.time(), run_id))
        return status

    def runs(self) -> list[dict]:
        out = []
        for row in self.db.execute("SELECT run_id, input, started, finished, status FROM runs ORDER BY started"):
            out.append({"run": row["run_id"], "input": row["input"], "started": row["started"],
                        "finished": row["finished"], "status": row["status"], **self.counts(row["run_id"])})
        return out

    # -- items ---------------------------------------------------------------------------------
    def known_keys(self, run_id: str) -> set[str]:
        return {row["key"] for row in self.db.execute("SELECT key FROM items WHERE run_id = ?", (run_id,))}

    def add_many(self, run_id: str, records: list[dict]) -> int:
        """Record questions in one transaction; an item already in the ledger keeps its state."""
        now = time.time()
        cols = ("run_id", "key", "line", "question", "subject", "page_id", "date", "state", "error", "updated", "kind",
                "source")
        values = [(run_id, r["key"], r.get("line"), r.get("question"), r.get("subject"), r.get("page_id"),
                   r.get("date"), r["state"], r.get("error"), now, r.get("kind", DRAFT), r.get("source"))
                  for r in records]
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            before = self.db.total_changes
            self.db.executemany(f"INSERT OR IGNORE INTO items ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                values)
            return self.db.total_changes - before

    def claim(self, run_id: str, key: str, holder: str) -> bool:
        """Take a question to draft it: True if it was left to do and nobody alive holds it."""
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT state, holder, heartbeat FROM items WHERE run_id = ? AND key = ?",
                                  (run_id, key)).fetchone()
            if row is None or row["state"] not in LEFT:
                return False
            if row["state"] == RUNNING and row["holder"] != holder and holder_alive(row["holder"], row["heartbeat"]):
                return False
            for other in self.db.execute("SELECT state, holder, heartbeat FROM items WHERE key = ? AND run_id != ? "
                                         "AND state IN (?, ?)", (key, run_id, RUNNING, SUBMITTED)):
                if other["state"] == SUBMITTED:
                    return False  # in another run's Batch API batch (or exported): its answer is awaited
                if other["holder"] != holder and holder_alive(other["holder"], other["heartbeat"]):
                    return False  # another run (the same list under another name) is drafting this question
            now = time.time()
            self.db.execute("UPDATE items SET state = ?, holder = ?, heartbeat = ?, attempts = attempts + 1, updated = ? "
                            "WHERE run_id = ? AND key = ?", (RUNNING, holder, now, now, run_id, key))
            return True

    def heartbeat(self, holder: str) -> None:
        with self._lock:
            self.db.execute("UPDATE items SET heartbeat = ? WHERE holder = ? AND state = ?", (time.time(), holder, RUNNING))

    def record(self, run_id: str, key: str, holder: str, **values) -> bool:
        """The result of a question this process holds; False (nothing written) if it lost the lease."""
        values["updated"] = time.time()
        values.setdefault("holder", None)
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._lock:
            cur = self.db.execute(f"UPDATE items SET {sets} WHERE run_id = ? AND key = ? AND holder = ?",
                                  (*values.values(), run_id, key, holder))
            return cur.rowcount == 1

    def add_attempts(self, run_id: str, key: str, extra: int) -> None:
        if extra:
            with self._lock:
                self.db.execute("UPDATE items SET attempts = attempts + ? WHERE run_id = ? AND key = ?",
                                (extra, run_id, key))

    def items(self, run_id: str, states: tuple[str, ...] | None = None) -> list[BatchItem]:
        sql = f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE run_id = ?"
        args: list = [run_id]
        if states:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += list(states)
        with self._lock:
            return [self._item(row) for row in self.db.execute(sql + " ORDER BY line, key", args)]

    def counts(self, run_id: str) -> dict[str, int]:
        with self._lock:
            return {row["state"]: row["n"] for row in
                    self.db.execute("SELECT state, COUNT(*) AS n FROM items WHERE run_id = ? GROUP BY state", (run_id,))}

    def totals(self, run_id: str) -> tuple[int, int]:
        with self._lock:
            row = self.db.execute("SELECT COALESCE(SUM(tokens_in), 0) AS i, COALESCE(SUM(tokens_out), 0) AS o "
                                  "FROM items WHERE run_id = ?", (run_id,)).fetchone()
        return row["i"], row["o"]

    # -- the Batch API lane: batches sent, and the questions each holds ---------------------------
    def run_limits(self, run_id: str) -> dict:
        """What a run learned of the provider (token cap, file size) and whether it was cancelled."""
        row = self.db.execute("SELECT api_token_cap, api_max_bytes, cancelled FROM runs WHERE run_id = ?",
                              (run_id,)).fetchone()
        return {"token_cap": row["api_token_cap"], "max_bytes": row["api_max_bytes"], "cancelled": row["cancelled"]}

    def set_run(self, run_id: str, **values) -> None:
        names = {"token_cap": "api_token_cap", "max_bytes": "api_max_bytes", "cancelled": "cancelled",
                 "status": "status"}
        sets = ", ".join(f"{names[k]} = ?" for k in values)
        with self._lock:
            self.db.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", (*values.values(), run_id))

    def new_chunk(self, run_id: str, kind: str, keys: list[str], size: int,
                  tokens: int) -> tuple[str | None, dict[str, str]]:
        """Put questions left to do in a new batch (state 'new', nothing sent yet), in one transaction
        that also makes sure no other run holds any of them: (the batch, {}); or (None, {key: other run})
        if another run has some in its batch or export or is drafting them; or (None, {}) if another
        process took some of this run's first."""
        chunk = f"{run_id}-{uuid.uuid4().hex[:8]}"
        now = time.time()
        lane = BATCH_API if kind == BATCH_API else Lane.EXPORT
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            busy = self._held_elsewhere(run_id, keys)
            if busy:
                self.db.rollback()
                return None, busy
            taken = 0
            for start in range(0, len(keys), 500):  # under SQLite's limit on parameters per statement
                part = keys[start: start + 500]
                taken += self.db.execute(f"UPDATE items SET state = ?, chunk = ?, lane = ?, updated = ?, "
                                         f"attempts = attempts + 1 WHERE run_id = ? AND state IN (?, ?) "
                                         f"AND key IN ({', '.join('?' * len(part))})",
                                         (SUBMITTED, chunk, lane, now, run_id, PENDING, FAILED, *part)).rowcount
            if taken != len(keys):
                self.db.rollback()
                return None, {}
            self.db.execute("INSERT INTO api_batches (chunk, run_id, kind, state, created, updated, requests, bytes, "
                            "tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (chunk, run_id, kind, ChunkState.NEW, now, now, len(keys), size, tokens))
        return chunk, {}

    def _held_elsewhere(self, run_id: str, keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for start in range(0, len(keys), 500):
            part = keys[start: start + 500]
            for row in self.db.execute(f"SELECT key, run_id, state, holder, heartbeat FROM items WHERE run_id != ? "
                                       f"AND state IN (?, ?) AND key IN ({', '.join('?' * len(part))})",
                                       (run_id, SUBMITTED, RUNNING, *part)):
                if row["state"] == SUBMITTED or holder_alive(row["holder"], row["heartbeat"]):
                    out[row["key"]] = row["run_id"]
        return out

    def held_elsewhere(self, run_id: str, keys: list[str]) -> dict[str, str]:
        """key -> the other run that has each of these questions in its batch or export, or is drafting it."""
        with self._lock:
            return self._held_elsewhere(run_id, keys)

    def release_dead(self, run_id: str) -> int:
        """Questions left 'running' by a process that is gone, made pending again; how many."""
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            dead = [r["key"] for r in self.db.execute("SELECT key, holder, heartbeat FROM items WHERE run_id = ? AND "
                                                      "state = ?", (run_id, RUNNING))
                    if not holder_alive(r["holder"], r["heartbeat"])]
            for key in dead:
                self.db.execute("UPDATE items SET state = ?, holder = NULL WHERE run_id = ? AND key = ? AND state = ?",
                                (PENDING, run_id, key, RUNNING))
        return len(dead)

    def keep_option(self, run_id: str, name: str, value) -> None:
        """Change one stored option of a run (the lane a resume switched it to)."""
        run = self.run(run_id)
        with self._lock:
            self.db.execute("UPDATE runs SET options = ? WHERE run_id = ?",
                            (json.dumps({**run.options, name: value}), run_id))

    def update_chunk(self, chunk: str, **values) -> None:
        values["updated"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._lock:
            self.db.execute(f"UPDATE api_batches SET {sets} WHERE chunk = ?", (*values.values(), chunk))

    def chunks(self, run_id: str | None = None, states: tuple[str, ...] | None = None) -> list["Chunk"]:
        sql, args = "SELECT * FROM api_batches WHERE 1", []
        if run_id is not None:
            sql += " AND run_id = ?"
            args.append(run_id)
        if states:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += list(states)
        with self._lock:
            return [Chunk.of(row) for row in self.db.execute(sql + " ORDER BY created", args)]

    def chunk(self, chunk: str) -> "Chunk":
        with self._lock:
            row = self.db.execute("SELECT * FROM api_batches WHERE chunk = ?", (chunk,)).fetchone()
        return Chunk.of(row)

    def chunk_items(self, chunk: str) -> list[BatchItem]:
        with self._lock:
            return [self._item(row) for row in self.db.execute(
                f"SELECT {', '.join(ITEM_COLUMNS)} FROM items WHERE chunk = ? ORDER BY line, key", (chunk,))]

    def record_published(self, rows: list[tuple[str, str | None, str]]) -> None:
        """(page relative to the content tree, commit, provenance JSON) of pages just published."""
        now = time.time()
        with self._lock, self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT INTO published (page, [commit], provenance, created) VALUES (?, ?, ?, ?)",
                                [(page, sha, record, now) for page, sha, record in rows])

    def settle(self, run_id: str, key: str, **values) -> None:
        """The result of a question in a batch (the lane holds the run's lock, not a lease)."""
        values["updated"] = time.time()
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._lock:
            self.db.execute(f"UPDATE items SET {sets} WHERE run_id = ? AND key = ?", (*values.values(), run_id, key))
