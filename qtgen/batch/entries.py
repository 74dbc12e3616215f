"""What the batch ledger holds, read by column name: a run (`Run`), its questions (`BatchItem`) and their states
(`ItemState`, `Kind`), and its Batch API batches or exports (`Chunk`, `ChunkState`). `Ledger` owns the file."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum

from ..llm.pricing import ONLINE


class ItemState(StrEnum):
    """A question's state in a run (stored as its value)."""

    PENDING = "pending"
    RUNNING = "running"  # taken by a worker, under its lease
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    INVALID = "invalid"  # a bad line of the list
    SUBMITTED = "submitted"  # in a Batch API batch (or an exported file): its result is awaited, not requested again


class Kind(StrEnum):
    """What a question of a run makes."""

    DRAFT = "draft"  # a new draft
    REVISE = "revise"  # a revision of a published page


PENDING, RUNNING, DONE, FAILED, SKIPPED, INVALID, SUBMITTED = ItemState  # the members, by their names
DRAFT, REVISE = Kind
LEFT = (PENDING, RUNNING, FAILED)  # what a worker may take
OPEN = LEFT + (SUBMITTED,)  # what keeps a run from being finished


@dataclass
class BatchItem:
    """One question of a run, as the ledger holds it."""

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
    holder: str | None = None
    heartbeat: float | None = None
    kind: str = DRAFT
    source: str | None = None
    lane: str = ONLINE
    chunk: str | None = None
    api_failures: int = 0
    tokens_reasoning: int = 0
    tokens_cached: int = 0

    @property
    def retry_pending(self) -> bool:
        """Whether a failed Batch API line waits for its one more try (each failure counts; an odd count has one
        left: in a new batch, or online with --retry-online)."""
        return self.api_failures % 2 == 1

    @property
    def usage(self):
        from ..llm.reply.usage import Usage

        return Usage(self.tokens_in, self.tokens_out, self.tokens_reasoning, self.tokens_cached)

    def report(self) -> dict:
        return {"line": self.line, "question": self.question, "subject": self.subject, "status": self.state,
                "path": self.path, "error": self.error, "tokens": self.tokens_in + self.tokens_out,
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "tokens_reasoning": self.tokens_reasoning,
                "tokens_cached": self.tokens_cached, "latency": self.latency,
                "attempts": self.attempts, "id": self.page_id, "model": self.model, "kind": self.kind,
                "lane": self.lane, **({"revises": self.source} if self.source else {})}


ITEM_COLUMNS = tuple(f.name for f in fields(BatchItem))


class ChunkState(StrEnum):
    """A Batch API batch's (or an export's) own state in the ledger; the provider's status is kept beside it."""

    NEW = "new"  # its questions taken, nothing sent yet
    UPLOADED = "uploaded"  # its file is at the provider
    SUBMITTED = "submitted"  # a batch was made of it
    COLLECTED = "collected"  # its results are in
    DISSOLVED = "dissolved"  # given up; its questions went back to the run
    EXPORTED = "exported"  # written for another engine; its results are awaited


@dataclass(frozen=True)
class Chunk:
    """One row of `api_batches`: a Batch API batch or an export, and what became of it."""

    chunk: str
    run_id: str
    kind: str  # Lane.BATCH_API or Lane.EXPORT
    state: ChunkState
    created: float
    updated: float | None
    requests: int
    bytes: int
    tokens: int
    file_id: str | None
    batch_id: str | None
    status: str | None  # the provider's
    completed: int
    failed: int
    output_file_id: str | None
    error_file_id: str | None
    error: str | None
    mode: str | None
    path: str | None

    @classmethod
    def of(cls, row) -> "Chunk":
        """A chunk from its row, read by column name."""
        values = {f.name: row[f.name] for f in fields(cls)}
        return cls(**{**values, "state": ChunkState(values["state"])})

    def shown(self) -> dict:
        """What `qtgen runs` shows of it."""
        return {k: getattr(self, k) for k in ("chunk", "kind", "state", "status", "batch_id", "file_id", "requests",
                                              "completed", "failed", "error")}


@dataclass
class Run:
    run_id: str
    input: str
    input_sha: str
    started: float
    finished: float | None
    status: str
    options: dict
