"""The Batch API lane's vocabulary: a chunk's states (`entries.ChunkState`, beside the `Chunk` row they describe), one
request line of a chunk, and where a run's batch files live."""

from __future__ import annotations

import contextlib
import fcntl
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import QtgenError
from ..locks import open_lock_file
from ..llm.pricing import EXPORT  # noqa: F401 - the lane of a chunk written for another engine
from .entries import BatchItem, Chunk, ChunkState  # noqa: F401 - Chunk: a row of api_batches

NEW, UPLOADED, _, COLLECTED, DISSOLVED, EXPORTED = ChunkState  # (SUBMITTED is named in full: ItemState has one too)
OPEN_CHUNKS = (NEW, UPLOADED, ChunkState.SUBMITTED)
TOKEN_LIMIT = "token_limit_exceeded"
LOST = "lost"  # our status of a batch the server answers 404 for


@dataclass
class Line:
    item: BatchItem
    data: bytes  # one JSONL line, newline included
    tokens: int  # the prompt's estimated tokens (what a provider's batch queue limit counts)


def folder(config) -> Path:
    return config.state("batches")


@contextlib.contextmanager
def run_lock(config, run_id: str) -> Iterator[None]:
    """This process alone works on the run's batches (a second one is told, not blocked)."""
    with open_lock_file(folder(config) / f"{run_id}.lock") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise QtgenError(f"run {run_id}: another qtgen is working on its batches now; "
                             "try again when it is done") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
