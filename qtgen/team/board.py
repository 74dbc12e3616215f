"""Who is working on which draft, and what became of a draft that left the queue (`drafts/.qtgen/board.sqlite`,
this module owns it).

A claim is a person's hold on a draft while they edit or regenerate it, for `HOLD` seconds from their last step;
another person's claim is refused while it holds, naming whom. When a draft leaves the queue (approved, rejected)
its end is kept, so the next person to act on it is told who did what, and when, instead of "not found". The
question lists uploaded in the studio are kept here too, with who uploaded each and the run it started.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..config import Config
from ..database import Database, Migrations
from ..errors import QtgenError
from .person import Person, parsed

FILE = "board.sqlite"
migrations = Migrations()


@migrations
def m001_claims_ends_uploads(db) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS claims (draft TEXT PRIMARY KEY, holder TEXT NOT NULL, what TEXT NOT NULL, "
               "since REAL NOT NULL, until REAL NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS ends (draft TEXT PRIMARY KEY, what TEXT NOT NULL, by TEXT NOT NULL, "
               "at REAL NOT NULL, detail TEXT NOT NULL DEFAULT '')")
    db.execute("CREATE TABLE IF NOT EXISTS uploads (run_id TEXT PRIMARY KEY, file TEXT NOT NULL, name TEXT NOT NULL, "
               "by TEXT NOT NULL, at REAL NOT NULL, state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '')")


@dataclass(frozen=True)
class Claim:
    draft: str
    holder: str  # "Name <email>"
    what: str  # "editing", "regenerating"
    since: float
    until: float

    @property
    def person(self) -> Person:
        return parsed(self.holder)

    def says(self) -> str:
        return f"{self.person.name} is {self.what} it (since {time.strftime('%H:%M', time.localtime(self.since))})"


@dataclass(frozen=True)
class End:
    draft: str
    what: str  # "approved", "rejected"
    by: str
    at: float
    detail: str

    def says(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.at))
        return f"{self.what} by {parsed(self.by).name} at {when}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Upload:
    run_id: str
    file: str
    name: str
    by: str
    at: float
    state: str  # "running", "done", "stopped", "failed"
    message: str


class Claimed(QtgenError):
    def __init__(self, claim: Claim):
        super().__init__(claim.says())
        self.claim = claim


class Board(Database):
    migrations = migrations
    HOLD = 20 * 60.0  # seconds a claim holds after its holder's last step

    def __init__(self, config: Config, clock: Callable[[], float] = time.time):
        super().__init__(config.state(FILE))
        self.clock = clock

    # -- claims --------------------------------------------------------------------------------------------------
    def claim(self, draft: str, who: Person, what: str = "editing") -> Claim:
        """Hold the draft for `who` (renewed if theirs already); Claimed if another person holds it."""
        now = self.clock()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT * FROM claims WHERE draft = ? AND until > ?", (draft, now)).fetchone()
            if row is not None and row["holder"] != who.line():
                raise Claimed(Claim(**{k: row[k] for k in ("draft", "holder", "what", "since", "until")}))
            since = row["since"] if row is not None and row["what"] == what else now
            self.db.execute("INSERT OR REPLACE INTO claims (draft, holder, what, since, until) VALUES (?, ?, ?, ?, ?)",
                            (draft, who.line(), what, since, now + self.HOLD))
        return Claim(draft, who.line(), what, since, now + self.HOLD)

    def holder(self, draft: str) -> Claim | None:
        row = self.db.execute("SELECT * FROM claims WHERE draft = ? AND until > ?", (draft, self.clock())).fetchone()
        return None if row is None else Claim(**{k: row[k] for k in ("draft", "holder", "what", "since", "until")})

    def others(self, draft: str, who: Person) -> Claim | None:
        """Another person's claim on the draft, if one holds."""
        found = self.holder(draft)
        return found if found is not None and found.holder != who.line() else None

    def release(self, draft: str, who: Person) -> None:
        self.db.execute("DELETE FROM claims WHERE draft = ? AND holder = ?", (draft, who.line()))

    def claims(self) -> dict[str, Claim]:
        return {r["draft"]: Claim(**{k: r[k] for k in ("draft", "holder", "what", "since", "until")})
                for r in self.db.execute("SELECT * FROM claims WHERE until > ?", (self.clock(),))}

    # -- what became of a draft ----------------------------------------------------------------------------------
    def ended(self, draft: str, what: str, by: Person, detail: str = "") -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT OR REPLACE INTO ends (draft, what, by, at, detail) VALUES (?, ?, ?, ?, ?)",
                            (draft, what, by.line(), self.clock(), detail))
            self.db.execute("DELETE FROM claims WHERE draft = ?", (draft,))

    def ended_names(self) -> list[str]:
        return [r["draft"] for r in self.db.execute("SELECT draft FROM ends ORDER BY at DESC LIMIT 10000")]

    def end_of(self, draft: str) -> End | None:
        row = self.db.execute("SELECT * FROM ends WHERE draft = ?", (draft,)).fetchone()
        return None if row is None else End(**{k: row[k] for k in ("draft", "what", "by", "at", "detail")})

    # -- uploaded question lists ---------------------------------------------------------------------------------
    def uploaded(self, run_id: str, file: str, name: str, by: Person) -> None:
        self.db.execute("INSERT OR REPLACE INTO uploads (run_id, file, name, by, at, state) VALUES (?, ?, ?, ?, ?, ?)",
                        (run_id, file, name, by.line(), self.clock(), "running"))

    def upload_state(self, run_id: str, state: str, message: str = "") -> None:
        self.db.execute("UPDATE uploads SET state = ?, message = ? WHERE run_id = ?", (state, message, run_id))

    _UPLOAD = ("run_id", "file", "name", "by", "at", "state", "message")

    def uploads(self) -> list[Upload]:
        return [Upload(**{k: r[k] for k in self._UPLOAD}) for r in self.db.execute("SELECT * FROM uploads ORDER BY at DESC")]

    def upload(self, run_id: str) -> Upload | None:
        row = self.db.execute("SELECT * FROM uploads WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else Upload(**{k: row[k] for k in self._UPLOAD})
