"""What a batch run is given and reports: its options (kept with the run, so a resume uses them), the prepared
run, its progress while running and its summary."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

from ..llm.pricing import ONLINE
from .entries import BatchItem, Run
from .question_list import BadLine

HELD = "held"  # another process holds the question


@dataclass
class Options:
    subject: str | None = None
    concurrency: int = 16
    rpm: float | None = None
    tpm: float | None = None
    limit: int | None = None
    max_cost: float | None = None
    strict: bool = False
    allow_similar: bool = False
    related: bool = True
    feedback: str | None = None  # revisions: the reviewer's words for the model
    rules: tuple = ()  # revisions: the lint rules the pages were chosen for
    via: str = ONLINE  # "online" or "batch-api"
    retry_online: bool = False  # batch-api: a line that failed is tried again online, not in a new batch
    new_subject: bool = False  # subjects the site does not have yet are taken as written

    # what a run remembers for --resume; --limit and --max-cost are budgets of one session
    KEPT = ("subject", "concurrency", "rpm", "tpm", "strict", "allow_similar", "related", "feedback", "rules", "via",
            "retry_online", "new_subject")

    def kept(self) -> dict:
        return {k: getattr(self, k) for k in self.KEPT}

    @classmethod
    def merged(cls, stored: dict, given: dict) -> tuple["Options", list[str]]:
        """A run's stored options, overridden by the flags given now; and a line per override."""
        values = {k: v for k, v in stored.items() if k in cls.KEPT}
        notes = []
        for name, value in given.items():
            if name in values and values[name] != value:
                notes.append(f"--{name.replace('_', '-')} {value} overrides the run's {values[name]}")
            values[name] = value
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names}), notes


@dataclass
class Prepared:
    run: Run
    resumed: bool
    options: Options
    bad: list[BadLine]
    added: int
    notes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.run.run_id


@dataclass
class Progress:
    """What the caller shows while a run goes on."""

    done: int = 0
    failed: int = 0
    held: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    throttled: int = 0
    stopped: str | None = None
    interrupted: bool = False
    quota: bool = False  # stopped because the account's quota is exhausted
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Summary:
    run_id: str
    status: str
    counts: dict
    left: int
    tokens_in: int
    tokens_out: int
    cost: float
    failed: list[BatchItem]
    similar: list[BatchItem] = field(default_factory=list)  # skipped as asking what another question asks
    invalid: list[BatchItem] = field(default_factory=list)  # refused before any request (an id taken, no name)
