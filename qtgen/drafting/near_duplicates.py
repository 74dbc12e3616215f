"""The model's word on uncertain near-duplicates: does a question ask for the same answer as another?

The site-weighted similarity decides alone by default: at `similar_threshold` (80) a question is a near-duplicate.
With `similar_check = true`, pairs scoring inside `similar_band` (70..90 by default) are put to the model in one
short structured request each (`prompts/same_question.j2`): what it calls the same is a near-duplicate whatever
its score, what it calls different is not. Scores below the band are never duplicates, above it always. Each
answer is kept per pair and model (`drafts/.qtgen/checks.sqlite`), so a pair is asked once; the tokens are
counted and priced like drafting. The offline model is too small to judge: with it the check is off.

    check = DuplicateCheck.open(config)
    if check.same(question, other_question, score): ...
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..database import Database, Migrations
from ..errors import QtgenError

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["same", "reason"],
          "properties": {"same": {"type": "boolean"}, "reason": {"type": "string"}}}

migrations = Migrations()


@migrations
def m001_pair_checks(db) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS pair_checks (key TEXT PRIMARY KEY, model TEXT NOT NULL, first TEXT NOT NULL, "
               "second TEXT NOT NULL, same INTEGER NOT NULL, reason TEXT NOT NULL, tokens_in INTEGER NOT NULL, "
               "tokens_out INTEGER NOT NULL, created REAL NOT NULL)")


class CheckStore(Database):
    migrations = migrations

    def __init__(self, config: Config, path: Path | None = None):
        super().__init__(path or config.state("checks.sqlite"))


@dataclass
class Verdict:
    same: bool
    reason: str
    cached: bool


@dataclass
class DuplicateCheck:
    """Asks the model about pairs in the uncertain band; off (deterministic scoring only) unless configured."""

    config: Config
    enabled: bool
    note: str = ""  # why it is off, when it was asked for
    asked: int = 0  # requests sent
    cached: int = 0  # answers found kept
    tokens_in: int = 0
    tokens_out: int = 0
    failed: list[str] = field(default_factory=list)
    _client: object = None
    _store: CheckStore | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, config: Config) -> "DuplicateCheck":
        if not config.similar_check:
            return cls(config, False)
        from ..llm.backend import uses_local

        if uses_local(config):
            return cls(config, False, "similar_check is off with the offline model: it is too small to judge "
                                      "whether two questions ask the same")
        return cls(config, True)

    @property
    def band(self) -> tuple[float, float]:
        low, high = self.config.similar_band
        return float(low), float(high)

    @property
    def floor(self) -> float:
        """The lowest score that can make a near-duplicate (the band's foot when the model is asked)."""
        return self.band[0] if self.enabled else self.config.similar_threshold

    def same(self, first: str, second: str, score: float) -> bool:
        """Whether `first` asks what `second` asks, given their similarity score."""
        if not self.enabled:
            return score + 1e-9 >= self.config.similar_threshold
        low, high = self.band
        if score > high + 1e-9:  # the band is [low, high]: with high = 100 every candidate is asked
            return True
        if score + 1e-9 < low:
            return False
        try:
            return self.verdict(first, second).same
        except QtgenError as exc:  # the model could not say: the score decides, and the reviewer is told
            self.failed.append(str(exc))
            return score + 1e-9 >= self.config.similar_threshold

    def verdict(self, first: str, second: str) -> Verdict:
        a, b = sorted((first.strip(), second.strip()))
        key = hashlib.sha256(f"{self.config.model}\0{a}\0{b}".encode()).hexdigest()
        with self._lock:
            store = self._open_store()
            row = store.db.execute("SELECT same, reason FROM pair_checks WHERE key = ?", (key,)).fetchone()
            if row is not None:
                self.cached += 1
                return Verdict(bool(row["same"]), row["reason"], True)
        data, usage = self._ask(a, b)
        same, reason = data.get("same"), str(data.get("reason", ""))[:300]
        if not isinstance(same, bool):
            raise QtgenError(f"the model's check of two questions gave no yes or no ({str(data)[:80]})")
        with self._lock:
            self.asked += 1
            self.tokens_in += usage.prompt_tokens
            self.tokens_out += usage.completion_tokens
            store = self._open_store()
            with store.db:
                store.db.execute("BEGIN IMMEDIATE")
                store.db.execute("INSERT OR REPLACE INTO pair_checks (key, model, first, second, same, reason, tokens_in, "
                                 "tokens_out, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 (key, self.config.model, a, b, int(same), reason, usage.prompt_tokens,
                                  usage.completion_tokens, time.time()))
        return Verdict(same, reason, False)

    def _ask(self, first: str, second: str):
        from ..llm.backend import remote_settings
        from ..llm.client import ChatClient
        from ..llm.prompts import Prompts

        if self._client is None:
            self._client = ChatClient(remote_settings(self.config))
        text, _ = Prompts(self.config.prompts).render("same_question.j2",
                                                      {"subject_slug": "", "first": first, "second": second})
        return self._client.ask_json([{"role": "user", "content": text}], "same_question", SCHEMA)  # type: ignore[attr-defined]

    def _open_store(self) -> CheckStore:
        if self._store is None:  # without a drafts folder (a read-only command), kept for this command only
            self._store = CheckStore(self.config, None if self.config.drafts.is_dir() else Path(":memory:"))
        return self._store

    def cost(self) -> float | None:
        """What the requests sent cost, at the configured prices (None: no price known for the model)."""
        from ..llm.reply.usage import Usage
        from ..llm.pricing import of_config as pricing

        return pricing(self.config).cost(self.config.model, Usage(self.tokens_in, self.tokens_out))

    def summary(self) -> str:
        """One line for the reviewer, or "" when nothing was asked."""
        if not (self.asked or self.cached or self.failed):
            return self.note
        spent = self.cost()
        money = f", ${spent:.4f}" if spent is not None else ""
        failed = f"; {len(self.failed)} could not be asked (the score decided): {self.failed[0]}" if self.failed else ""
        return (f"similar_check: {self.asked} pair(s) put to the model ({self.tokens_in} tokens in, {self.tokens_out} "
                f"out{money}), {self.cached} answered already{failed}")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
