"""qtgen's record of judging (`drafts/.qtgen/judgments.sqlite`): every grade, by the draft's bytes, the judge model and
the rubric; every reviewer's decision beside the grade it answered; audited lots and their members; Batch API
batches of judging requests. Numbered migrations, rows read by column name. `JudgmentStore` owns the file: every
statement on it is one of its methods.
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path

from ..config import Config
from ..database import Database, Migrations

migrations = Migrations()


class LotState(StrEnum):
    """A lot's state (stored as its value)."""

    OPEN = "open"  # drawn; its sample is being reviewed
    PUBLISHED = "published"  # its unread rest published, in the commit it records
    DROPPED = "dropped"  # given up; its drafts went back to review one by one


class RequestState(StrEnum):
    """A judge request's (and its batch's) state."""

    SENT = "sent"
    COLLECTED = "collected"
    DONE = "done"
    FAILED = "failed"


@migrations
def m001_judgments(db) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, draft TEXT NOT NULL, data_sha TEXT NOT NULL, "
               "model TEXT NOT NULL, rubric TEXT NOT NULL, result TEXT NOT NULL, tokens_in INTEGER NOT NULL, "
               "tokens_out INTEGER NOT NULL, cost REAL, created REAL NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS judgments_draft ON judgments (draft, created)")
    db.execute("CREATE INDEX IF NOT EXISTS judgments_bytes ON judgments (data_sha, created)")


@migrations
def m002_decisions(db) -> None:
    """Every human decision on a draft, with the grade the judge had given it (for `judge calibrate`)."""
    db.execute("CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY, draft TEXT NOT NULL, data_sha TEXT, "
               "subject TEXT, question TEXT, decision TEXT NOT NULL, verdict TEXT, score INTEGER, model TEXT, "
               "created REAL NOT NULL)")


@migrations
def m003_lots(db) -> None:
    """Audited lots: their plan and their members, each as the bytes the lot was drawn on."""
    db.execute("CREATE TABLE IF NOT EXISTS lots (name TEXT PRIMARY KEY, created REAL NOT NULL, confidence REAL NOT NULL, "
               "max_defect REAL NOT NULL, seed INTEGER NOT NULL, source TEXT NOT NULL, state TEXT NOT NULL, "
               "[commit] TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS lot_members (lot TEXT NOT NULL, draft TEXT NOT NULL, data_sha TEXT NOT NULL, "
               "sampled INTEGER NOT NULL, PRIMARY KEY (lot, draft))")



@migrations
def m004_judge_batches(db) -> None:
    """Judging through the Batch API: each batch sent, and each request in it until its grade is kept."""
    db.execute("CREATE TABLE IF NOT EXISTS judge_batches (batch_id TEXT PRIMARY KEY, file_name TEXT NOT NULL, "
               "model TEXT NOT NULL, requests INTEGER NOT NULL, state TEXT NOT NULL, status TEXT, error TEXT, "
               "created REAL NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS judge_requests (key TEXT PRIMARY KEY, batch_id TEXT NOT NULL, draft TEXT NOT "
               "NULL, data_sha TEXT NOT NULL, subject TEXT NOT NULL, answer TEXT NOT NULL, state TEXT NOT NULL, error TEXT)")


@migrations
def m005_grades_decided(db) -> None:
    """Which grade each decision answered (one counted per grade), and the rubric each batch request was sent
    with; a lot's plan records whether its seed was chosen, and a lot can be dropped."""
    db.execute("ALTER TABLE decisions ADD COLUMN grade TEXT")
    db.execute("ALTER TABLE judge_requests ADD COLUMN rubric TEXT")
    db.execute("ALTER TABLE lots ADD COLUMN seed_given INTEGER NOT NULL DEFAULT 0")


@migrations
def m006_who_decided(db) -> None:
    """Who made each decision, who drew each lot and who published or dropped it ("Name <email>")."""
    db.execute("ALTER TABLE decisions ADD COLUMN decided_by TEXT")
    db.execute("ALTER TABLE lots ADD COLUMN drawn_by TEXT")
    db.execute("ALTER TABLE lots ADD COLUMN ended_by TEXT")


class JudgmentStore(Database):
    migrations = migrations
    FILE = "judgments.sqlite"  # the one name of this store's file, in drafts/.qtgen

    def __init__(self, config: Config, path: Path | None = None):
        super().__init__(path or self.path_of(config))

    @classmethod
    def path_of(cls, config: Config) -> Path:
        return config.state(cls.FILE)

    @classmethod
    def exists(cls, config: Config) -> bool:
        """Whether anything was ever judged or decided here (reading commands open no store that is not there)."""
        return cls.path_of(config).is_file()

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        return self.json_by_key("judgments", "result", keys)

    def put(self, key: str, draft: str, data_sha: str, model: str, rubric: str, result: dict, tokens_in: int,
            tokens_out: int, cost: float | None) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO judgments (key, draft, data_sha, model, rubric, result, tokens_in, "
                            "tokens_out, cost, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (key, draft, data_sha, model, rubric, json.dumps(result, ensure_ascii=False), tokens_in,
                             tokens_out, cost, time.time()))

    def by_bytes(self, shas: list[str]) -> dict[str, dict]:
        """The last grade given to each of these exact contents (sha256 of the file's bytes -> grade)."""
        out: dict[str, dict] = {}
        for sha in shas:
            found = self.graded_bytes(sha)
            if found is not None:
                out[sha] = found[1]
        return out

    def graded_bytes(self, sha: str) -> tuple[str, dict] | None:
        """The last grade of these exact contents, by any judge model: (its key, the grade)."""
        row = self.db.execute("SELECT key, result FROM judgments WHERE data_sha = ? ORDER BY created DESC LIMIT 1",
                              (sha,)).fetchone()
        return None if row is None else (row["key"], json.loads(row["result"]))

    def latest(self, draft: str) -> tuple[str, dict, str] | None:
        """The last grade given to a draft (by its path), whatever its form then: (sha256 of the bytes judged,
        the grade, its key)."""
        row = self.db.execute("SELECT data_sha, result, key FROM judgments WHERE draft = ? ORDER BY created DESC "
                              "LIMIT 1", (draft,)).fetchone()
        return None if row is None else (row["data_sha"], json.loads(row["result"]), row["key"])

    # -- reviewers' decisions ----------------------------------------------------------------------------------
    def decided_since(self, draft: str, sha: str | None, since: float, decisions: tuple[str, ...]) -> bool:
        """Whether one of these decisions on these exact bytes of the draft was kept since then."""
        marks = ", ".join("?" * len(decisions))
        return self.db.execute(f"SELECT 1 FROM decisions WHERE draft = ? AND data_sha IS ? AND created >= ? AND "
                               f"decision IN ({marks})", (draft, sha, since, *decisions)).fetchone() is not None

    def add_decision(self, draft: str, sha: str | None, subject: str | None, question: str | None, decision: str,
                     verdict: str | None, score: int | None, model: str | None, grade: str | None,
                     by: str | None = None) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO decisions (draft, data_sha, subject, question, decision, verdict, score, "
                            "model, grade, created, decided_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (draft, sha, subject, question, decision, verdict, score, model, grade, time.time(), by))

    def decisions(self) -> list[dict]:
        """Every decision kept, oldest first: decision, verdict, score, grade."""
        return [dict(r) for r in self.db.execute("SELECT decision, verdict, score, grade FROM decisions ORDER BY id")]

    def decisions_since(self, draft: str, since: float) -> list[dict]:
        """The decisions on a draft since then, oldest first: decision, data_sha, decided_by, created."""
        return [dict(r) for r in self.db.execute("SELECT decision, data_sha, decided_by, created FROM decisions WHERE "
                                                 "draft = ? AND "
                                                 "created >= ? ORDER BY id", (draft, since))]

    # -- audited lots ----------------------------------------------------------------------------------------------
    def lot(self, name: str) -> dict | None:
        row = self.db.execute("SELECT * FROM lots WHERE name = ?", (name,)).fetchone()
        return None if row is None else {k: row[k] for k in row.keys()}

    def lot_members(self, name: str) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT draft, data_sha, sampled FROM lot_members WHERE lot = ? "
                                                 "ORDER BY draft", (name,))]

    def _open_members(self) -> dict[str, str]:
        return {r["draft"]: r["lot"] for r in self.db.execute(
            "SELECT m.draft, m.lot FROM lot_members m JOIN lots l ON l.name = m.lot WHERE l.state = ?",
            (LotState.OPEN,))}

    def open_lot_members(self) -> dict[str, str]:
        """Every draft of a lot still open (the draft -> the lot's name)."""
        return self._open_members()

    def add_lot(self, name: str, confidence: float, max_defect: float, seed: int, seed_given: bool, source: str,
                members: list[tuple[str, str, bool]], drawn_by: str | None = None) -> tuple[bool, dict[str, str]]:
        """Draw a lot of (draft, sha256 of its bytes, sampled) in one transaction: (False, {}) when drawn; (True, {})
        when a lot of this name exists; (False, {draft: lot}) when other open lots hold some of these drafts (read
        inside the transaction: another draw may have taken them meanwhile). Nothing is written unless drawn."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if self.db.execute("SELECT 1 FROM lots WHERE name = ?", (name,)).fetchone():
                return True, {}
            taken = self._open_members()
            clash = {d: taken[d] for d, _, _ in members if d in taken}
            if clash:
                return False, clash
            self.db.execute("INSERT INTO lots (name, created, confidence, max_defect, seed, source, state, seed_given, "
                            "drawn_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (name, time.time(), confidence, max_defect, seed, source, LotState.OPEN, int(seed_given),
                             drawn_by))
            self.db.executemany("INSERT INTO lot_members (lot, draft, data_sha, sampled) VALUES (?, ?, ?, ?)",
                                [(name, d, sha, int(sampled)) for d, sha, sampled in members])
        return False, {}

    def earlier_lots(self, name: str) -> list[str]:
        """Lots given up before over some of this lot's drafts."""
        return [r["lot"] for r in self.db.execute(
            "SELECT DISTINCT m.lot FROM lot_members m JOIN lots l ON l.name = m.lot WHERE l.state = ? AND m.lot != ? "
            "AND m.draft IN (SELECT draft FROM lot_members WHERE lot = ?) ORDER BY m.lot", (LotState.DROPPED, name, name))]

    def set_lot_state(self, name: str, state: str, commit: str | None = None, by: str | None = None) -> None:
        """An open lot given up, or published (with its commit), by whom."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE lots SET state = ?, [commit] = COALESCE(?, [commit]), ended_by = ? WHERE name = ? "
                            "AND state = ?", (state, commit, by, name, LotState.OPEN))

    # -- judging through the Batch API -----------------------------------------------------------------------------
    def waiting_requests(self) -> set[str]:
        """The keys of requests sent in a batch whose grade is not in yet."""
        return {r["key"] for r in self.db.execute("SELECT key FROM judge_requests WHERE state = ?", (RequestState.SENT,))}

    def add_judge_batch(self, batch_id: str, file_name: str, model: str, status: str | None, rows: list[tuple]) -> None:
        """A batch sent, with its requests: (key, draft, data_sha, subject, answer, rubric) each."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR IGNORE INTO judge_batches (batch_id, file_name, model, requests, state, status, "
                            "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (batch_id, file_name, model, len(rows), RequestState.SENT, status, time.time()))
            self.db.executemany("INSERT OR REPLACE INTO judge_requests (key, batch_id, draft, data_sha, subject, "
                                "answer, rubric, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                [(k, batch_id, *rest, RequestState.SENT) for k, *rest in rows])

    def open_judge_batches(self) -> dict[str, str]:
        """Open batches (id -> the judge model they were sent to), oldest first."""
        return {r["batch_id"]: r["model"] for r in self.db.execute(
            "SELECT batch_id, model FROM judge_batches WHERE state = ? ORDER BY created", (RequestState.SENT,))}

    def sent_requests(self, batch_id: str) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM judge_requests WHERE batch_id = ? AND state = ?",
                                                 (batch_id, RequestState.SENT))]

    def settle_request(self, key: str, state: str, error: str | None) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE judge_requests SET state = ?, error = ? WHERE key = ?", (state, error, key))

    _BATCH_COLUMNS = frozenset({"state", "status", "error"})

    def update_judge_batch(self, batch_id: str, **values) -> None:
        assert set(values) <= self._BATCH_COLUMNS, values
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(f"UPDATE judge_batches SET {sets} WHERE batch_id = ?", (*values.values(), batch_id))
