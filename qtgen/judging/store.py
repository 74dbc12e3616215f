"""qtgen's record of judging (`drafts/.qtgen/judgments.sqlite`): every grade, by the draft's bytes, the judge model and
the rubric; every reviewer's decision beside the grade it answered; audited lots and their members; Batch API
batches of judging requests. Numbered migrations, rows read by column name.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..config import Config
from ..database import Database, Migrations

migrations = Migrations()


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


class JudgmentStore(Database):
    migrations = migrations

    def __init__(self, config: Config, path: Path | None = None):
        super().__init__(path or config.state("judgments.sqlite"))

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
