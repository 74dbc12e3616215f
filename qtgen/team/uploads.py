"""Question lists a writer uploads in the studio: kept in `drafts/.qtgen/uploads/`, checked as `qtgen batch`
checks a list (the bad lines named, line by line), then drafted in the background by the same batch run the
command line makes, with its progress and cost; a studio started again resumes the runs it had not finished.

    uploads = Uploads(config)
    check = uploads.check("week-12.csv", data, subject=None)   # the good rows and the bad lines
    run_id = uploads.start(check, by=Person("Ana", "ana@example.org"))
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..batch.options import Options, Progress
from ..batch.question_list import BadLine, Row, kind_of, read_questions
from ..config import Config
from ..errors import InputError, QtgenError
from ..format.files import write_atomic
from ..format.plaintext import one_line
from .board import Board
from .person import Person

MAX_UPLOAD = 5_000_000  # bytes: 10,000 questions are about 1 MB
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Check:
    """An uploaded list as `batch` reads it."""

    upload_id: str
    name: str
    path: Path
    subject: str | None
    rows: list[Row]
    bad: list[BadLine]


@dataclass
class Live:
    """A run this studio is drafting now."""

    state: str = "starting"  # starting, running, done, stopped, failed
    message: str = ""
    total: int = 0
    progress: Progress | None = None
    errors: list[str] = field(default_factory=list)


class Uploads:
    """The studio's uploaded lists and the runs drafting them (one thread per run)."""

    def __init__(self, config: Config):
        self.config = config
        self.live: dict[str, Live] = {}
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        return self.config.state("uploads")

    def check(self, name: str, data: bytes, subject: str | None = None) -> Check:
        """Keep the list (by its content: the same file twice is one list) and read it as batch does."""
        if len(data) > MAX_UPLOAD:
            raise InputError(f"{one_line(name, 80)}: {len(data):,} bytes; at most {MAX_UPLOAD:,} a list")
        if not data.strip():
            raise InputError(f"{one_line(name, 80)}: the file is empty")
        base = _UNSAFE.sub("-", Path(str(name)).name).strip("-.")[:60] or "questions.txt"
        if kind_of(Path(base)) == "text" and not base.endswith(".txt"):
            base += ".txt"
        upload_id = hashlib.sha256(data + b"\0" + base.encode()).hexdigest()[:16]
        path = self.folder / f"{upload_id}-{base}"
        if not path.is_file():
            write_atomic(path, data, overwrite=True, within=self.config.drafts)
        subject = one_line(subject or "") or None
        rows, bad = read_questions(path, subject)
        for b in bad:
            b.file = base
        return Check(upload_id, base, path, subject, rows, bad)

    def find(self, upload_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{16}", upload_id or ""):
            raise LookupError(upload_id)
        found = sorted(self.folder.glob(f"{upload_id}-*"))
        if not found:
            raise LookupError(upload_id)
        return found[0]

    def start(self, path: Path, by: Person, subject: str | None = None, *, resume: bool = False) -> str:
        """Record the run in the ledger and draft it in the background; the run's id (its page's address)."""
        from ..batch.run import Batch

        job = Batch(self.config)
        try:
            prepared = job.prepare(path, Options(subject=subject), given={"subject": subject} if subject else {})
        except BaseException:
            job.close()
            raise
        run_id = prepared.run_id
        with Board(self.config) as board:
            if not resume or board.upload(run_id) is None:
                board.uploaded(run_id, str(path), path.name.split("-", 1)[-1], by)
            board.upload_state(run_id, "running")
        shown = path.name.split("-", 1)[-1]  # the list's own name: the folder it is kept in is nobody's business
        live = Live("running", total=job.summary(run_id).left,
                    errors=[f"{shown}:{b.line}: {b.message}" for b in prepared.bad])
        with self._lock:
            self.live[run_id] = live
        threading.Thread(target=self._draft, args=(job, prepared, live), daemon=True,
                         name=f"qtgen-upload-{run_id}").start()
        return run_id

    def _draft(self, job, prepared, live: Live) -> None:
        run_id = prepared.run_id
        try:
            def tick(runner) -> None:
                live.progress = runner.progress

            live.progress = job.run(prepared, tick=tick) or live.progress
            status = job.close_run(run_id)
            summary = job.summary(run_id, status)
            live.state = "done" if status == "finished" else "stopped"
            live.message = (f"{summary.counts.get('done', 0)} drafted, {len(summary.failed)} failed, "
                            f"{summary.counts.get('skipped', 0)} skipped; ${summary.cost:.4f}")
        except QtgenError as exc:
            live.state, live.message = "failed", one_line(str(exc), 300)
        except Exception as exc:  # noqa: BLE001 - shown on the run's page, never a traceback
            live.state, live.message = "failed", f"internal error: {type(exc).__name__}: {one_line(str(exc), 200)}"
        finally:
            job.close()
            try:
                with Board(self.config) as board:
                    board.upload_state(run_id, live.state, live.message)
            except QtgenError:
                pass

    def resume(self) -> list[str]:
        """Start again the uploaded runs a studio left running (stopped, killed): their ids."""
        with Board(self.config) as board:
            waiting = [u for u in board.uploads() if u.state in ("running", "stopped")]
        started = []
        for upload in waiting:
            if upload.run_id in self.live or not Path(upload.file).is_file():
                continue
            try:
                started.append(self.start(Path(upload.file), Person(upload.by), resume=True))
            except QtgenError as exc:
                with Board(self.config) as board:
                    board.upload_state(upload.run_id, "failed", one_line(str(exc), 300))
        return started

    def status(self, run_id: str) -> dict:
        """What the run's page shows: its counts and cost from the ledger, and what this studio is doing now."""
        from ..batch.entries import DONE, FAILED
        from ..batch.ledger import Ledger, ledger_path
        from ..batch.run import left_of
        from ..llm.pricing import cost
        from .person import parsed

        with Board(self.config) as board:
            upload = board.upload(run_id)
        if upload is None:
            raise LookupError(run_id)
        with Ledger(ledger_path(self.config)) as ledger:  # the ledger alone: no site index for a progress line
            counts = ledger.counts(run_id)
            tokens_in, tokens_out = ledger.totals(run_id)
            spent = sum(cost(self.config, i.model or "", i.usage, i.lane) for i in ledger.items(run_id, (DONE, FAILED)))
            failed = ledger.items(run_id, (FAILED,))
        live = self.live.get(run_id)
        state = live.state if live is not None else upload.state
        return {"run_id": run_id, "name": upload.name, "by": parsed(upload.by).name, "at": upload.at, "state": state,
                "message": (live.message if live is not None else upload.message), "counts": counts,
                "left": left_of(counts), "cost": spent, "tokens": tokens_in + tokens_out,
                "errors": live.errors if live is not None else [],
                "failed": [f"{i.question}: {i.error}" for i in failed[:50]]}
